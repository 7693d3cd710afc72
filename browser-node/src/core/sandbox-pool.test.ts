import { describe, expect, test } from 'vitest';
import type { HostToSandbox } from '../../../protocol/sandbox.ts';
import type { ExecRequest } from './executor.ts';
import {
  type HostWorker,
  type HostWorkerEvents,
  type SandboxHost,
  type SandboxKind,
  SandboxPool,
} from './sandbox-pool.ts';

// The pool's bookkeeping against a scripted host (real sandboxes are in the executor test list):
// what a host that measures whole processes gets (baselines after each task, a process that
// keeps too much replaced, the kernel limit moved with the watchdog's), and Python interpreters
// kept to one job.

const MiB = 1024 * 1024;

/** A host whose workers answer every task at once; worker i reports `resident[i]` (100 MiB at start). */
class ScriptedHost implements SandboxHost {
  spawned: SandboxKind[] = [];
  ceilings: number[] = [];
  resident: number[] = [];
  /** Tasks per message posted (1 for a single run). */
  posted: number[] = [];
  /** What a batch's answer becomes (a worker that answers wrongly), if set. */
  mangle: ((results: unknown[]) => unknown) | undefined;
  /** Batches wait for `release()` before they answer, while set. */
  hold = false;
  #held: (() => void)[] = [];
  release(): void {
    for (const answer of this.#held.splice(0)) answer();
  }

  answer(id: string, inputJson: string) {
    return { type: 'result', id, ok: true, outputJson: inputJson, logs: '', durationMs: 0.1 };
  }

  logMirror(): undefined {
    return undefined;
  }

  spawn(kind: SandboxKind, _memoryMb: number, events: HostWorkerEvents): HostWorker {
    const i = this.spawned.push(kind) - 1;
    this.resident[i] = 100 * MiB;
    let alive = true;
    queueMicrotask(() => events.message({ type: 'ready', startupMs: 1 }));
    return {
      post: (message: HostToSandbox) => {
        if (message.type === 'configure') return;
        this.posted.push(message.type === 'run.batch' ? message.runs.length : 1);
        if (message.type === 'run.batch') {
          const results = message.runs.map((run) => this.answer(run.id, run.inputJson));
          const answer = () => events.message(this.mangle?.(results) ?? { type: 'results', results });
          if (this.hold) this.#held.push(answer);
          else queueMicrotask(answer);
          return;
        }
        queueMicrotask(() => events.message(this.answer(message.id, message.inputJson)));
      },
      terminate: async () => {
        if (!alive) return;
        alive = false;
        events.exit();
      },
      externalMemory: async () => this.resident[i]!,
      measuresProcess: true,
      memorySlackBytes: 10 * MiB,
      setMemoryCeiling: (bytes) => this.ceilings.push(bytes),
    };
  }
}

const task = (runtime: ExecRequest['runtime'], jobId: string): ExecRequest => ({
  runtime,
  code: runtime === 'python' ? 'def main(x):\n    return 1\n' : 'export default () => 1',
  codeCid: 'c',
  input: null,
  timeoutMs: 10_000,
  memoryMb: 64,
  seed: 's',
  clock: 0,
  jobId,
});

const pool = (host: ScriptedHost) =>
  new SandboxPool(host, { capacity: 1, runtimes: ['js', 'python'], prewarm: false, memoryPollMs: 1_000_000 });

describe('SandboxPool with a host that measures processes', () => {
  test("behavior: the next task's limit starts from what the process holds after a task, and the kernel limit follows", async () => {
    const host = new ScriptedHost();
    const p = pool(host);
    expect((await p.run(task('js', 'a'))).ok).toBe(true);
    // At ready: 100 MiB + 64 + 10; after the task (now 130 MiB held): 130 + 64 + 10.
    expect(host.ceilings.map((b) => b / MiB)).toEqual([174, 174]);
    host.resident[0] = 130 * MiB;
    expect((await p.run(task('js', 'a'))).ok).toBe(true);
    expect(host.ceilings.at(-1)! / MiB).toBe(204);
    expect(host.spawned).toEqual(['ses']);
    await p.close();
  });

  test('error: a process that keeps more than memoryMb of earlier tasks is replaced, so its limit cannot ratchet up', async () => {
    const host = new ScriptedHost();
    const p = pool(host);
    expect((await p.run(task('js', 'a'))).ok).toBe(true);
    host.resident[0] = (100 + 65) * MiB; // 65 MiB kept, over the 64 MiB a task may use
    expect((await p.run(task('js', 'a'))).ok).toBe(true);
    expect(host.spawned).toEqual(['ses', 'ses']); // replaced after that task
    expect((await p.run(task('js', 'a'))).ok).toBe(true);
    expect(host.spawned).toEqual(['ses', 'ses']);
    // No limit was ever raised from what the old process kept: every ceiling is a fresh start's.
    expect(host.ceilings.map((b) => b / MiB)).toEqual([174, 174, 174, 174]);
    await p.close();
  });

  test('error: a runtime the pool was not given is refused without starting a sandbox', async () => {
    const host = new ScriptedHost();
    const p = pool(host);
    const result = await p.run(task('wasm', 'a'));
    expect(result).toMatchObject({
      ok: false,
      error: { kind: 'node_error', message: 'runtime wasm is not supported by this executor' },
    });
    expect(host.spawned).toEqual([]);
    await p.close();
  });

  test("error: a Python interpreter that ran one job's task is replaced for another job's; JS workers are shared", async () => {
    const host = new ScriptedHost();
    const p = pool(host);
    await p.run(task('python', 'a'));
    await p.run(task('python', 'a'));
    expect(host.spawned).toEqual(['python']);
    await p.run(task('python', 'b'));
    expect(host.spawned).toEqual(['python', 'python']);
    await p.run(task('js', 'a'));
    await p.run(task('js', 'b'));
    expect(host.spawned).toEqual(['python', 'python', 'ses']);
    await p.close();
  });
});

describe('SandboxPool batches (a host that takes run.batch)', () => {
  const quick = (input: number, jobId = 'j'): ExecRequest => ({ ...task('js', jobId), input });
  const batchingPool = (host: ScriptedHost) =>
    new SandboxPool(host, {
      capacity: 1,
      runtimes: ['js', 'python'],
      prewarm: false,
      memoryPollMs: 1_000_000,
      batch: 8,
    });
  const outputs = (results: { ok: boolean; output?: unknown }[]) =>
    results.map((r) => (r.ok ? r.output : 'failed'));

  test('behavior: queued tasks of a code known to be quick go in batches of at most `batch`, answered in order', async () => {
    const host = new ScriptedHost();
    const p = batchingPool(host);
    // Unknown code: one by one, even with others queued.
    expect(outputs(await Promise.all([0, 1].map((i) => p.run(quick(i)))))).toEqual([0, 1]);
    expect(host.posted).toEqual([1, 1]);
    const inputs = Array.from({ length: 20 }, (_, i) => i);
    expect(outputs(await Promise.all(inputs.map((i) => p.run(quick(i)))))).toEqual(inputs);
    // The first waits alone for the slot; the rest were queued together.
    expect(host.posted.slice(2)).toEqual([1, 8, 8, 3]);
    // Other jobs' tasks (a Python one between them) never join another's batch.
    const mixed = await Promise.all([p.run(quick(1, 'a')), p.run(task('python', 'a')), p.run(quick(2, 'b'))]);
    expect(mixed.every((r) => r.ok)).toBe(true);
    expect(host.posted.slice(6)).toEqual([1, 1, 1]);
    expect(p.batches).toEqual({ sent: 3, failed: 0 });
    await p.close();
  });

  test('behavior: `waiting` is true for a task queued, not for one running alone or in a batch (a node gives the waiting ones back for nothing)', async () => {
    const host = new ScriptedHost();
    const p = batchingPool(host);
    await p.run(quick(0));
    await p.run(quick(0));
    host.hold = true;
    const c = Array.from({ length: 5 }, () => new AbortController());
    // The first takes the free slot alone; the next two wait, then go as one batch (held).
    const runs = [0, 1, 2].map((i) => p.run(quick(i), c[i]!.signal));
    await runs[0];
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(host.posted.at(-1)).toBe(2);
    const more = [3, 4].map((i) => p.run(quick(i), c[i]!.signal));
    expect(c.map((x) => p.waiting(x.signal))).toEqual([false, false, false, true, true]);
    host.hold = false;
    host.release();
    expect(outputs(await Promise.all([...runs, ...more]))).toEqual([0, 1, 2, 3, 4]);
    expect(c.map((x) => p.waiting(x.signal))).toEqual([false, false, false, false, false]);
    await p.close();
  });

  test('error: a batch answered with results that are not its own ends the worker; its tasks run again one by one, and the code is never batched again', async () => {
    const host = new ScriptedHost();
    const p = batchingPool(host);
    await p.run(quick(0));
    host.mangle = (results) => ({ type: 'results', results: [...results].reverse() });
    const inputs = Array.from({ length: 10 }, (_, i) => i);
    expect(outputs(await Promise.all(inputs.map((i) => p.run(quick(i)))))).toEqual(inputs);
    expect(p.batches).toEqual({ sent: 1, failed: 1 });
    expect(host.spawned.length).toBe(2); // the worker that answered wrongly was replaced
    // One alone, a batch of 8 (refused), then its 8 and the one left over one by one.
    expect(host.posted).toEqual([1, 1, 8, ...inputs.slice(1).map(() => 1)]);
    host.mangle = undefined;
    expect(outputs(await Promise.all(inputs.map((i) => p.run(quick(i)))))).toEqual(inputs);
    expect(host.posted.slice(12).every((n) => n === 1)).toBe(true);
    await p.close();
  });

  test('error: aborting one task of a running batch fails that task only; the others run again and succeed', async () => {
    const host = new ScriptedHost();
    const p = batchingPool(host);
    await p.run(quick(0));
    host.hold = true;
    const abort = new AbortController();
    const first = p.run(quick(100)); // holds the slot while the batch gathers
    const inputs = Array.from({ length: 6 }, (_, i) => i);
    const runs = inputs.map((i) => p.run(quick(i), i === 3 ? abort.signal : undefined));
    await first;
    // The six went as one batch, held; abort one of them while it runs.
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(host.posted.at(-1)).toBe(6);
    abort.abort();
    host.hold = false;
    host.release(); // the killed worker's answer comes too late to count
    const results = await Promise.all(runs);
    expect(outputs(results)).toEqual([0, 1, 2, 'failed', 4, 5]);
    expect(results[3]).toMatchObject({ ok: false, error: { kind: 'node_error', message: 'aborted' } });
    // An abort says nothing about the code: the other five ran again as a batch, and it still
    // goes in batches.
    expect(p.batches).toEqual({ sent: 2, failed: 1 });
    const before = host.posted.length;
    await Promise.all([p.run(quick(200)), ...inputs.map((i) => p.run(quick(i)))]);
    expect(Math.max(...host.posted.slice(before))).toBeGreaterThan(1);
    await p.close();
  });
});
