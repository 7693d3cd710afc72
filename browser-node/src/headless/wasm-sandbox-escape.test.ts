import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { JsonValue } from '../../../protocol/job.ts';
import { limits } from '../../../protocol/limits.ts';
import type { ExecRequest, ExecResult } from '../core/executor.ts';
import { ProcessExecutor } from './process-executor.ts';
import { buildWasmFixtures, type WasmFixtures } from './wasm-fixtures/fixtures.ts';

/**
 * The WebAssembly counterpart of `sandbox-escape.test.ts`: each test is something a hostile or
 * broken C program tries (`wasm-fixtures/abuse.c`, built with clang-14 and wasi-libc). Each must fail
 * alone, with an error that says what happened, and the worker must go on serving: every test ends
 * by running a healthy task on the same pool. One worker thread, so consecutive tasks share it.
 */
const executor = new ProcessExecutor({ processes: 1, warmMemoryMb: 64 });
afterAll(() => executor.close());

let fixtures: WasmFixtures;
beforeAll(() => {
  fixtures = buildWasmFixtures();
}, 120_000);

function attack(name: string, overrides: Partial<ExecRequest> = {}, extra: Record<string, JsonValue> = {}) {
  return run(fixtures.abuse, 'abuse', { attack: name, ...extra }, overrides);
}

function run(code: Uint8Array, codeCid: string, input: JsonValue, overrides: Partial<ExecRequest> = {}) {
  return executor.run({
    runtime: 'wasm',
    code,
    codeCid,
    input,
    timeoutMs: 5_000,
    memoryMb: 64,
    seed: 'escape',
    clock: 1_700_000_000_000,
    ...overrides,
  });
}

function expectError(result: ExecResult, kind: string) {
  if (result.ok) throw new Error(`expected ${kind}, got output ${JSON.stringify(result.output)}`);
  expect(result.error.kind, JSON.stringify(result.error)).toBe(kind);
  return result.error;
}

/** The worker still runs tasks, and correctly. */
async function expectHealthy() {
  const result = await attack('args');
  expect(result.ok ? result.output : result.error).toEqual({ argc: 1, argv0: 'task' });
}

