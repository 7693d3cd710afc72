import { afterEach, describe, expect, test } from 'vitest';
import { chunkBlob } from '../../protocol/blob-dag.ts';
import type { HubToNode, NodeInfo } from '../../protocol/index.ts';
import { api, connectNode, type NodeSocket, nodeIdOnShard, signIn, submit } from './helpers.ts';

// The data plane hints of the hub shards. With each lease (`task.leased` `providers`): the nodes
// that hold a blob whole, then the nodes that are fetching it right now, so that a new blob that
// reaches many nodes at once is fetched from the origin by the first of them only; a blob nobody
// on the node's own shard holds is looked up on the other shards. With the welcome and
// `mesh.peers`: relays, the other shards' too. Node ids are unique per test: the shards are shared.

type Leased = Extract<HubToNode, { type: 'task.leased' }>;
type MeshPeers = Extract<HubToNode, { type: 'mesh.peers' }>;
const isLeased = (m: HubToNode): m is Leased => m.type === 'task.leased';
const isMeshPeers = (m: HubToNode): m is MeshPeers => m.type === 'mesh.peers';

const sockets: NodeSocket[] = [];
const jobs: { id: string; token: string }[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const { id, token } of jobs.splice(0)) await api(`/jobs/${id}/cancel`, { method: 'POST', token });
});

