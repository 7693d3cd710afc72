import { act, cleanup, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { createClient, type MeshClient } from '../../../client/index.ts';
import { FakeSocket, FakeWebSocket, jobStatus } from '../../../client/watch-fixtures.ts';
import { useJobWatch } from './use-job-watch.ts';
import { progressOf } from './watch-state.ts';

// No vitest globals here, so Testing Library cannot unmount by itself between tests.
afterEach(cleanup);

// Reconnection, backoff and error frames are the client's (JobEvents, tested in
// client/client.test.ts); this hook folds its messages into a WatchState and follows the connection.
const client: MeshClient = createClient({ url: 'http://mesh.test', apiKey: 'tok' });
const options = { WebSocket: FakeWebSocket, baseDelayMs: 100, jitter: 0 };

/** Lets the client resolve its token and open the socket. */
const connected = () => act(() => vi.advanceTimersByTimeAsync(0));

describe('useJobWatch', () => {
  beforeEach(() => {
    FakeSocket.instances = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  test('default: snapshot, updates and finish; the socket closes once the job is finished', async () => {
    const { result } = renderHook(() => useJobWatch(client, 'job-1', options));
    expect(result.current.connection).toBe('connecting');
    await connected();
    const ws = FakeSocket.instances[0]!;
    expect(ws.url).toBe('ws://mesh.test/api/v1/jobs/job-1/events?token=tok');
    act(() => {
      ws.open();
      ws.deliver({
        type: 'job.snapshot',
        job: jobStatus(),
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
      ws.deliver({
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
      ws.deliver({
        type: 'job.finished',
        state: 'failed',
        counts: { pending: 0, leased: 0, succeeded: 2, failed: 1, cancelled: 0 },
        finishedAt: 10,
      }),
    );
    expect(result.current.connection).toBe('finished');
    expect(ws.closed).toBe(true);
    expect(progressOf(result.current.watch)).toMatchObject({ total: 3, finished: 3, fraction: 1 });
  });

  test('behavior: a dropped connection shows as reconnecting, and the next snapshot resyncs the view', async () => {
    const { result } = renderHook(() => useJobWatch(client, 'job-1', options));
    await connected();
    act(() => {
      FakeSocket.instances[0]!.open();
      FakeSocket.instances[0]!.deliver({ type: 'job.snapshot', job: jobStatus(), tasks: [[0, 'leased', 1]] });
      FakeSocket.instances[0]!.drop();
    });
    expect(result.current.connection).toBe('reconnecting');
    await act(() => vi.advanceTimersByTimeAsync(100));
    act(() => {
      FakeSocket.instances[1]!.open();
      FakeSocket.instances[1]!.deliver({
        type: 'job.snapshot',
        job: jobStatus({ counts: { pending: 1, leased: 0, succeeded: 2, failed: 0, cancelled: 0 } }),
        tasks: [
          [0, 'succeeded', 1],
          [1, 'succeeded', 1],
        ],
      });
    });
    expect(result.current.connection).toBe('open');
    expect(result.current.watch.tasks.map((t) => t.state)).toEqual(['succeeded', 'succeeded', 'pending']);
  });

  test('error: an error frame is reported and the hook stays failed', async () => {
    const { result } = renderHook(() => useJobWatch(client, 'nope', options));
    await connected();
    act(() => {
      FakeSocket.instances[0]!.deliver({ type: 'error', code: 'not_found', message: 'no job nope' });
      FakeSocket.instances[0]!.drop();
    });
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(result.current).toMatchObject({ connection: 'failed', error: 'no job nope' });
    expect(FakeSocket.instances).toHaveLength(1);
  });

  test('behavior: unmounting closes the socket and cancels a pending reconnect', async () => {
    const { unmount } = renderHook(() => useJobWatch(client, 'job-1', options));
    await connected();
    act(() => FakeSocket.instances[0]!.drop());
    unmount();
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(FakeSocket.instances).toHaveLength(1);
  });

  test('default: without a client (nobody signed in) nothing connects', async () => {
    renderHook(() => useJobWatch(undefined, 'job-1', options));
    await connected();
    expect(FakeSocket.instances).toHaveLength(0);
  });
});
