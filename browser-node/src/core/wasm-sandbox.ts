import { isJsonValue, MAX_JSON_DEPTH } from '../../../protocol/job.ts';
import { limits } from '../../../protocol/limits.ts';
import type { SandboxError, SandboxResult, SandboxRunWasm } from '../../../protocol/sandbox.ts';
import { WASM_PAGE_BYTES } from '../../../protocol/wasm.ts';
import { LogBuffer, logSinkFor, utf8Length } from './task-logs.ts';
import { providedWasiImports, WASI_MODULE, WasiStdoutOverflow, WasiTask } from './wasi-task.ts';
import { limitWasmMemory, WasmMemoryLimitError } from './wasm-memory-limit.ts';

type Compiled = { ok: true; module: WebAssembly.Module } | { ok: false; error: SandboxError };

/**
 * Runs WebAssembly tasks inside a worker (a `worker_threads` worker or a Web Worker): WASI command
 * modules that read the input JSON on stdin and write the output JSON on stdout (`wasi-task.ts`).
 * Runtime-agnostic like `JsSandbox`: it needs `WebAssembly`, `TextEncoder`/`TextDecoder` and
 * `performance`, so both hosts share it.
 *
 * The worker is the resource boundary: the host terminates it on timeout. Memory is bounded inside:
 * the module's memory maximum is lowered to the task's limit before compiling
 * (`wasm-memory-limit.ts`), so `memory.grow` past it fails in the module itself. Every task gets a
 * new instance, hence a new, zeroed memory: nothing a task leaves behind reaches the next one. What
 * is kept is the compiled module, by code CID and limit, so the tasks of a job compile once per worker.
 *
 * @example
 * const sandbox = new WasmSandbox();
 * port.on('message', async (raw) => port.postMessage(await sandbox.run(SandboxRunWasm.parse(raw))));
 */
export class WasmSandbox {
  readonly #cache = new Map<string, Promise<Compiled>>();
  readonly #cacheSize: number;

  constructor(options: { cacheSize?: number } = {}) {
    this.#cacheSize = options.cacheSize ?? 16;
  }

  /** Runs one task. Never rejects: every failure is a result with `ok: false`. */
  async run(task: SandboxRunWasm): Promise<SandboxResult> {
    try {
      return await this.#run(task);
    } catch (error) {
      return {
        type: 'result',
        id: task.id,
        ok: false,
        logs: '',
        durationMs: 0,
        error: { kind: 'node_error', message: `sandbox bug: ${describe(error)}` },
      };
    }
  }

  async #run(task: SandboxRunWasm): Promise<SandboxResult> {
    const logs = new LogBuffer(logSinkFor(task.logMirror));
    const stderr = new TextDecoder();
    let durationMs = 0;
    const fail = (error: SandboxError): SandboxResult => ({
      type: 'result',
      id: task.id,
      ok: false,
      logs: logs.text(),
      durationMs,
      error: bounded(error),
    });

    const compiled = await this.#compile(task);
    if (!compiled.ok) return fail(compiled.error);

    const wasi = new WasiTask({
      stdin: new TextEncoder().encode(task.inputJson),
      stdoutLimit: limits.maxOutputBytes,
      onStderr: (bytes) => logs.append(stderr.decode(bytes, { stream: true })),
      seed: task.seed,
      clockMs: task.clock,
    });
    const started = performance.now();
    let instance: WebAssembly.Instance | undefined;
    let exitCode: number;
    try {
      instance = new WebAssembly.Instance(compiled.module, wasi.imports);
      exitCode = wasi.start(instance);
    } catch (thrown) {
      durationMs = performance.now() - started;
      logs.append(stderr.decode());
      return fail(runFailure(thrown, instance, task.maxMemoryPages));
    }
    durationMs = performance.now() - started;
    logs.append(stderr.decode());

