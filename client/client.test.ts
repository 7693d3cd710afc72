import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { ResultsPage, RoomToWatcher } from '../protocol/index.ts';
import { createClient, moduleSource } from './client.ts';
import { MeshApiError } from './errors.ts';
import type { FetchLike } from './http.ts';
import type { ConnectionState } from './job-events.ts';
import { FakeSocket, FakeWebSocket, jobStatus } from './watch-fixtures.ts';
import type { WatchOptions } from './watch-socket.ts';

describe('moduleSource', () => {
  test('default: arrow and function expressions become the default export', () => {
    expect(moduleSource((x: number) => x * 2)).toBe('export default (x) => x * 2;\n');
    expect(
      moduleSource(function named(x: number) {
        return x;
      }),
    ).toMatch(/^export default function named\(x\)/);
    expect(moduleSource(async (x: number) => x)).toMatch(/^export default async \(x\) => x/);
  });

  test('behavior: method shorthand is turned into a function expression', () => {
    const o = {
      double(x: number) {
        return x * 2;
      },
      async half(x: number) {
        return x / 2;
      },
    };
    expect(moduleSource(o.double)).toMatch(/^export default function double\(x\)/);
    expect(moduleSource(o.half)).toMatch(/^export default async function half\(x\)/);
  });

  test('behavior: a string is taken as module source as it is', () => {
    expect(moduleSource('export default (x) => x')).toBe('export default (x) => x');
  });

  test('error: native functions are refused', () => {
    expect(() => moduleSource(Math.max as never)).toThrow(/native/);
  });
});

