import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import type { ExecRequest, ExecResult } from '../core/executor.ts';
import { detectCgroups } from './cgroup.ts';
import { ProcessExecutor, residentReader, SLACK_MB, sandboxExecArgv } from './process-executor.ts';

// What only an operating-system boundary gives: tasks that end their sandbox process (a heap
// exhausted while the output is serialized, a 16 GiB typed array) fail alone and the node's
// process goes on; resident memory stays near the limit; and the sandbox process cannot reach
// the machine even with code of its own.

const executor = new ProcessExecutor({ processes: 1, warmMemoryMb: 64 });
afterAll(() => executor.close());

const dir = mkdtempSync(join(tmpdir(), 'monadmesh-process-'));
const PACKAGE = fileURLToPath(new URL('../../../', import.meta.url));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const run = (
  runtime: ExecRequest['runtime'],
  code: string | Uint8Array,
  input: unknown = null,
  memoryMb = 64,
) =>
  executor.run({
    runtime,
    code,
    codeCid: `c${++n}`,
    input: input as never,
    timeoutMs: 20_000,
    memoryMb,
    seed: 's',
    clock: 0,
  } as ExecRequest);

const kind = (r: ExecResult) => (r.ok ? `ok ${JSON.stringify(r.output)}` : r.error.kind);
const honest = async () => {
  expect(kind(await run('js', 'export default (x) => x * 2', 21))).toBe('ok 42');
  expect(kind(await run('python', 'def main(x):\n    return x * 2\n', 21))).toBe('ok 42');
};

