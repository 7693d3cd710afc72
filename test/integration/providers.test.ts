import { afterEach, describe, expect, test } from 'vitest';
import { chunkBlob } from '../../protocol/blob-dag.ts';
import type { HubToNode } from '../../protocol/index.ts';
import { api, connectNode, type NodeSocket, signIn, submit } from './helpers.ts';

// The hub's provider hints with each lease (`task.leased` `providers`): the nodes that hold a
// blob whole, then the nodes that are fetching it right now, so that a new blob that reaches many
// nodes at once is fetched from the origin by the first of them only. Node ids are unique per
// test: the hub is shared.

type Leased = Extract<HubToNode, { type: 'task.leased' }>;
const isLeased = (m: HubToNode): m is Leased => m.type === 'task.leased';

const sockets: NodeSocket[] = [];
const jobs: { id: string; token: string }[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const { id, token } of jobs.splice(0)) await api(`/jobs/${id}/cancel`, { method: 'POST', token });
});

async function node(name: string): Promise<{ id: string; s: NodeSocket; peerId: string }> {
  const id = `${name}-${crypto.randomUUID()}`;
  const s = await connectNode(id, { multiaddrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${id}`], capacity: 1 });
  sockets.push(s);
  return { id, s, peerId: s.identity.peerId.toString() };
}

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
  test('default: a node leased a new blob is named as a provider to the next, after the nodes that hold it', async () => {
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

    // GET /nodes counts only blobs held whole.
    const listed = (await (await api('/nodes')).json()) as { nodes: { nodeId: string; holds?: number }[] };
    const holds = new Map(listed.nodes.map((n) => [n.nodeId, n.holds]));
    expect(holds.get(b.id)).toBe(1);
    expect(holds.get(a.id)).toBe(0);
  });

  test('a node that leaves, or withdraws the blob, is not named any more', async () => {
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
      .poll(async () => {
        const listed = (await (await api('/nodes')).json()) as { nodes: { nodeId: string }[] };
        return listed.nodes.some((n) => n.nodeId === a.id);
      })
      .toBe(false);
    const c = await node('prov-leave-c');
    expect((await lease(c, id)).providers?.[cid]).toBeUndefined();
  });
});
