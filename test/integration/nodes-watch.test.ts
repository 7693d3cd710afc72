import { afterEach, describe, expect, test } from 'vitest';
import {
  type HubToNode,
  HubToWatcher,
  type LeasedTask,
  type NodeInfo,
  type WatcherToHub,
} from '../../protocol/index.ts';
import {
  api,
  connectNode,
  type NodeSocket,
  newIdentity,
  nodeIdOnShard,
  signIn,
  submit,
  TestSocket,
} from './helpers.ts';

// The node map's live feed (`GET /api/v1/nodes/events`) with fake nodes on the real hub: the
// snapshot, then nodes joining (with location and kind), leasing (running), linking to peers
// (`node.mesh` `peers`) and leaving. Watchers connect to a NodeMap replica, which merges what
// every hub shard pushes. Node ids are unique per test: the hub shards are shared.

type Watcher = TestSocket<HubToWatcher, WatcherToHub>;
type Updated = Extract<HubToWatcher, { type: 'nodes.updated' }>;
type Leased = Extract<HubToNode, { type: 'task.leased' }>;

const sockets: { close(): void }[] = [];
const jobs: { id: string; token: string }[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const { id, token } of jobs.splice(0)) await api(`/jobs/${id}/cancel`, { method: 'POST', token });
});

async function watcher(): Promise<Watcher> {
  const res = await api('/nodes/events', { headers: { upgrade: 'websocket' } });
  if (!res.webSocket) throw new Error(`no websocket: ${res.status} ${await res.text()}`);
  const socket = new TestSocket<HubToWatcher, WatcherToHub>(res.webSocket);
  sockets.push(socket);
  return socket;
}