/** A node with a libp2p peer, on hub shard `shard` (0 unless said). */
async function node(
  name: string,
  options: { shard?: number; relay?: boolean } = {},
): Promise<{ id: string; s: NodeSocket; peerId: string }> {
  const id = nodeIdOnShard(name, options.shard ?? 0);
  const s = await connectNode(id, {
    multiaddrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${id}`],
    capacity: 1,
    ...(options.relay ? { relay: true } : {}),
  });
  sockets.push(s);
  return { id, s, peerId: s.identity.peerId.toString() };
}

const nodes = async () => ((await (await api('/nodes')).json()) as { nodes: NodeInfo[] }).nodes;

/** Ask for one task and return the lease frame that carries a task of `jobId` (other tests' jobs may come first). */
async function lease(n: { s: NodeSocket }, jobId: string): Promise<Leased> {
  n.s.send({ type: 'lease.request', credit: 1 });
  for (;;) {
    const frame = await n.s.next(isLeased);
    if (frame.tasks.some((t) => t.jobId === jobId)) return frame;
    n.s.send({ type: 'lease.request', credit: 1 });
  }
}

/** A stored single-block blob, unique to `seed`. */
async function blob(token: string, seed: string): Promise<string> {
  const { root, blocks } = await chunkBlob(new TextEncoder().encode(JSON.stringify({ seed })));
  for (const block of blocks) {
    const res = await api(`/blobs/${block.cid}`, {
      method: 'PUT',
      token,
      body: block.bytes as Uint8Array<ArrayBuffer>,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(res.status).toBe(201);
  }
  return root.toString();
}

async function job(token: string, inputs: unknown[]): Promise<string> {
  const id = await submit(token, { inputs: inputs as never });
  jobs.push({ id, token });
  return id;
}

describe('provider hints', () => {
  test('default: a node leased a new blob is named as a provider to the next of its shard, after the nodes that hold it', async () => {
    const token = await signIn();
    const cid = await blob(token, `fetching-${crypto.randomUUID()}`);
    const a = await node('prov-a');
    const b = await node('prov-b');
    const c = await node('prov-c');
    const id = await job(
      token,
      Array.from({ length: 3 }, () => `ipfs://${cid}`),
    );

    // Nobody holds it: the first node gets no hint for it and asks the origin.
    expect((await lease(a, id)).providers?.[cid]).toBeUndefined();
    // The second is pointed at the first, which is fetching it.
    expect((await lease(b, id)).providers?.[cid]?.map((p) => p.peerId)).toEqual([a.peerId]);
    // Once the second holds it whole, it comes first for the third; the first still fetches.
    b.s.send({ type: 'node.mesh', holds: { add: [cid] } });
    expect((await lease(c, id)).providers?.[cid]?.map((p) => p.peerId)).toEqual([b.peerId, a.peerId]);

    // GET /nodes counts only blobs held whole (it is read from the shards at most once a second).
    const holds = async () => new Map((await nodes()).map((n) => [n.nodeId, n.holds]));
    await expect.poll(async () => (await holds()).get(b.id), { timeout: 5000 }).toBe(1);
    expect((await holds()).get(a.id)).toBe(0);
  });

  test('behavior: a node that holds a blob whole is given no hints for it; a node still fetching it is pointed at that one', async () => {
    const token = await signIn();
    const cid = await blob(token, `held-${crypto.randomUUID()}`);
    const a = await node('held-a');
    const b = await node('held-b');
    const id = await job(
      token,
      Array.from({ length: 4 }, () => `ipfs://${cid}`),
    );
    expect((await lease(a, id)).providers?.[cid]).toBeUndefined();
    b.s.send({ type: 'node.mesh', holds: { add: [cid] } });
    // b has it: nothing to look up for it (a, fetching, would otherwise be named).
    expect((await lease(b, id)).providers?.[cid]).toBeUndefined();
    // a is still fetching it: pointed at b, which holds it whole.
    expect((await lease(a, id)).providers?.[cid]?.map((p) => p.peerId)).toEqual([b.peerId]);
  });

  test("behavior: a blob nobody on the node's shard holds is looked up on the other shards", async () => {
    const token = await signIn();
    const cid = await blob(token, `remote-${crypto.randomUUID()}`);
    const a = await node('prov-remote-a', { shard: 0 });
    const b = await node('prov-remote-b', { shard: 1 });
    const c = await node('prov-remote-c', { shard: 1 });
    const id = await job(
      token,
      Array.from({ length: 3 }, () => `ipfs://${cid}`),
    );
    // Nobody anywhere holds it.
    expect((await lease(a, id)).providers?.[cid]).toBeUndefined();
    a.s.send({ type: 'node.mesh', holds: { add: [cid] } });
    // Give the announcement time to be applied (GET /nodes shows it).
    await expect
      .poll(async () => (await nodes()).find((n) => n.nodeId === a.id)?.holds, { timeout: 5000 })
      .toBe(1);
    // Nobody on b's shard has it: shard 0 is asked, and names a.
    expect((await lease(b, id)).providers?.[cid]).toEqual([
      {
        peerId: a.peerId,
        kind: 'headless',
        relay: false,
        multiaddrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${a.id}`],
      },
    ]);
    // Now b, on c's own shard, is fetching it: c is pointed at b first, then at a on shard 0.
    expect((await lease(c, id)).providers?.[cid]?.map((p) => p.peerId)).toEqual([b.peerId, a.peerId]);
  });

  test('behavior: the first fetchers of a new blob on two shards at once: one is pointed at the other, never both', async () => {
    const token = await signIn();
    for (let round = 0; round < 3; round++) {
      const cid = await blob(token, `race-${round}-${crypto.randomUUID()}`);
      const a = await node(`prov-race${round}-a`, { shard: 0 });
      const b = await node(`prov-race${round}-b`, { shard: 1 });
      const id = await job(
        token,
        Array.from({ length: 2 }, () => `ipfs://${cid}`),
      );
      // Both shards lease it at the same moment; each asks the other about the blob.
      const [la, lb] = await Promise.all([lease(a, id), lease(b, id)]);
      const named = [la.providers?.[cid] ?? [], lb.providers?.[cid] ?? []].map((h) => h.map((p) => p.peerId));
      // Exactly one of them goes to the origin; the other waits on it (not on itself).
      expect(named.filter((n) => n.length === 0)).toHaveLength(1);
      expect(named.flat()).toHaveLength(1);
      expect([a.peerId, b.peerId]).toContain(named.flat()[0]);
      expect(named[0]).not.toContain(a.peerId);
      expect(named[1]).not.toContain(b.peerId);
    }
  });

  test('behavior: relays of another shard are handed out, and withdrawn when they leave', async () => {
    const n = await node('relay-client', { shard: 1 });
    const r = await node('relay-server', { shard: 0, relay: true });
    const named = (m: MeshPeers) => m.peers.some((p) => p.peerId === r.peerId);
    // Shard 0 tells shard 1, which tells its nodes.
    const got = await n.s.next((m): m is MeshPeers => isMeshPeers(m) && named(m));
    expect(got.peers.find((p) => p.peerId === r.peerId)).toEqual({
      peerId: r.peerId,
      kind: 'headless',
      relay: true,
      multiaddrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${r.id}`],
    });
    // A node that joins shard 1 later gets it in its welcome.
    const later = await node('relay-later', { shard: 1 });
    expect(later.s.welcome?.peers?.map((p) => p.peerId)).toContain(r.peerId);
    r.s.close();
    await n.s.next((m): m is MeshPeers => isMeshPeers(m) && !named(m));
  });

  test('behavior: a node that leaves, or withdraws the blob, is not named any more', async () => {
    const token = await signIn();
    const cid = await blob(token, `leaving-${crypto.randomUUID()}`);
    const a = await node('prov-leave-a');
    const b = await node('prov-leave-b');
    const id = await job(
      token,
      Array.from({ length: 3 }, () => `ipfs://${cid}`),
    );
    await lease(a, id);
    expect((await lease(b, id)).providers?.[cid]).toHaveLength(1);
    b.s.send({ type: 'node.mesh', holds: { add: [cid] } });
    b.s.send({ type: 'node.mesh', holds: { remove: [cid] } });
    a.s.close();
    await expect
      .poll(async () => (await nodes()).some((n) => n.nodeId === a.id), { timeout: 5000 })
      .toBe(false);
    const c = await node('prov-leave-c');
    expect((await lease(c, id)).providers?.[cid]).toBeUndefined();
  });
});
