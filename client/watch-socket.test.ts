import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { HubToWatcher } from '../protocol/index.ts';
import { FakeSocket, FakeWebSocket } from './watch-fixtures.ts';
import { BadFrameError, type WatchOptions, WatchSocket, type WatchSocketState } from './watch-socket.ts';

const snapshot: HubToWatcher = { type: 'nodes.snapshot', nodes: [], at: 1 };
const update = (at: number): HubToWatcher => ({ type: 'nodes.updated', nodes: [], gone: ['a'], at });

/** A socket on the node feed that records what its listeners hear. */
function watching(options: WatchOptions & { url?: () => string | URL | Promise<string | URL> } = {}) {
  const socket = new WatchSocket({
    url: () => 'http://mesh.test/api/v1/nodes/events',
    WebSocket: FakeWebSocket,
    jitter: 0,
    ...options,
    schema: HubToWatcher,
    isSnapshot: (msg) => msg.type === 'nodes.snapshot',
  });
  const heard: string[] = [];
  const states: WatchSocketState[] = [];
  const bad: BadFrameError[] = [];
  socket.onMessage((msg, { resync }) => heard.push(resync ? `${msg.type} (resync)` : msg.type));
  socket.onState((s) => states.push(s));
  socket.onBadFrame((e) => bad.push(e));
  return { socket, heard, states, bad };
}
const last = () => FakeSocket.instances.at(-1)!;
const sockets = () => FakeSocket.instances.length;