describe('ProcessExecutor', () => {
  test('error: the sequence that killed a node (memory_limit, then an output too large) fails its tasks only, beside honest ones of every runtime', async () => {
    const hostile = [
      // The heap runs out in the task.
      ['js', 'export default () => { const a = []; for (;;) a.push({ x: Math.random() }); }', 'memory_limit'],
      // An output over the limit, right after.
      ['js', "export default () => 'x'.repeat(1024 * 1024)", 'output_invalid'],
      // An output so large that serializing it exhausts the heap.
      [
        'js',
        "export default () => Array.from({ length: 3e6 }, (_, i) => ({ i, s: 'x'.repeat(20) }))",
        'memory_limit',
      ],
      // Off-heap memory: 16 GiB of typed array, filled.
      ['js', 'export default () => new Float64Array(2 ** 31).fill(1).length', 'memory_limit'],
      // ArrayBuffers, written to (untouched pages cost the machine nothing until they are touched).
      [
        'js',
        'export default () => { const b = []; for (;;) b.push(new Uint8Array(1 << 24).fill(7)); }',
        'memory_limit',
      ],
      // Python objects past the limit.
      [
        'python',
        'def main(x):\n    a = []\n    while True:\n        a.append(bytearray(1 << 20))\n',
        'memory_limit',
      ],
      ['js', 'export default () => ({ toJSON: () => undefined })', 'output_invalid'],
    ] as const;
    for (const [runtime, code, expected] of hostile) {
      expect(`${code.slice(0, 40)}: ${kind(await run(runtime, code))}`).toBe(
        `${code.slice(0, 40)}: ${expected}`,
      );
      await honest();
    }
  }, 120_000);

  test('error: in batches of quick tasks, a task that never ends and one that fills memory fail alone, beside an honest job; every other output is right', async () => {
    const batching = new ProcessExecutor({ processes: 1, warmMemoryMb: 64, batch: 8 });
    try {
      const request = (code: string, input: number): ExecRequest => ({
        runtime: 'js',
        code,
        codeCid: code,
        input,
        timeoutMs: 1_500,
        memoryMb: 64,
        seed: 's',
        clock: 0,
        jobId: code.slice(0, 20),
      });
      // Quick code, except for one input each; and an honest job's beside them.
      const loops = 'export default (x) => { if (x === 13) for (;;) {} return x * 2; }';
      const fills =
        'export default (x) => { const a = []; while (x === 27) a.push(new Float64Array(1 << 20).fill(x)); return x * 2; }';
      const honestCode = 'export default (x) => x + 1';
      // Each is learnt quick first: a code's first task never goes in a batch.
      for (const code of [loops, fills, honestCode])
        expect(kind(await batching.run(request(code, 0)))).toMatch(/^ok/);
      const inputs = Array.from({ length: 40 }, (_, i) => i);
      const all = (code: string) => Promise.all(inputs.map((i) => batching.run(request(code, i))));
      const [looped, filled, honest1] = await Promise.all([all(loops), all(fills), all(honestCode)]);
      expect(looped.map(kind)).toEqual(inputs.map((i) => (i === 13 ? 'timeout' : `ok ${i * 2}`)));
      expect(filled.map(kind)).toEqual(inputs.map((i) => (i === 27 ? 'memory_limit' : `ok ${i * 2}`)));
      expect(honest1.map(kind)).toEqual(inputs.map((i) => `ok ${i + 1}`));
      // Both hostile codes' batches failed (then ran one by one); the honest one's did not.
      expect(batching.batches.failed).toBe(2);
      expect(batching.batches.sent).toBeGreaterThan(2 + 40 / 8);
      // Tasks report the share of a slot they held, not the time they queued.
      expect(honest1.every((r) => r.slotMs !== undefined && r.slotMs < 1_000)).toBe(true);
    } finally {
      await batching.close();
    }
  }, 60_000);

  test('behavior: resident memory stays within memoryMb plus the stated slack while a bomb runs', async () => {
    await honest(); // a warm process
    const memoryMb = 64;
    let peak = 0;
    let baseline = Number.POSITIVE_INFINITY;
    const sample = setInterval(() => {
      for (const pid of sandboxPids()) {
        const kb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
        peak = Math.max(peak, kb * 1024);
        baseline = Math.min(baseline, kb * 1024);
      }
    }, 2);
    const result = await run(
      'js',
      'export default () => new Float64Array(2 ** 31).fill(1).length',
      null,
      memoryMb,
    );
    clearInterval(sample);
    expect(kind(result)).toBe('memory_limit');
    const MiB = 1024 * 1024;
    const over = (peak - baseline) / MiB;
    process.stderr.write(
      `[process executor] a 16 GiB fill reached ${over.toFixed(0)} MB over the process's start\n`,
    );
    // The watchdog reads the process's memory every 5 ms: what a fill adds in that time is the margin.
    expect(over).toBeLessThan(memoryMb + 24 + SLACK_MB + 256);
  }, 60_000);

  test("error: a node starting removes the empty groups of gone nodes, never a running node's (that failed its start)", async () => {
    const found = detectCgroups();
    if (!found.kind) {
      process.stderr.write(`[process executor] SKIPPED the cgroup clean-up test: ${found.why}\n`);
      return;
    }
    const root = found.kind === 'cgroup v1' ? '/sys/fs/cgroup/memory' : '/sys/fs/cgroup';
    // A group of this (running) process, made and not yet given its process, as a node makes
    // one; and one of a process that has ended.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    const live = join(root, `monadmesh-${process.pid}-cleanup-test`);
    const stale = join(root, `monadmesh-${gone}-cleanup-test`);
    mkdirSync(live);
    mkdirSync(stale);
    try {
      detectCgroups(); // what another node does as it starts
      expect(existsSync(live)).toBe(true);
      expect(existsSync(stale)).toBe(false);
    } finally {
      for (const dir of [live, stale]) if (existsSync(dir)) rmdirSync(dir);
    }
  });

  test('behavior: where the machine has cgroups, the kernel stops a fill the watchdog never looks at', async () => {
    const found = detectCgroups();
    if (!found.kind) {
      // CI runs as root with the cgroup v1 memory controller (../shared/ENVIRONMENT.md).
      process.stderr.write(`[process executor] SKIPPED the cgroup test: ${found.why}\n`);
      return;
    }
    // A watchdog that never reads: only the kernel limit is left.
    const blind = new ProcessExecutor({ processes: 1, warmMemoryMb: 64, memoryPollMs: 2 ** 30 });
    try {
      expect(blind.memoryLimits).toMatch(/kernel limit per process \(cgroup v[12]\)/);
      const ok = await blind.run({
        runtime: 'js',
        code: 'export default (x) => x',
        codeCid: 'k1',
        input: 1,
        timeoutMs: 20_000,
        memoryMb: 64,
        seed: 's',
        clock: 0,
      });
      expect(kind(ok)).toBe('ok 1');
      const bomb = await blind.run({
        runtime: 'js',
        code: 'export default () => new Float64Array(2 ** 31).fill(1).length',
        codeCid: 'k2',
        input: null,
        timeoutMs: 20_000,
        memoryMb: 64,
        seed: 's',
        clock: 0,
      });
      expect(bomb).toMatchObject({ ok: false, error: { kind: 'memory_limit' } });
      const after = await blind.run({
        runtime: 'js',
        code: 'export default (x) => x',
        codeCid: 'k1',
        input: 2,
        timeoutMs: 20_000,
        memoryMb: 64,
        seed: 's',
        clock: 0,
      });
      expect(kind(after)).toBe('ok 2');
    } finally {
      await blind.close();
    }
  }, 60_000);

  test('error: code running in a sandbox process cannot read, write or start anything on the machine', () => {
    const secret = join(dir, 'node-key');
    writeFileSync(secret, 'the node key');
    const script = `
      const fs = require('node:fs');
      const out = [];
      const attempt = (name, f) => { try { f(); out.push(name + ': allowed'); } catch (e) { out.push(name + ': ' + (e.code ?? e.message)); } };
      attempt('read the key', () => fs.readFileSync(${JSON.stringify(secret)}));
      attempt('write a file', () => fs.writeFileSync(${JSON.stringify(join(dir, 'x'))}, 'x'));
      attempt('start a process', () => require('node:child_process').execFileSync('/bin/true'));
      attempt('start a worker', () => new (require('node:worker_threads').Worker)('1', { eval: true }));
      attempt('read /etc/passwd', () => fs.readFileSync('/etc/passwd'));
      attempt('read the package README', () => fs.readFileSync(${JSON.stringify(join(PACKAGE, 'README.md'))}));
      attempt('read its own code', () => fs.readFileSync(${JSON.stringify(join(PACKAGE, 'protocol/limits.ts'))}));
      attempt('environment', () => { if (Object.keys(process.env).length) throw new Error('has env'); });
      console.log(out.join('\\n'));
    `;
    const out = execFileSync(process.execPath, [...sandboxExecArgv(64), '-e', script], {
      env: {},
      encoding: 'utf8',
    });
    expect(out.trim().split('\n')).toEqual([
      'read the key: ERR_ACCESS_DENIED',
      'write a file: ERR_ACCESS_DENIED',
      'start a process: ERR_ACCESS_DENIED',
      'start a worker: ERR_ACCESS_DENIED',
      'read /etc/passwd: ERR_ACCESS_DENIED',
      // Nothing of the package but its code and dependencies: `npm run dev` keeps secrets in it.
      'read the package README: ERR_ACCESS_DENIED',
      'read its own code: allowed',
      'environment: allowed',
    ]);
  });
});

