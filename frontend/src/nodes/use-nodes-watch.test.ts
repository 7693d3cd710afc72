import { act, cleanup, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { FakeSocket, FakeWebSocket } from '../../../client/watch-fixtures.ts';
import type { HubToWatcher } from '../../../protocol/index.ts';
import { nodeInfo } from './fixtures.ts';
import { useNodesWatch } from './use-nodes-watch.ts';

afterEach(cleanup);

// Exact delays: the backoff's jitter is the client's WatchSocket's (client/watch-socket.test.ts).
const options = { WebSocket: FakeWebSocket, baseDelayMs: 100, maxDelayMs: 400, jitter: 0 };
const frame = (ws: FakeSocket, msg: HubToWatcher) => ws.deliver(JSON.stringify(msg));

describe('useNodesWatch', () => {
  beforeEach(() => {
    FakeSocket.instances = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  test('default: connects to the feed, applies the snapshot and updates', async () => {
    const { result } = renderHook(() => useNodesWatch('http://mesh.test', options));
    expect(result.current.connection).toBe('connecting');
    await act(() => vi.advanceTimersByTimeAsync(0));
    const ws = FakeSocket.instances[0]!;
    expect(ws.url).toBe('ws://mesh.test/api/v1/nodes/events');
    act(() => {
      ws.open();
      frame(ws, { type: 'nodes.snapshot', nodes: [nodeInfo('a')], at: 1 });
    });
    expect(result.current.connection).toBe('open');
    expect([...result.current.state.nodes.keys()]).toEqual(['a']);
    act(() =>
      frame(ws, { type: 'nodes.updated', nodes: [nodeInfo('b', { running: 1 })], gone: ['a'], at: 2 }),
    );
    expect([...result.current.state.nodes.keys()]).toEqual(['b']);
    // A frame that does not decode is dropped.
    act(() => ws.deliver('{"type":"nodes.updated","nodes":"nope"}'));
    expect(result.current.state.version).toBe(2);
  });

  test('behavior: reconnects with backoff after a drop, and the new snapshot replaces what was known', async () => {
    const { result, unmount } = renderHook(() => useNodesWatch('https://mesh.test', options));
    await act(() => vi.advanceTimersByTimeAsync(0));
    const first = FakeSocket.instances[0]!;
    expect(first.url).toBe('wss://mesh.test/api/v1/nodes/events');
    act(() => {
      first.open();
      frame(first, { type: 'nodes.snapshot', nodes: [nodeInfo('a'), nodeInfo('b')], at: 1 });
    });
    act(() => first.drop());
    expect(result.current.connection).toBe('reconnecting');
    // The second attempt also fails: 100 ms, then 200 ms.
    await act(() => vi.advanceTimersByTimeAsync(100));
    expect(FakeSocket.instances).toHaveLength(2);
    act(() => FakeSocket.instances[1]!.drop());
    await act(() => vi.advanceTimersByTimeAsync(150));
    expect(FakeSocket.instances).toHaveLength(2);
    await act(() => vi.advanceTimersByTimeAsync(50));
    const third = FakeSocket.instances[2]!;
    act(() => {
      third.open();
      frame(third, { type: 'nodes.snapshot', nodes: [nodeInfo('b')], at: 5 });
    });
    expect(result.current.connection).toBe('open');
    expect([...result.current.state.nodes.keys()]).toEqual(['b']);
    unmount();
    expect(third.closed).toBe(true);
    await act(() => vi.advanceTimersByTimeAsync(1000));
    expect(FakeSocket.instances).toHaveLength(3);
  });

  test('behavior: pings the hub while open', async () => {
    const { unmount } = renderHook(() => useNodesWatch('http://mesh.test', { ...options, pingMs: 1000 }));
    await act(() => vi.advanceTimersByTimeAsync(0));
    const ws = FakeSocket.instances[0]!;
    act(() => {
      ws.open();
      frame(ws, { type: 'nodes.snapshot', nodes: [], at: 1 });
    });
    await act(() => vi.advanceTimersByTimeAsync(1000));
    expect(ws.sent).toEqual(['{"type":"ping"}']);
    unmount();
  });

  test('error: a feed that cannot open (an origin that is not a URL) shows as closed', async () => {
    const { result } = renderHook(() => useNodesWatch('not a url', options));
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(result.current.connection).toBe('closed');
    expect(FakeSocket.instances).toHaveLength(0);
  });
});