    if (exitCode !== 0) {
      const tail = stderrTail(logs.text());
      const exited = `the program exited with code ${exitCode}${tail ? `: ${tail}` : ' (and wrote nothing to stderr)'}`;
      return fail(
        memoryFull(instance, task.maxMemoryPages)
          ? memoryLimit(task.maxMemoryPages, exited)
          : { kind: 'user_error', message: exited },
      );
    }
    if (wasi.stdoutOverflowed) {
      return fail({ kind: 'output_invalid', message: new WasiStdoutOverflow(limits.maxOutputBytes).message });
    }
    const output = parseStdout(wasi.stdout());
    if (!output.ok) return fail(output.error);
    return { type: 'result', id: task.id, ok: true, outputJson: output.json, logs: logs.text(), durationMs };
  }

  /** Compiles (or takes from the cache) and checks the module's imports and exports. */
  #compile(task: SandboxRunWasm): Promise<Compiled> {
    const key = `${task.codeCid}:${task.maxMemoryPages}`;
    const hit = this.#cache.get(key);
    if (hit) {
      this.#cache.delete(key);
      this.#cache.set(key, hit);
      return hit;
    }
    const compiling = compileModule(task.code, task.maxMemoryPages);
    this.#cache.set(key, compiling);
    if (this.#cache.size > this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value as string);
    return compiling;
  }
}

async function compileModule(code: Uint8Array, maxPages: number): Promise<Compiled> {
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(limitWasmMemory(code, maxPages) as Uint8Array<ArrayBuffer>);
  } catch (error) {
    if (error instanceof WasmMemoryLimitError) {
      return { ok: false, error: { kind: error.kind, message: error.message } };
    }
    return {
      ok: false,
      error: { kind: 'user_error', message: `not a valid WebAssembly module: ${describe(error)}` },
    };
  }
  const problem = checkInterface(module);
  return problem ? { ok: false, error: { kind: 'user_error', message: problem } } : { ok: true, module };
}

/** Why the module cannot run as a task (its imports and exports), or undefined when it can. */
function checkInterface(module: WebAssembly.Module): string | undefined {
  const refused = WebAssembly.Module.imports(module).filter(
    (i) => i.module !== WASI_MODULE || i.kind !== 'function' || !providedWasiImports.has(i.name),
  );
  if (refused.length > 0) {
    const names = refused
      .slice(0, 8)
      .map((i) => `${i.module}.${i.name}${i.kind === 'function' ? '' : ` (${i.kind})`}`);
    const more = refused.length > 8 ? ` and ${refused.length - 8} more` : '';
    const sockets = refused.some((i) => i.module === WASI_MODULE && i.name.startsWith('sock_'));
    return (
      `the module imports ${names.join(', ')}${more}, which tasks do not get: ` +
      (sockets ? 'there is no network (WASI sockets are not provided); ' : '') +
      `a WebAssembly function may import only WASI preview 1 (${WASI_MODULE}) functions for stdio, args, env, clocks, random and exit`
    );
  }
  const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  if (exports.get('_start') !== 'function') {
    return exports.get('_initialize') === 'function'
      ? 'the module is a WASI reactor (it exports _initialize, not _start); build a command with a main function (e.g. without -mexec-model=reactor)'
      : 'the module exports no _start function; it must be a WASI command module (a program with a main function, built for wasm32-wasi)';
  }
  if (exports.get('memory') !== 'memory')
    return 'the module exports no memory named "memory", which WASI needs';
  return undefined;
}

/** What went wrong when the run threw: a trap, a stack overflow, too much output, a bad WASI call. */
function runFailure(
  thrown: unknown,
  instance: WebAssembly.Instance | undefined,
  maxPages: number,
): SandboxError {
  if (thrown instanceof WasiStdoutOverflow) return { kind: 'output_invalid', message: thrown.message };
  const frames = wasmFrames(thrown);
  const withFrames = (error: SandboxError): SandboxError =>
    frames ? { ...error, stack: `${error.message}\n${frames}` } : error;
  if (thrown instanceof WebAssembly.LinkError) {
    return { kind: 'user_error', message: `the module cannot be linked: ${describe(thrown)}` };
  }
  if (thrown instanceof RangeError && /call stack/i.test(thrown.message)) {
    return withFrames({
      kind: 'user_error',
      message: `stack overflow: the program recursed too deeply (${thrown.message})`,
    });
  }
  const message =
    thrown instanceof WebAssembly.RuntimeError
      ? `WebAssembly trap: ${thrown.message}`
      : `the program failed in a WASI call: ${describe(thrown)}`;
  return withFrames(
    memoryFull(instance, maxPages) ? memoryLimit(maxPages, message) : { kind: 'user_error', message },
  );
}

