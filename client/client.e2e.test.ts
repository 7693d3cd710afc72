import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ApiServer, type Proc, startApi, startNode } from '../scripts/local-mesh.ts';
import {
  type ConnectionState,
  createClient,
  DEV_PRIVATE_KEYS,
  JobCancelledError,
  MeshApiError,
  type MeshClient,
  type Progress,
  TaskFailedError,
} from './index.ts';

// The client against real processes: `wrangler dev` (state kept on disk so it can restart) and
// two headless nodes.
const state = mkdtempSync(join(tmpdir(), 'monadmesh-client-'));
let api: ApiServer;
let mesh: MeshClient;
const nodes: Proc[] = [];

beforeAll(async () => {
  api = await startApi({ persistTo: state });
  nodes.push(
    ...(await Promise.all([startNode(api.url, { capacity: 1 }), startNode(api.url, { capacity: 1 })])),
  );
  mesh = createClient({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  await api?.stop();
  rmSync(state, { recursive: true, force: true });
});

const square = (x: number) => x * x;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('client', () => {
  test('default: ordered iteration over a 5,000-input job yields every output in input order', async () => {
    const job = await mesh.map(square, range(5000), { label: 'squares' });
    const progress: Progress[] = [];
    job.onProgress((p) => progress.push(p));
    const outputs: number[] = [];
    for await (const y of job) outputs.push(y);
    expect(outputs).toEqual(range(5000).map(square));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ total: 5000 });
    expect(await job.status()).toMatchObject({ state: 'succeeded', label: 'squares' });
  });

  test('behavior: unordered iteration yields all 5,000 results as they finish', async () => {
    const job = await mesh.map((x: number) => x + 1, range(5000));
    const seen = new Map<number, unknown>();
    for await (const r of job.unordered()) {
      expect(r.state).toBe('succeeded');
      seen.set(r.index, r.output);
    }
    expect(seen.size).toBe(5000);
    for (const i of range(5000)) expect(seen.get(i)).toBe(i + 1);
    job.close();
  });

  test('behavior: a failed task throws a typed error carrying the remote stack and logs', async () => {
    const source = `
export default function (x) {
  console.log('checking', x);
  if (x === 2) throw new TypeError('two is right out');
  return x;
}`;
    const job = await mesh.map(source, [0, 1, 2, 3]);
    const got: unknown[] = [];
    const error = await (async () => {
      try {
        for await (const y of job) got.push(y);
      } catch (err) {
        return err;
      }
    })();
    expect(got).toEqual([0, 1]);
    expect(error).toBeInstanceOf(TaskFailedError);
    const failed = error as TaskFailedError;
    expect(failed).toMatchObject({ index: 2, kind: 'user_error', jobId: job.id });
    expect(failed.message).toContain('two is right out');
    expect(failed.remoteStack).toMatch(/TypeError: two is right out/);
    expect(failed.remoteStack).toMatch(/:4:/);
    expect(failed.logs).toBe('checking 2\n');
    // results() gives every task, failures included.
    const all = [];
    for await (const r of job.results()) all.push(r.state);
    expect(all).toEqual(['succeeded', 'succeeded', 'failed', 'succeeded']);
  });

  test('behavior: cancel stops the job and iteration ends with JobCancelledError', async () => {
    const slow = `export default (x) => { let s = 0; for (let i = 0; i < 2e7; i++) s += i % 3; return s + x; }`;
    const job = await mesh.map(slow, range(300));
    await expect
      .poll(async () => (await job.status()).counts.succeeded, { timeout: 30_000 })
      .toBeGreaterThan(2);
    const cancelled = await job.cancel();
    expect(cancelled.state).toBe('cancelled');
    expect((await job.wait()).state).toBe('cancelled');
    await expect(job.collect()).rejects.toBeInstanceOf(JobCancelledError);
  });

  test('behavior: with `wait`, a small job comes back finished with its results, read without opening the event stream', async () => {
    const job = await mesh.map((x: number) => x + 1, [1, 2, 3], { wait: 20 });
    expect(await job.collect()).toEqual([2, 3, 4]);
    expect(job.eventConnections).toBe(0);
    // A failed task throws as it would from the stream.
    const failing = await mesh.map(
      'export default (x) => { if (x) throw new Error("no"); return x; }',
      [0, 1],
      {
        wait: 20,
      },
    );
    await expect(failing.collect()).rejects.toBeInstanceOf(TaskFailedError);
    expect(failing.eventConnections).toBe(0);
  });

  test('behavior: the function can come from a module file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'monadmesh-module-'));
    const file = join(dir, 'cube.mjs');
    writeFileSync(file, 'export default (x) => x ** 3;\n');
    const job = await mesh.map(pathToFileURL(file), [1, 2, 3]);
    expect(await job.collect()).toEqual([1, 8, 27]);
    rmSync(dir, { recursive: true });
  });

  test('behavior: big inputs go up as a blob automatically', async () => {
    const blobby = range(80).map((i) => `${i}:${'z'.repeat(60_000)}`);
    const job = await mesh.map((s: string) => s.length, blobby);
    expect(await job.collect()).toEqual(blobby.map((s) => s.length));
  });

  test('error: API errors are typed, with the server code', async () => {
    const err = await mesh
      .job('00000000-0000-4000-8000-000000000000')
      .status()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshApiError);
    expect(err).toMatchObject({ code: 'not_found', status: 404 });
    const unreachable = createClient({ url: 'http://127.0.0.1:9', apiKey: 'mmk_x' });
    await expect(unreachable.jobs()).rejects.toMatchObject({ code: 'unreachable' });
    const noKey = createClient({ url: api.url });
    await expect(noKey.jobs()).rejects.toMatchObject({ code: 'unauthorized' });
  });

  test('behavior: watch() hears every message and connection change; resultsPage() reads pages now', async () => {
    const job = await mesh.map((x: number) => x * 2, range(250));
    const events = job.watch();
    const types: string[] = [];
    const states: ConnectionState[] = [];
    events.onMessage((m) => types.push(m.type));
    events.onConnection((c) => states.push(c));
    await job.wait();
    await expect.poll(() => events.connection).toBe('finished');
    expect(states).toEqual(['open', 'finished']);
    expect(types[0]).toBe('job.snapshot');
    expect(types.filter((t) => !['job.snapshot', 'tasks.updated', 'job.finished'].includes(t))).toEqual([]);
    events.close();

    const outputs: unknown[] = [];
    let cursor: number | undefined = 0;
    let pages = 0;
    while (cursor !== undefined) {
      const page = await job.resultsPage({ cursor, limit: 100 });
      expect(page.total).toBe(250);
      outputs.push(...page.results.map((r) => r.output));
      cursor = page.nextCursor;
      pages++;
    }
    expect(pages).toBe(3);
    expect(outputs).toEqual(range(250).map((x) => x * 2));
    const byCompletion = await job.resultsPage({ order: 'completion', limit: 1000 });
    expect(new Set(byCompletion.results.map((r) => r.index)).size).toBe(250);
    await expect(job.resultsPage({ signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  // Last: it restarts the API.
  test('behavior: the event stream reconnects after the Worker restarts and iteration completes', async () => {
    const work = `export default (x) => { let s = 0; for (let i = 0; i < 4e6; i++) s = (s + i * x) % 1000003; return s; }`;
    const job = await mesh.map(work, range(400));
    const outputs: number[] = [];
    const iterating = (async () => {
      for await (const y of job) outputs.push(y as number);
    })();
    await expect.poll(() => outputs.length, { timeout: 30_000 }).toBeGreaterThan(10);
    const { port } = api;
    await api.proc.stop();
    api = await startApi({ port, persistTo: state });
    await iterating;
    const expected = (x: number) => {
      let s = 0;
      for (let i = 0; i < 4e6; i++) s = (s + i * x) % 1000003;
      return s;
    };
    expect(outputs).toEqual(range(400).map(expected));
    expect(job.eventConnections).toBeGreaterThanOrEqual(2);
  });
});
