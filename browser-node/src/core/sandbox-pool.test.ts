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
        queueMicrotask(() =>
          events.message({
            type: 'result',
            id: message.id,
            ok: true,
            outputJson: '1',
            logs: '',
            durationMs: 0,
          }),
        );
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
