import { afterEach, describe, expect, test } from 'vitest';
import type { TaskResult } from '../protocol/index.ts';
import { CliError } from './cli-error.ts';
import { DRY_RUN_ID, startDryRun } from './dry-run.ts';
import type { ProgressSnapshot } from './progress-format.ts';
import type { RunningJob } from './running-job.ts';

const jobs: RunningJob[] = [];
afterEach(() => {
  for (const job of jobs.splice(0)) job.close();
});

async function dryRun(source: string, inputs: unknown[], options: { timeoutMs?: number } = {}) {
  const job = await startDryRun({ runtime: 'js', source, inputs: inputs as never, threads: 2, ...options });
  jobs.push(job);
  return job;
}

async function all(iterable: AsyncIterable<TaskResult>): Promise<TaskResult[]> {
  const out: TaskResult[] = [];
  for await (const r of iterable) out.push(r);
  return out;
}

describe('dry run', () => {
  test('default: results in input order, progress to the end, then the outcome', async () => {
    const job = await dryRun(
      'export default (x) => x * x',
      Array.from({ length: 20 }, (_, i) => i),
    );
    const seen: ProgressSnapshot[] = [];
    job.onProgress((p) => seen.push(p));
    const results = await all(job.results());
    expect(results.map((r) => r.output)).toEqual(Array.from({ length: 20 }, (_, i) => i * i));
    expect(results.every((r) => r.state === 'succeeded' && r.attempts === 1)).toBe(true);
    const outcome = await job.wait();
    expect(outcome).toEqual({
      id: DRY_RUN_ID,
      state: 'succeeded',
      total: 20,
      counts: { pending: 0, leased: 0, succeeded: 20, failed: 0, cancelled: 0 },
    });
    expect(seen[0]!.counts.pending + seen[0]!.counts.leased).toBe(20);
    expect(seen.at(-1)!.state).toBe('succeeded');
  });

  test('behavior: a thrown error fails only its task, with the remote stack and logs (as on a node)', async () => {
    const source = `export default function main(x) {
  console.log('looking at', x);
  if (x === 2) throw new Error('two');
  return x;
}`;
    const job = await dryRun(source, [0, 1, 2, 3]);
    const results = await all(job.unordered());
    expect(results).toHaveLength(4);
    const failed = results.find((r) => r.index === 2)!;
    expect(failed).toMatchObject({ state: 'failed', attempts: 1, logs: 'looking at 2\n' });
    expect(failed.error).toMatchObject({ kind: 'user_error', message: 'Error: two' });
    expect(failed.error?.stack).toContain('at main (task.js:3:');
    expect((await job.wait()).state).toBe('failed');
  });

  test("behavior: the job's clock and seeded randomness, as on the server", async () => {
    const source = 'export default () => [Date.now(), Math.random()]';
    const before = Date.now();
    const a = await all((await dryRun(source, [0, 1])).results());
    const b = await all((await dryRun(source, [0, 1])).results());
    const [clock, random0] = a[0]!.output as [number, number];
    expect(clock).toBeGreaterThanOrEqual(before);
    expect((a[1]!.output as number[])[0]).toBe(clock);
    expect((b[0]!.output as number[])[1]).toBe(random0); // same index, same sequence
    expect((a[1]!.output as number[])[1]).not.toBe(random0);
  });

  test('behavior: time limits fail the task with timeout, once (not retried)', async () => {
    const job = await dryRun('export default (x) => { if (x) for (;;); return x; }', [0, 1], {
      timeoutMs: 200,
    });
    const results = await all(job.results());
    expect(results[0]).toMatchObject({ state: 'succeeded', output: 0 });
    expect(results[1]).toMatchObject({ state: 'failed', attempts: 1, error: { kind: 'timeout' } });
  });

  test('behavior: cancel stops running tasks and drops the rest', async () => {
    const job = await dryRun('export default () => { for (;;); }', [1, 2, 3, 4, 5]);
    await new Promise((r) => setTimeout(r, 300));
    const outcome = (await job.cancel()) as { state: string; counts: { cancelled: number } };
    expect(outcome.state).toBe('cancelled');
    expect(outcome.counts.cancelled).toBe(5);
  });

  test('error: inputs the API would refuse are refused the same way (exit 2)', async () => {
    const error = await dryRun('export default (x) => x', ['x'.repeat(70 * 1024)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    expect((error as CliError).message).toMatch(/input 0 is \d+ bytes as JSON; the limit is 65536/);
  });
});