describe('WatchSocket', () => {
  beforeEach(() => {
    FakeSocket.instances = [];
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  test('default: opens the feed as ws(s), is open once the snapshot arrives, and hears every decoded frame in order', async () => {
    const { socket, heard, states } = watching();
    expect(socket.state).toBe('connecting');
    expect(sockets()).toBe(0); // the first connection opens later, so listeners added now miss nothing
    await vi.advanceTimersByTimeAsync(0);
    const ws = last();
    expect(ws.url).toBe('ws://mesh.test/api/v1/nodes/events');
    ws.open();
    expect(socket.state).toBe('connecting'); // connected, but not in sync before the snapshot
    ws.deliver(snapshot);
    ws.deliver(update(2));
    ws.deliver({ type: 'pong' });
    expect(heard).toEqual(['nodes.snapshot (resync)', 'nodes.updated', 'pong']);
    expect(states).toEqual(['open']);
    expect(socket).toMatchObject({ state: 'open', connects: 1 });
    socket.close();
  });

  test('behavior: https becomes wss, and a ws(s) URL is kept as it is', async () => {
    const { socket } = watching({ url: () => new URL('https://mesh.test/feed?x=1') });
    const { socket: other } = watching({ url: async () => 'ws://127.0.0.1:8787/feed' });
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.instances.map((s) => s.url)).toEqual([
      'wss://mesh.test/feed?x=1',
      'ws://127.0.0.1:8787/feed',
    ]);
    socket.close();
    other.close();
  });

  test('behavior: a frame that is not JSON or does not match the schema is reported and dropped, never thrown', async () => {
    const { socket, heard, bad } = watching();
    await vi.advanceTimersByTimeAsync(0);
    last().open();
    last().deliver(snapshot);
    expect(() => {
      last().deliver('not json');
      last().deliver('{"type":"nodes.updated","nodes":"nope","gone":[],"at":1}');
      last().deliver('{"type":"mystery"}');
    }).not.toThrow();
    last().deliver(update(3));
    expect(heard).toEqual(['nodes.snapshot (resync)', 'nodes.updated']);
    expect(bad).toHaveLength(3);
    expect(bad[0]).toBeInstanceOf(BadFrameError);
    expect(bad[0]).toMatchObject({
      data: 'not json',
      message: expect.stringMatching(/^a frame that is not JSON/),
    });
    expect(bad[0]!.cause).toBeInstanceOf(SyntaxError);
    expect(bad[1]!.message).toMatch(/^a frame that does not match the schema: nodes: /);
    expect(bad[2]!.data).toBe('{"type":"mystery"}');
    socket.close();
  });

  test('behavior: reconnects with exponential backoff up to maxDelayMs; any frame resets the delay', async () => {
    const { socket, states } = watching({ baseDelayMs: 100, maxDelayMs: 300 });
    await vi.advanceTimersByTimeAsync(0);
    for (const wait of [100, 200, 300, 300]) {
      last().drop();
      const before = sockets();
      await vi.advanceTimersByTimeAsync(wait - 1);
      expect(sockets()).toBe(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(sockets()).toBe(before + 1);
    }
    expect(states).toEqual(['reconnecting']);
    last().open();
    last().deliver('a bad frame still shows the server is there');
    last().drop();
    const before = sockets();
    await vi.advanceTimersByTimeAsync(100);
    expect(sockets()).toBe(before + 1);
    socket.close();
  });

  test('behavior: jitter takes a random share off each delay, 0.5 by default; the default delay starts at 250 ms', async () => {
    const random = vi.spyOn(Math, 'random').mockReturnValue(1);
    const { socket } = watching({ jitter: undefined });
    await vi.advanceTimersByTimeAsync(0);
    last().drop();
    await vi.advanceTimersByTimeAsync(124);
    expect(sockets()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets()).toBe(2);
    random.mockReturnValue(0);
    last().drop();
    await vi.advanceTimersByTimeAsync(499);
    expect(sockets()).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets()).toBe(3);
    socket.close();

    const quarter = watching({ baseDelayMs: 1000, jitter: 0.25 });
    random.mockReturnValue(0.5);
    await vi.advanceTimersByTimeAsync(0);
    last().drop();
    await vi.advanceTimersByTimeAsync(874);
    expect(sockets()).toBe(4);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets()).toBe(5);
    quarter.socket.close();
  });

  test('behavior: every connection resyncs with its snapshot, and frames from a dropped connection are ignored', async () => {
    const { socket, heard, states } = watching({ baseDelayMs: 100 });
    await vi.advanceTimersByTimeAsync(0);
    const first = last();
    first.open();
    first.deliver(snapshot);
    first.deliver(update(2));
    first.drop();
    expect(socket.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(100);
    const second = last();
    second.open();
    first.deliver(update(3)); // late, from the old connection
    second.deliver({ ...snapshot, at: 5 });
    second.deliver(update(6));
    expect(heard).toEqual([
      'nodes.snapshot (resync)',
      'nodes.updated',
      'nodes.snapshot (resync)',
      'nodes.updated',
    ]);
    expect(states).toEqual(['open', 'reconnecting', 'open']);
    expect(socket.connects).toBe(2);
    socket.close();
  });

  test('behavior: url() is asked again before each connection (a fresh token)', async () => {
    let n = 0;
    const { socket } = watching({ url: async () => `http://mesh.test/feed?token=t${++n}`, baseDelayMs: 10 });
    await vi.advanceTimersByTimeAsync(0);
    last().drop();
    await vi.advanceTimersByTimeAsync(10);
    expect(FakeSocket.instances.map((s) => s.url)).toEqual([
      'ws://mesh.test/feed?token=t1',
      'ws://mesh.test/feed?token=t2',
    ]);
    socket.close();
  });

  test('behavior: pings every pingMs while open; a connection silent for a whole interval is replaced', async () => {
    const { socket, states } = watching({ pingMs: 1000, baseDelayMs: 100 });
    await vi.advanceTimersByTimeAsync(0);
    const ws = last();
    ws.open();
    ws.deliver(snapshot);
    await vi.advanceTimersByTimeAsync(1000);
    expect(ws.sent).toEqual(['{"type":"ping"}']);
    ws.deliver({ type: 'pong' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(ws.sent).toHaveLength(2);
    // No pong this time: at the next ping the connection is given up and a new one opens.
    await vi.advanceTimersByTimeAsync(1000);
    expect(ws.sent).toHaveLength(2);
    expect(ws).toMatchObject({ closed: true, closeCode: 4000 });
    expect(states).toEqual(['open', 'reconnecting']);
    await vi.advanceTimersByTimeAsync(100);
    expect(sockets()).toBe(2);
    // Closed first, the old socket's own close event later changes nothing.
    ws.drop();
    expect(socket.state).toBe('reconnecting');
    expect(sockets()).toBe(2);

    const quiet = watching({ pingMs: 0 });
    await vi.advanceTimersByTimeAsync(0);
    last().open();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(last().sent).toEqual([]);
    quiet.socket.close();
    socket.close();
  });

  test('error: url() throwing closes the socket for good, with the error, and opens nothing', async () => {
    const refused = new Error('no credentials');
    const { socket, states } = watching({
      url: async () => {
        throw refused;
      },
    });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sockets()).toBe(0);
    expect(states).toEqual(['closed']);
    expect(socket).toMatchObject({ state: 'closed', error: refused });
  });

  test('error: a URL that does not parse closes the socket the same way', async () => {
    const { socket } = watching({ url: () => 'not a url' });
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.state).toBe('closed');
    expect(socket.error).toBeInstanceOf(TypeError);
  });

  test('behavior: close() closes the socket, cancels a pending reconnect and stops pings; listeners hear nothing more', async () => {
    const { socket, heard, states } = watching({ pingMs: 1000 });
    await vi.advanceTimersByTimeAsync(0);
    last().drop();
    socket.close();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sockets()).toBe(1);
    expect(states).toEqual(['reconnecting']);

    const open = watching({ pingMs: 1000 });
    await vi.advanceTimersByTimeAsync(0);
    const ws = last();
    ws.open();
    open.socket.close(1000, 'bye');
    expect(ws).toMatchObject({ closed: true, closeCode: 1000 });
    ws.deliver(snapshot);
    ws.drop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(ws.sent).toEqual([]);
    expect(open.heard).toEqual([]);
    expect(open.states).toEqual([]);
    expect(open.socket.state).toBe('closed');
    expect(heard).toEqual([]);
  });

  test('behavior: close() before the first connection opens none; a listener that closes stops the others', async () => {
    watching().socket.close();
    await vi.advanceTimersByTimeAsync(0);
    expect(sockets()).toBe(0);

    const { socket } = watching();
    const after: string[] = [];
    socket.onMessage(() => socket.close());
    socket.onMessage((msg) => after.push(msg.type));
    await vi.advanceTimersByTimeAsync(0);
    last().open();
    last().deliver(snapshot);
    expect(after).toEqual([]);
    expect(last().closed).toBe(true);
  });
});