async function node(id: string, options: Parameters<typeof connectNode>[1] = {}): Promise<NodeSocket> {
  const s = await connectNode(id, { multiaddrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${id}`], ...options });
  sockets.push(s);
  return s;
}

/** The next `nodes.updated` frame in which node `id` matches `check` (every frame checked against the schema). */
async function seen(w: Watcher, id: string, check: (n: NodeInfo) => boolean = () => true): Promise<NodeInfo> {
  const frame = await w.next(
    (m): m is Updated =>
      HubToWatcher.parse(m).type === 'nodes.updated' &&
      (m as Updated).nodes.some((n) => n.nodeId === id && check(n)),
  );
  return frame.nodes.find((n) => n.nodeId === id && check(n))!;
}

const isLeased = (m: HubToNode): m is Leased => m.type === 'task.leased';

describe('nodes watch', () => {
  test('default: snapshot, then a node joins with location and kind, runs tasks, links to a peer and leaves', async () => {
    const w = await watcher();
    const snapshot = await w.next((m) => m.type === 'nodes.snapshot');
    expect(HubToWatcher.parse(snapshot).type).toBe('nodes.snapshot');

    // A browser node in Berlin joins.
    const a = await node('watch-default-a', {
      kind: 'browser',
      cf: { country: 'DE', city: 'Berlin', latitude: '52.52437', longitude: '13.41053' },
    });
    const joined = await seen(w, 'watch-default-a');
    expect(joined).toMatchObject({
      kind: 'browser',
      running: 0,
      capacity: 4,
      peerId: a.identity.peerId.toString(),
      // Rounded to about 10 km.
      location: { country: 'DE', city: 'Berlin', latitude: 52.5, longitude: 13.4 },
      peers: [],
    });

    // It leases two tasks: running 2; it reports them: running 0.
    const token = await signIn();
    const id = await submit(token, { inputs: [1, 2] });
    jobs.push({ id, token });
    a.send({ type: 'lease.request', credit: 2 });
    const tasks: LeasedTask[] = [];
    while (tasks.length < 2) tasks.push(...(await a.next(isLeased)).tasks.filter((t) => t.jobId === id));
    await seen(w, 'watch-default-a', (n) => n.running === 2);
    await a.report(
      tasks.map((t) => ({
        ok: true,
        jobId: t.jobId,
        index: t.index,
        leaseId: t.leaseId,
        output: 0,
        logs: '',
        durationMs: 1,
      })),
    );
    await seen(w, 'watch-default-a', (n) => n.running === 0);

    // A headless relay joins; the browser node connects to it over libp2p and says so.
    const b = await node('watch-default-b', { relay: true });
    expect(await seen(w, 'watch-default-b')).toMatchObject({ kind: 'headless', relay: true, location: {} });
    const bPeer = b.identity.peerId.toString();
    a.send({ type: 'node.mesh', peers: [bPeer] });
    expect((await seen(w, 'watch-default-a', (n) => n.peers?.length === 1)).peers).toEqual([bPeer]);
    // GET /nodes says the same (read from the shards at most once a second: poll).
    await expect
      .poll(
        async () =>
          ((await (await api('/nodes')).json()) as { nodes: NodeInfo[] }).nodes.find(
            (n) => n.nodeId === 'watch-default-a',
          )?.peers,
        { timeout: 5000 },
      )
      .toEqual([bPeer]);

    // The relay leaves.
    b.ws.close(1001, 'going away');
    await w.next((m) => m.type === 'nodes.updated' && m.gone.includes('watch-default-b'));
  });

  test('behavior: a new watcher sees the nodes already connected, with their links', async () => {
    // The map had a watcher, which left before the node joined (a page reloaded, say).
    const before = await watcher();
    await before.next((m) => m.type === 'nodes.snapshot');
    before.close();
    const a = await node('watch-snapshot-a');
    const other = (await newIdentity()).peerId.toString();
    a.send({ type: 'node.mesh', peers: [other] });
    // The update is applied once the hub has read it: poll GET /nodes for it.
    await expect
      .poll(
        async () => {
          const { nodes } = (await (await api('/nodes')).json()) as { nodes: NodeInfo[] };
          return nodes.find((n) => n.nodeId === 'watch-snapshot-a')?.peers;
        },
        { timeout: 5000 },
      )
      .toEqual([other]);
    const w = await watcher();
    const snapshot = await w.next((m) => m.type === 'nodes.snapshot');
    if (snapshot.type !== 'nodes.snapshot') throw new Error('unreachable');
    expect(snapshot.nodes.find((n) => n.nodeId === 'watch-snapshot-a')).toMatchObject({
      kind: 'headless',
      peers: [other],
    });
  });

  test('behavior: one watcher sees the nodes of every hub shard, joining and leaving', async () => {
    const w = await watcher();
    await w.next((m) => m.type === 'nodes.snapshot');
    const ids = [nodeIdOnShard('watch-shard-0', 0), nodeIdOnShard('watch-shard-1', 1)];
    const [n0, n1] = await Promise.all(ids.map((id) => node(id)));
    // (Both may come in one frame: the replica coalesces what the shards push.)
    const joined = new Set<string>();
    while (!ids.every((id) => joined.has(id))) {
      const frame = await w.next((m): m is Updated => m.type === 'nodes.updated');
      for (const n of frame.nodes) joined.add(n.nodeId);
    }
    // A watcher that comes later has both in its snapshot.
    const later = await watcher();
    const snapshot = await later.next((m) => m.type === 'nodes.snapshot');
    expect(snapshot.type === 'nodes.snapshot' && snapshot.nodes.map((n) => n.nodeId)).toEqual(
      expect.arrayContaining(ids),
    );
    n0!.ws.close(1000, 'bye');
    n1!.ws.close(1000, 'bye');
    const left = new Set<string>();
    while (!ids.every((id) => left.has(id))) {
      const frame = await w.next((m): m is Updated => m.type === 'nodes.updated');
      for (const id of frame.gone) left.add(id);
    }
  });

  test('behavior: changes in a burst arrive coalesced, at most one frame per 250 ms', async () => {
    const w = await watcher();
    await w.next((m) => m.type === 'nodes.snapshot');
    const a = await node('watch-burst-a');
    await seen(w, 'watch-burst-a');
    const ids = await Promise.all(
      Array.from({ length: 10 }, async () => (await newIdentity()).peerId.toString()),
    );
    const started = Date.now();
    for (let i = 1; i <= ids.length; i++) a.send({ type: 'node.mesh', peers: ids.slice(0, i) });
    await seen(w, 'watch-burst-a', (n) => n.peers?.length === ids.length);
    const frames =
      1 +
      w.messages.filter(
        (m) => m.type === 'nodes.updated' && m.nodes.some((n) => n.nodeId === 'watch-burst-a'),
      ).length;
    // Ten updates within a few ms: one or two frames (the first may leave before the rest arrive).
    expect(frames).toBeLessThanOrEqual(3);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('behavior: a node that sends no peers keeps its links; a new set replaces the old', async () => {
    const w = await watcher();
    await w.next((m) => m.type === 'nodes.snapshot');
    const a = await node('watch-replace-a');
    const [p1, p2] = await Promise.all([newIdentity(), newIdentity()]).then((l) =>
      l.map((i) => i.peerId.toString()),
    );
    a.send({ type: 'node.mesh', peers: [p1!, p2!] });
    await seen(w, 'watch-replace-a', (n) => n.peers?.length === 2);
    a.send({
      type: 'node.mesh',
      holds: { add: ['bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'] },
    });
    expect(await seen(w, 'watch-replace-a', (n) => n.holds === 1)).toMatchObject({ peers: [p1, p2] });
    a.send({ type: 'node.mesh', peers: [p2!] });
    await seen(w, 'watch-replace-a', (n) => n.peers?.length === 1 && n.peers[0] === p2);
  });

  test('error: more than 64 peers is refused', async () => {
    const a = await node('watch-too-many-a');
    a.send({ type: 'node.mesh', peers: Array.from({ length: 65 }, (_, i) => `peer-${i}`) });
    const error = await a.next((m) => m.type === 'error');
    expect(error).toMatchObject({ code: 'bad_message' });
  });

  test('behavior: pings are answered; anything else is an error frame', async () => {
    const w = await watcher();
    await w.next((m) => m.type === 'nodes.snapshot');
    w.send({ type: 'ping' });
    await w.next((m) => m.type === 'pong');
    w.send('{"type":"node.hello"}');
    expect(await w.next((m) => m.type === 'error')).toMatchObject({ code: 'bad_message' });
  });

  test('error: without an upgrade the endpoint answers 426', async () => {
    const res = await api('/nodes/events');
    expect(res.status).toBe(426);
    expect(await res.json()).toMatchObject({ error: { code: 'bad_request' } });
  });
});