describe('WebAssembly sandbox escapes', () => {
  describe('network', () => {
    let server: Server;
    let hits = 0;
    beforeAll(async () => {
      server = createServer((_request, response) => {
        hits++;
        response.end('leaked');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test('error: a module importing WASI sockets is refused before it runs', async () => {
      const error = expectError(await run(fixtures.socketImport, 'socket-import', null), 'user_error');
      expect(error.message).toMatch(/imports wasi_snapshot_preview1\.sock_accept/);
      expect(error.message).toMatch(/there is no network/);
      await expectHealthy();
    });

    test('error: a module importing anything but WASI (a host fetch) is refused before it runs', async () => {
      const port = (server.address() as AddressInfo).port;
      const error = expectError(await run(fixtures.hostImport, 'host-import', { port }), 'user_error');
      expect(error.message).toMatch(/imports env\.http_get, which tasks do not get/);
      expect(hits).toBe(0);
      await expectHealthy();
    });
  });

  describe('filesystem', () => {
    test('behavior: with no preopened directory every path, directory and extra fd fails', async () => {
      const result = await attack('fs');
      if (!result.ok) throw new Error(JSON.stringify(result.error));
      expect(result.output).toEqual({
        passwd: 'Capabilities insufficient',
        relative: 'Capabilities insufficient',
        write: 'Capabilities insufficient',
        opendir: 'Capabilities insufficient',
        dot: 'Capabilities insufficient',
        stat: 'Capabilities insufficient',
        urandom: 'Capabilities insufficient',
        mkdir: 'Capabilities insufficient',
        fd3: 'Bad file descriptor',
        fd9: 'Bad file descriptor',
      });
      expect(existsSync('/tmp/monadmesh-wasm-escape.txt')).toBe(false);
      expect(existsSync('/tmp/monadmesh-wasm-escape')).toBe(false);
    });

    test('error: fopen("/etc/passwd") fails, and the program’s own error reaches the user', async () => {
      const result = await attack('fs-strict');
      const error = expectError(result, 'user_error');
      expect(error.message).toBe(
        'the program exited with code 1: cannot open /etc/passwd: Capabilities insufficient',
      );
      expect(result.logs).toBe('cannot open /etc/passwd: Capabilities insufficient\n');
      await expectHealthy();
    });
  });

  describe('limits', () => {
    test('error: an infinite loop times out, its logs survive, and the next task works', async () => {
      const started = performance.now();
      const result = await attack('loop', { timeoutMs: 300 });
      const error = expectError(result, 'timeout');
      expect(error.message).toBe('task exceeded its time limit of 300 ms');
      expect(result.logs).toBe('spinning\n');
      expect(performance.now() - started).toBeLessThan(3_000);
      await expectHealthy();
    });

    test('error: memory growth stops at memoryMb (memory_limit), and the next task works', async () => {
      const result = await attack('grow', { memoryMb: 32, timeoutMs: 20_000 });
      const error = expectError(result, 'memory_limit');
      expect(error.message).toMatch(
        /^task exceeded its memory limit of 32 MB \(memory cannot grow past it\); then the program exited with code 1: out of memory after 3\d MiB$/,
      );
      await expectHealthy();
    });

    test('error: a module needing more memory at start than memoryMb is refused', async () => {
      const error = expectError(
        await run(fixtures.hugeInitialMemory, 'initial-200m', { attack: 'args' }),
        'memory_limit',
      );
      expect(error.message).toBe(
        "the module needs 200 MiB of memory at start, over the task's memory limit of 64 MiB (memoryMb)",
      );
      await expectHealthy();
    });

    test('error: deep recursion is a user_error (stack overflow) naming the function', async () => {
      const error = expectError(await attack('recurse'), 'user_error');
      expect(error.message).toBe(
        'stack overflow: the program recursed too deeply (Maximum call stack size exceeded)',
      );
      expect(error.stack).toMatch(/\n {4}at deep \(wasm:\/\/wasm\//);
      await expectHealthy();
    });

    test('error: overflowing the C stack in linear memory traps instead of corrupting data', async () => {
      const error = expectError(await attack('framed'), 'user_error');
      expect(error.message).toBe('WebAssembly trap: memory access out of bounds');
      expect(error.stack).toMatch(/at framed \(wasm:/);
      await expectHealthy();
    });

    test('error: huge stdout is output_invalid as soon as it passes the limit', async () => {
      const started = performance.now();
      const error = expectError(await attack('flood'), 'output_invalid');
      expect(error.message).toBe(
        `the program wrote more than ${limits.maxOutputBytes} bytes to stdout (the output limit)`,
      );
      expect(performance.now() - started).toBeLessThan(3_000);
      await expectHealthy();
    });

    test('behavior: a stderr flood is cut to the log limit and the task still succeeds', async () => {
      const result = await attack('log-flood');
      expect(result.ok && result.output).toBe('done');
      expect(new TextEncoder().encode(result.logs).byteLength).toBeLessThanOrEqual(limits.maxLogBytes);
    });
  });

  describe('output and exit', () => {
    test('error: stdout that is not JSON is output_invalid with a snippet', async () => {
      const error = expectError(await attack('not-json'), 'output_invalid');
      expect(error.message).toMatch(
        /^stdout is not JSON \(SyntaxError: [\s\S]*\); it starts with "hello, world\\n"$/,
      );
      expect(expectError(await attack('empty'), 'output_invalid').message).toBe(
        'the program wrote nothing to stdout; a WebAssembly function must write its output as JSON',
      );
      expect(expectError(await attack('bad-utf8'), 'output_invalid').message).toMatch(/not valid UTF-8/);
      expect(expectError(await attack('deep-json'), 'output_invalid').message).toMatch(
        /nested deeper than 64/,
      );
      await expectHealthy();
    });

    test('error: a non-zero exit is a user_error with the tail of stderr', async () => {
      const result = await attack('exit');
      const error = expectError(result, 'user_error');
      expect(error.message).toBe('the program exited with code 3: step 1 ok\nsomething went wrong: code 42');
      expect(result.logs).toBe('step 1 ok\nsomething went wrong: code 42\n');
      await expectHealthy();
    });

    test('error: traps are user_errors with the trap and the wasm frames', async () => {
      const trap = expectError(await attack('trap'), 'user_error');
      expect(trap.message).toBe('WebAssembly trap: unreachable');
      expect(trap.stack).toMatch(
        /^WebAssembly trap: unreachable\n {4}at main \(wasm:\/\/wasm\/[0-9a-f]+:wasm-function\[\d+\]:0x[0-9a-f]+\)/,
      );
      expect(expectError(await attack('oob'), 'user_error').message).toBe(
        'WebAssembly trap: memory access out of bounds',
      );
      await expectHealthy();
    });
  });

  describe('what is not a WASI command', () => {
    test('error: a module with no _start (a reactor) is refused with what to build instead', async () => {
      const error = expectError(await run(fixtures.reactor, 'reactor', null), 'user_error');
      expect(error.message).toMatch(/^the module is a WASI reactor \(it exports _initialize, not _start\)/);
      await expectHealthy();
    });

    test('error: bytes that are not WebAssembly, or a broken module, are refused', async () => {
      const text = new TextEncoder().encode('export default (x) => x');
      expect(expectError(await run(text, 'js-as-wasm', null), 'user_error').message).toMatch(
        /^the code is not a WebAssembly module \(it does not start with \\0asm\)/,
      );
      const truncated = fixtures.abuse.subarray(0, 1000);
      expect(expectError(await run(truncated, 'truncated', null), 'user_error').message).toMatch(
        /^not a valid WebAssembly module/,
      );
      await expectHealthy();
    });
  });

  test('behavior: memory is fresh for every task: nothing one task stored reaches the next', async () => {
    const stored = await attack('remember');
    expect(stored.ok && stored.output).toEqual({
      static: 'a secret of the previous task',
      heap: 'a secret of the previous task',
    });
    const recalled = await attack('recall');
    expect(recalled.ok && recalled.output).toEqual({ static: '', heapByte: 0 });
  });
});
