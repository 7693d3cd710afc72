import { act, cleanup, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { JobStatus, RoomToWatcher } from '../../../protocol/index.ts';
import { useJobWatch } from './use-job-watch.ts';
import { progressOf } from './watch-state.ts';

// No vitest globals here, so Testing Library cannot unmount by itself between tests.
afterEach(cleanup);

/** A WebSocket the test drives: it records every instance and lets the test open, feed and drop it. */
class FakeSocket extends EventTarget {
  static instances: FakeSocket[] = [];
  readonly url: string;
  closed = false;
  constructor(url: string | URL) {
    super();
    this.url = String(url);
    FakeSocket.instances.push(this);
  }
  open() {
    this.dispatchEvent(new Event('open'));
  }
  send(msg: RoomToWatcher) {
    this.dispatchEvent(new MessageEvent('message', { data: JSON.stringify(msg) }));
  }
  drop() {
    this.dispatchEvent(new CloseEvent('close', { code: 1006 }));
  }
  close() {
    this.closed = true;
  }
}

const job = (over: Partial<JobStatus> = {}): JobStatus => ({
  id: 'job-1',
  owner: '0xabc',
  state: 'running',
  runtime: 'python',
  codeCid: 'bafkreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe',
  total: 3,
  counts: { pending: 3, leased: 0, succeeded: 0, failed: 0, cancelled: 0 },
  timeoutMs: 30_000,
  maxAttempts: 3,
  memoryMb: 128,
  createdAt: 0,
  ...over,
});

const Ws = FakeSocket as unknown as typeof WebSocket;

describe('useJobWatch', () => {
  beforeEach(() => {
    FakeSocket.instances = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  test('default: snapshot, updates and finish; the socket closes once the job is finished', () => {
    const { result } = renderHook(() => useJobWatch('http://mesh.test', 'job-1', 'tok', { WebSocket: Ws }));
    const ws = FakeSocket.instances[0]!;
    expect(ws.url).toBe('ws://mesh.test/api/v1/jobs/job-1/events?token=tok');
    act(() => {
      ws.open();
      ws.send({
        type: 'job.snapshot',
        job: job(),
        tasks: [
          [0, 'pending', 0],
          [1, 'pending', 0],
          [2, 'pending', 0],
        ],
      });
    });
    expect(result.current.connection).toBe('open');
    expect(result.current.watch.tasks.map((t) => t.state)).toEqual(['pending', 'pending', 'pending']);
    act(() =>
      ws.send({
        type: 'tasks.updated',
        updates: [
          { index: 0, state: 'succeeded', attempt: 1, nodeId: 'n1', durationMs: 5 },
          { index: 1, state: 'failed', attempt: 1, error: { kind: 'user_error', message: 'boom' } },
        ],
        counts: { pending: 0, leased: 1, succeeded: 1, failed: 1, cancelled: 0 },
      }),
    );
    expect(result.current.watch.tasks[0]).toEqual({
      state: 'succeeded',
      attempts: 1,
      nodeId: 'n1',
      durationMs: 5,
    });
    expect(result.current.watch.tasks[1]?.error?.message).toBe('boom');
    act(() =>
      ws.send({
        type: 'job.finished',
        state: 'failed',
        counts: { pending: 0, leased: 0, succeeded: 2, failed: 1, cancelled: 0 },
        finishedAt: 10,
      }),
    );
    expect(result.current.connection).toBe('finished');
    expect(ws.closed).toBe(true);
    expect(progressOf(result.current.watch)).toMatchObject({ total: 3, finished: 3, fraction: 1 });
    act(() => ws.drop());
    vi.advanceTimersByTime(10_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  test('behavior: reconnects with backoff while running, and the new snapshot resyncs', () => {
    const { result } = renderHook(() =>
      useJobWatch('https://mesh.test', 'job-1', 'tok', { WebSocket: Ws, baseDelayMs: 100, maxDelayMs: 400 }),
    );
    const first = FakeSocket.instances[0]!;
    expect(first.url.startsWith('wss://')).toBe(true);
    act(() => {
      first.open();
      first.send({
        type: 'job.snapshot',
        job: job(),
        tasks: [
          [0, 'leased', 1],
          [1, 'pending', 0],
          [2, 'pending', 0],
        ],
      });
      first.drop();
    });
    expect(result.current.connection).toBe('reconnecting');
    act(() => vi.advanceTimersByTime(99));
    expect(FakeSocket.instances).toHaveLength(1);
    act(() => vi.advanceTimersByTime(1));
    expect(FakeSocket.instances).toHaveLength(2);
    // Dropped again before any message: the delay doubles.
    act(() => FakeSocket.instances[1]!.drop());
    act(() => vi.advanceTimersByTime(199));
    expect(FakeSocket.instances).toHaveLength(2);
    act(() => vi.advanceTimersByTime(1));
    const third = FakeSocket.instances[2]!;
    // Tasks finished while we were away: the snapshot says so.
    act(() => {
      third.open();
      third.send({
        type: 'job.snapshot',
        job: job({ counts: { pending: 1, leased: 0, succeeded: 2, failed: 0, cancelled: 0 } }),
        tasks: [
          [0, 'succeeded', 1],
          [1, 'succeeded', 1],
          [2, 'pending', 0],
        ],
      });
    });
    expect(result.current.connection).toBe('open');
    expect(result.current.watch.tasks.map((t) => t.state)).toEqual(['succeeded', 'succeeded', 'pending']);
  });

  test('behavior: the delay is capped and resets after a message', () => {
    renderHook(() =>
      useJobWatch('http://mesh.test', 'job-1', 'tok', { WebSocket: Ws, baseDelayMs: 100, maxDelayMs: 300 }),
    );
    for (const wait of [100, 200, 300, 300]) {
      act(() => FakeSocket.instances.at(-1)!.drop());
      const before = FakeSocket.instances.length;
      act(() => vi.advanceTimersByTime(wait));
      expect(FakeSocket.instances.length).toBe(before + 1);
    }
    const ws = FakeSocket.instances.at(-1)!;
    act(() => {
      ws.send({ type: 'pong' });
      ws.drop();
    });
    const before = FakeSocket.instances.length;
    act(() => vi.advanceTimersByTime(100));
    expect(FakeSocket.instances.length).toBe(before + 1);
  });

  test('error: an error frame stops reconnecting and is reported', () => {
    const { result } = renderHook(() => useJobWatch('http://mesh.test', 'nope', 'tok', { WebSocket: Ws }));
    act(() => {
      FakeSocket.instances[0]!.send({ type: 'error', code: 'not_found', message: 'no job nope' });
      FakeSocket.instances[0]!.drop();
    });
    act(() => vi.advanceTimersByTime(10_000));
    expect(result.current).toMatchObject({ connection: 'failed', error: 'no job nope' });
    expect(FakeSocket.instances).toHaveLength(1);
  });

  test('behavior: unmounting closes the socket and cancels a pending reconnect', () => {
    const { unmount } = renderHook(() => useJobWatch('http://mesh.test', 'job-1', 'tok', { WebSocket: Ws }));
    act(() => FakeSocket.instances[0]!.drop());
    unmount();
    act(() => vi.advanceTimersByTime(10_000));
    expect(FakeSocket.instances).toHaveLength(1);
  });

  test('default: without a token nothing connects', () => {
    renderHook(() => useJobWatch('http://mesh.test', 'job-1', undefined, { WebSocket: Ws }));
    expect(FakeSocket.instances).toHaveLength(0);
  });
});