describe('map with WebAssembly', () => {
  const wasm = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

  /** A client whose fetch records the requests and answers like the API. */
  function recordingClient() {
    const requests: { method: string; path: string; body: unknown }[] = [];
    const client = createClient({
      url: 'http://api.test',
      apiKey: 'mmk_test',
      fetch: async (url, init) => {
        const path = new URL(url).pathname;
        const method = init?.method ?? 'GET';
        const raw = init?.body;
        const body = raw instanceof Uint8Array ? [...(raw as Uint8Array)] : JSON.parse(String(raw ?? 'null'));
        requests.push({ method, path, body });
        const json =
          path === '/api/v1/blobs'
            ? { cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', size: 8 }
            : {
                id: '00000000-0000-0000-0000-000000000000',
                state: 'running',
                total: 2,
                codeCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
                links: { self: '', results: '', events: '', cancel: '' },
              };
        return new Response(JSON.stringify(json), { status: 201 });
      },
    });
    return { client, requests };
  }

  test('default: module bytes are uploaded as a blob and submitted as runtime wasm by codeCid', async () => {
    const { client, requests } = recordingClient();
    await client.map(
      wasm,
      [
        { lo: 0, hi: 10 },
        { lo: 10, hi: 20 },
      ],
      { memoryMb: 64 },
    );
    expect(requests).toEqual([
      { method: 'PUT', path: '/api/v1/blobs', body: [...wasm] },
      {
        method: 'POST',
        path: '/api/v1/jobs',
        body: {
          runtime: 'wasm',
          codeCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
          inputs: [
            { lo: 0, hi: 10 },
            { lo: 10, hi: 20 },
          ],
          memoryMb: 64,
        },
      },
    ]);
  });

  test('behavior: a file URL of a .wasm file is read as bytes; a .js file still as source', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'monadmesh-client-wasm-'));
    try {
      writeFileSync(join(dir, 'f.wasm'), wasm);
      writeFileSync(join(dir, 'f.js'), 'export default (x) => x');
      const { client, requests } = recordingClient();
      await client.map(pathToFileURL(join(dir, 'f.wasm')), [1]);
      await client.map(pathToFileURL(join(dir, 'f.js')), [1]);
      expect(requests.map((r) => [r.method, r.path, (r.body as { runtime?: string }).runtime])).toEqual([
        ['PUT', '/api/v1/blobs', undefined],
        ['POST', '/api/v1/jobs', 'wasm'],
        ['POST', '/api/v1/jobs', 'js'],
      ]);
      expect(requests[2]!.body).toMatchObject({ source: 'export default (x) => x' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('error: bytes that are not a module, or a module on another runtime, are refused before any request', async () => {
    const { client, requests } = recordingClient();
    await expect(client.map(new TextEncoder().encode('export default 1'), [1])).rejects.toThrow(
      /not a WebAssembly module/,
    );
    await expect(client.map(wasm, [1], { runtime: 'js' })).rejects.toThrow(
      /runs on the wasm runtime, not js/,
    );
    expect(requests).toEqual([]);
  });
});

describe('JobHandle.watch (JobEvents)', () => {
  beforeEach(() => {
    FakeSocket.instances = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  /** A stream on job-1 that records every message and connection change. */
  async function watched(options: { url?: string; apiKey?: string } & WatchOptions = {}) {
    const { url = 'http://mesh.test', apiKey = 'tok', ...watch } = options;
    const client = createClient({ url, ...(apiKey ? { apiKey } : {}), WebSocket: FakeWebSocket });
    // Exact delays (no jitter): the jitter itself is WatchSocket's, tested in watch-socket.test.ts.
    const events = client.job('job-1').watch({ jitter: 0, ...watch });
    const messages: RoomToWatcher['type'][] = [];
    const states: ConnectionState[] = [];
    events.onMessage((m) => messages.push(m.type));
    events.onConnection((c) => states.push(c));
    await vi.advanceTimersByTimeAsync(0); // the token resolves; the first socket opens
    return { events, messages, states };
  }
  const last = () => FakeSocket.instances.at(-1)!;
  const snapshot = (
    tasks: [number, 'pending' | 'leased' | 'succeeded', number][],
    over = {},
  ): RoomToWatcher => ({
    type: 'job.snapshot',
    job: jobStatus(over),
    tasks,
  });

  test('default: every decoded message in order, connection changes, and the stream closes once the job is finished', async () => {
    const { events, messages, states } = await watched();
    const progress: number[] = [];
    events.onProgress((p) => progress.push(p.counts.succeeded));
    const ws = last();
    expect(ws.url).toBe('ws://mesh.test/api/v1/jobs/job-1/events?token=tok');
    expect(events.connection).toBe('connecting');
    ws.open();
    ws.deliver(
      snapshot([
        [0, 'pending', 0],
        [1, 'pending', 0],
        [2, 'pending', 0],
      ]),
    );
    ws.deliver({ type: 'pong' });
    ws.deliver('not json');
    ws.deliver('{"type":"mystery"}');
    ws.deliver({
      type: 'tasks.updated',
      updates: [{ index: 0, state: 'succeeded', attempt: 1, nodeId: 'n1', durationMs: 5 }],
      counts: { pending: 2, leased: 0, succeeded: 1, failed: 0, cancelled: 0 },
    });
    expect(events.finalRun(0, 3)).toBe(1);
    ws.deliver({
      type: 'job.finished',
      state: 'succeeded',
      counts: { pending: 0, leased: 0, succeeded: 3, failed: 0, cancelled: 0 },
      finishedAt: 10,
    });
    expect(messages).toEqual(['job.snapshot', 'pong', 'tasks.updated', 'job.finished']);
    expect(states).toEqual(['open', 'finished']);
    expect(progress).toEqual([0, 1, 3]);
    expect(events).toMatchObject({ state: 'succeeded', connection: 'finished', connects: 1 });
    expect(ws.closed).toBe(true);
    ws.drop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  test('behavior: reconnects with backoff while running, and the new snapshot resyncs', async () => {
    const { events, states } = await watched({ url: 'https://mesh.test', baseDelayMs: 100, maxDelayMs: 400 });
    const first = last();
    expect(first.url.startsWith('wss://')).toBe(true);
    first.open();
    first.deliver(
      snapshot([
        [0, 'leased', 1],
        [1, 'pending', 0],
        [2, 'pending', 0],
      ]),
    );
    first.drop();
    expect(events.connection).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(99);
    expect(FakeSocket.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.instances).toHaveLength(2);
    // Dropped again before any message: the delay doubles.
    last().drop();
    await vi.advanceTimersByTimeAsync(199);
    expect(FakeSocket.instances).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    const third = last();
    // Tasks finished while we were away: the snapshot says so.
    third.open();
    third.deliver(
      snapshot(
        [
          [0, 'succeeded', 1],
          [1, 'succeeded', 1],
          [2, 'pending', 0],
        ],
        {
          counts: { pending: 1, leased: 0, succeeded: 2, failed: 0, cancelled: 0 },
        },
      ),
    );
    expect(events.finalRun(0, 3)).toBe(2);
    expect(states).toEqual(['open', 'reconnecting', 'open']);
    expect(events.connects).toBe(2);
    events.close();
  });

  test('behavior: the delay is capped and resets after any message; the default starts at 250 ms', async () => {
    await watched({ baseDelayMs: 100, maxDelayMs: 300 });
    for (const wait of [100, 200, 300, 300]) {
      last().drop();
      const before = FakeSocket.instances.length;
      await vi.advanceTimersByTimeAsync(wait);
      expect(FakeSocket.instances.length).toBe(before + 1);
    }
    last().deliver({ type: 'pong' });
    last().drop();
    const before = FakeSocket.instances.length;
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeSocket.instances.length).toBe(before + 1);

    FakeSocket.instances = [];
    const { events } = await watched();
    last().drop();
    await vi.advanceTimersByTimeAsync(249);
    expect(FakeSocket.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.instances).toHaveLength(2);
    events.close();
  });

  test('error: an error frame stops reconnecting and says why', async () => {
    const { events, messages, states } = await watched();
    last().deliver({ type: 'error', code: 'not_found', message: 'no job nope' });
    last().drop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(FakeSocket.instances).toHaveLength(1);
    expect(last().closed).toBe(true);
    expect(messages).toEqual(['error']);
    expect(states).toEqual(['failed']);
    expect(events.error).toBeInstanceOf(MeshApiError);
    expect(events.error).toMatchObject({ code: 'not_found', status: 404, message: 'no job nope' });
  });

  test('error: without credentials the stream fails and opens no socket', async () => {
    const { events, states } = await watched({ apiKey: '' });
    expect(FakeSocket.instances).toHaveLength(0);
    expect(states).toEqual(['failed']);
    expect(events.error).toMatchObject({ code: 'unauthorized' });
  });

  test('behavior: pings while the job runs; the pongs are heard as messages', async () => {
    const { events, messages } = await watched({ pingMs: 1000 });
    last().open();
    last().deliver(snapshot([[0, 'pending', 0]]));
    await vi.advanceTimersByTimeAsync(1000);
    expect(last().sent).toEqual(['{"type":"ping"}']);
    last().deliver({ type: 'pong' });
    expect(messages).toEqual(['job.snapshot', 'pong']);
    events.close();
  });

  test('behavior: close() closes the socket, cancels a pending reconnect and stops the listeners', async () => {
    const { events, states } = await watched();
    last().drop();
    events.close();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(FakeSocket.instances).toHaveLength(1);
    expect(states).toEqual(['reconnecting']);
  });
});

describe('JobHandle.resultsPage', () => {
  const page: ResultsPage = {
    jobId: 'job-1',
    state: 'running',
    total: 250,
    results: [{ index: 100, state: 'succeeded', output: 1e4, attempts: 1 }],
    nextCursor: 101,
  };
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });

  /** A client whose fetch answers with `answers` in turn (the last one repeats), recording requests. */
  function paging(...answers: (() => Response | Promise<Response>)[]) {
    const requests: { url: string; auth: string | null }[] = [];
    const fetch: FetchLike = async (url, init) => {
      requests.push({ url, auth: new Headers(init?.headers).get('authorization') });
      const answer = answers[Math.min(requests.length - 1, answers.length - 1)]!;
      if (init?.signal?.aborted) throw init.signal.reason;
      return answer();
    };
    const job = createClient({ url: 'http://api.test', apiKey: 'mmk_test', fetch }).job('job-1');
    return { job, requests };
  }

  test('default: the page at cursor, limit and order, with the bearer token, decoded', async () => {
    const { job, requests } = paging(() => json(page));
    expect(await job.resultsPage({ cursor: 100, limit: 1 })).toEqual(page);
    await job.resultsPage({ cursor: 7, limit: 50, order: 'completion' });
    await job.resultsPage();
    expect(requests).toEqual([
      {
        url: 'http://api.test/api/v1/jobs/job-1/results?cursor=100&limit=1&order=index',
        auth: 'Bearer mmk_test',
      },
      {
        url: 'http://api.test/api/v1/jobs/job-1/results?cursor=7&limit=50&order=completion',
        auth: 'Bearer mmk_test',
      },
      {
        url: 'http://api.test/api/v1/jobs/job-1/results?cursor=0&limit=100&order=index',
        auth: 'Bearer mmk_test',
      },
    ]);
  });

  test('behavior: retries while the API is unreachable or answers 5xx, then returns the page', async () => {
    const { job, requests } = paging(
      () => Promise.reject(new TypeError('fetch failed')),
      () => json({ error: { code: 'internal', message: 'restarting' } }, 503),
      () => json(page),
    );
    expect(await job.resultsPage({ cursor: 100, limit: 1 })).toEqual(page);
    expect(requests).toHaveLength(3);
  });

  test('error: an API error is a MeshApiError with its code, at once', async () => {
    const { job, requests } = paging(() =>
      json({ error: { code: 'not_found', message: 'no job job-1' } }, 404),
    );
    const err = await job.resultsPage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshApiError);
    expect(err).toMatchObject({ code: 'not_found', status: 404, message: 'no job job-1' });
    expect(requests).toHaveLength(1);
  });

  test('behavior: an aborted signal stops the read, in flight or between retries', async () => {
    // In flight: like fetch, the fake rejects with the signal's reason when it is aborted.
    const requests: string[] = [];
    const hanging = createClient({
      url: 'http://api.test',
      apiKey: 'mmk_test',
      fetch: (url, init) =>
        new Promise<Response>((_, reject) => {
          requests.push(url);
          init?.signal?.addEventListener('abort', () => reject(init.signal!.reason));
        }),
    }).job('job-1');
    const abort = new AbortController();
    const pending = hanging.resultsPage({ signal: abort.signal });
    await vi.waitFor(() => expect(requests).toHaveLength(1));
    abort.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(requests).toHaveLength(1);

    // Between retries: the backoff ends at once.
    const down = paging(() => json({ error: { code: 'internal', message: 'down' } }, 503));
    const retrying = new AbortController();
    const read = down.job.resultsPage({ signal: retrying.signal });
    await vi.waitFor(() => expect(down.requests).toHaveLength(1));
    const t0 = Date.now();
    retrying.abort();
    await expect(read).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - t0).toBeLessThan(150);
    expect(down.requests).toHaveLength(1);
    await expect(down.job.resultsPage({ signal: retrying.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(down.requests).toHaveLength(1);
  });
});