/** The pids of this process's sandbox children (from /proc). */
function sandboxPids(): number[] {
  const children = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim();
  return children ? children.split(/\s+/).map(Number) : [];
}

if (process.platform !== 'linux') {
  process.stderr.write(`[process executor] SKIPPED residentReader: ${process.platform} has no /proc\n`);
}
describe.skipIf(process.platform !== 'linux')('residentReader', () => {
  test('behavior: it reads one process again and again, and nothing once that process is gone', async () => {
    const child = spawn(process.execPath, [
      '-e',
      'const a = Buffer.alloc(64 << 20, 1); setInterval(() => a[0]++, 50)',
    ]);
    const reader = residentReader(child.pid!);
    // The child fills 64 MB: the reader, opened once, sees it grow.
    let bytes = reader.read();
    for (let i = 0; i < 200 && bytes < 64 * 1024 * 1024; i++) {
      await new Promise((r) => setTimeout(r, 25));
      bytes = reader.read();
    }
    expect(bytes).toBeGreaterThan(64 * 1024 * 1024);
    child.kill('SIGKILL');
    await once(child, 'exit');
    // Reaped: the open file is bound to the dead process and cannot read another one's.
    expect(() => reader.read()).toThrow();
    reader.close();
    expect(() => reader.read()).toThrow(/gone/);
  });
});