/**
 * True when the memory is (nearly) at its limit: then a failed `memory.grow` is the likely cause
 * of whatever failed (malloc returned NULL, AssemblyScript trapped), and the task is reported as
 * `memory_limit`. The engine does not say whether a grow failed, so "nearly" is within the larger
 * of 2 MiB and 1/32 of the limit: the size of a typical allocation that no longer fits.
 */
function memoryFull(instance: WebAssembly.Instance | undefined, maxPages: number): boolean {
  const memory = instance?.exports.memory;
  if (!(memory instanceof WebAssembly.Memory)) return false;
  const limit = maxPages * WASM_PAGE_BYTES;
  return limit - memory.buffer.byteLength <= Math.max(2 * 1024 * 1024, limit / 32);
}

function memoryLimit(maxPages: number, then: string): SandboxError {
  const mb = (maxPages * WASM_PAGE_BYTES) / (1024 * 1024);
  return {
    kind: 'memory_limit',
    message: `task exceeded its memory limit of ${mb} MB (memory cannot grow past it); then ${then}`,
  };
}

type ParsedOutput = { ok: true; json: string } | { ok: false; error: SandboxError };

/** stdout as the task's output: UTF-8 text holding one JSON value. */
function parseStdout(bytes: Uint8Array): ParsedOutput {
  const invalid = (message: string): ParsedOutput => ({
    ok: false,
    error: { kind: 'output_invalid', message },
  });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return invalid('stdout is not valid UTF-8; a WebAssembly function must write its output as JSON');
  }
  if (text.trim() === '') {
    return invalid(
      'the program wrote nothing to stdout; a WebAssembly function must write its output as JSON',
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return invalid(
      `stdout is not JSON (${describe(error)}); it starts with ${JSON.stringify(text.slice(0, 200))}`,
    );
  }
  if (!isJsonValue(value)) {
    return invalid(`stdout holds JSON nested deeper than ${MAX_JSON_DEPTH} levels or a number out of range`);
  }
  // Re-serialized: whitespace and number spelling no longer depend on the program's printf.
  const json = JSON.stringify(value);
  const size = json.length * 3 <= limits.maxOutputBytes ? 0 : utf8Length(json);
  if (size > limits.maxOutputBytes) {
    return invalid(`the output is ${size} bytes as JSON; the limit is ${limits.maxOutputBytes} bytes`);
  }
  return { ok: true, json };
}

/** The last lines of stderr, for the error message (the full logs come with the result). */
function stderrTail(logs: string): string {
  const trimmed = logs.trimEnd();
  return trimmed.length <= 1000 ? trimmed : `…${trimmed.slice(-1000)}`;
}

/** The wasm frames of an error's stack (function names come from the module's name section). */
function wasmFrames(error: unknown): string {
  let stack: unknown;
  try {
    stack = (error as { stack?: unknown }).stack;
    const getStackString = (globalThis as { getStackString?: (e: unknown) => string }).getStackString;
    if ((typeof stack !== 'string' || stack === '') && typeof getStackString === 'function') {
      stack = getStackString(error);
    }
  } catch {
    return '';
  }
  if (typeof stack !== 'string') return '';
  return stack
    .split('\n')
    .filter((line) => line.includes('wasm://') || line.includes('wasm-function['))
    .slice(0, 32)
    .map((line) => `    ${line.trim()}`)
    .join('\n');
}

function describe(value: unknown): string {
  try {
    if (value instanceof Error) return value.message ? `${value.name}: ${value.message}` : value.name;
    return String(value);
  } catch {
    return 'a value that cannot be described';
  }
}

function bounded(error: SandboxError): SandboxError {
  const message = truncate(error.message, 4096);
  return error.stack === undefined
    ? { kind: error.kind, message }
    : { kind: error.kind, message, stack: truncate(error.stack, 16_384) };
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = '…[truncated]';
  return text.slice(0, max - marker.length) + marker;
}
