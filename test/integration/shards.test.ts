import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, test } from 'vitest';
import { hubShards, meshHub, shardOf } from '../../durable-objects/stubs.ts';
import {
  cidOf,
  type HubToNode,
  type HubToWatcher,
  type LeasedTask,
  type NodeInfo,
  type ResultsPage,
} from '../../protocol/index.ts';
import { api, connectNode, type NodeSocket, signIn, submit, TestSocket, type Unsigned } from './helpers.ts';

// The hub is sharded (HUB_SHARDS = 2 in wrangler.toml, here too): nodes are spread over the
// shards by node id, every room announces its job to every shard, and what users read of the
// mesh (node list, map, waiting reasons) is merged from all of them.

type Leased = Extract<HubToNode, { type: 'task.leased' }>;
type Ack = Extract<HubToNode, { type: 'results.ack' }>;
const isLeased = (m: HubToNode): m is Leased => m.type === 'task.leased';
const isAck = (m: HubToNode): m is Ack => m.type === 'results.ack';

const sockets: { close(): void }[] = [];
const jobs: { id: string; token: string }[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const { id, token } of jobs.splice(0)) await api(`/jobs/${id}/cancel`, { method: 'POST', token });
});

/** A node id of `prefix` that lands on `shard`. */
function idOn(shard: number, prefix: string): string {
  for (let i = 0; ; i++) {
    const id = `${prefix}-${i}`;
    if (shardOf(env, id) === shard) return id;
  }
}

async function node(id: string, options?: Parameters<typeof connectNode>[1]) {
  const s = await connectNode(id, options);
  sockets.push(s);
  return s;
}

const ok = (t: LeasedTask): Unsigned => ({
  ok: true,
  jobId: t.jobId,
  index: t.index,
  leaseId: t.leaseId,
  output: (t.input as number) * 2,
  logs: '',
  durationMs: 1,
});

/** Lease and report tasks of `jobId` until `stop()`; returns how many this node ran. */
async function work(n: NodeSocket, jobId: string, stop: () => boolean, perFrame = 2): Promise<number> {
  let ran = 0;
  n.send({ type: 'lease.request', credit: perFrame });
  while (!stop()) {
    const m = await n.next(isLeased, 300).catch(() => undefined);
    if (!m) continue;
    const mine = m.tasks.filter((t) => t.jobId === jobId);
    // Take a moment, as real work would, so that both shards' nodes get a share.
    await new Promise((r) => setTimeout(r, 20));
    await n.report(
      mine.map((t) => ok(t)),
      mine.length,
    );
    ran += mine.length;
  }
  return ran;
}

const results = async (id: string, token: string) =>
  ((await (await api(`/jobs/${id}/results?limit=1000`, { token })).json()) as ResultsPage).results;

describe('shards', () => {
  test('default: two shards, each knowing its number; nodes land by node id', async () => {
    expect(hubShards(env)).toBe(2);
    expect((await meshHub(env, 0).summary()).shard).toBe(0);
    expect((await meshHub(env, 1).summary()).shard).toBe(1);
    // Spread: of many ids, each shard gets a fair part.
    const counts = [0, 0];
    for (let i = 0; i < 1000; i++) counts[shardOf(env, `spread-${i}`)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(400);
  });

  test("behavior: a job's tasks run on nodes of both shards; GET /nodes, the map and the waiting reason see both", async () => {
    const token = await signIn();
    const inputs = Array.from({ length: 40 }, (_, i) => i);
    const id = await submit(token, { inputs });
    jobs.push({ id, token });
    const a = await node(idOn(0, 'both-shards-a'));
    const b = await node(idOn(1, 'both-shards-b'));
    // Neither asked for work yet: counted from both shards.
    await expect
      .poll(
        async () => ((await (await api(`/jobs/${id}`, { token })).json()) as { waiting?: string }).waiting,
        {
          timeout: 5000,
        },
      )
      .toBe("all 2 nodes that run 'js' are busy");
    let done = false;
    const ran = Promise.all([work(a, id, () => done), work(b, id, () => done)]);
    await expect
      .poll(async () => (await results(id, token)).every((r) => r.state === 'succeeded'), { timeout: 20_000 })
      .toBe(true);
    done = true;
    const [byA, byB] = await ran;
    expect(byA).toBeGreaterThan(0);
    expect(byB).toBeGreaterThan(0);
    const all = await results(id, token);
    expect(all.map((r) => r.output)).toEqual(inputs.map((x) => x * 2));
    expect(new Set(all.map((r) => r.nodeId))).toEqual(
      new Set([idOn(0, 'both-shards-a'), idOn(1, 'both-shards-b')]),
    );

    await expect
      .poll(
        async () =>
          ((await (await api('/nodes')).json()) as { nodes: NodeInfo[] }).nodes.map((n) => n.nodeId),
        {
          timeout: 5000,
        },
      )
      .toEqual(expect.arrayContaining([idOn(0, 'both-shards-a'), idOn(1, 'both-shards-b')]));
    const res = await api('/nodes/events', { headers: { upgrade: 'websocket' } });
    const watcher = new TestSocket<HubToWatcher, { type: 'ping' }>(res.webSocket!);
    sockets.push(watcher);
    const snapshot = await watcher.next(
      (m): m is Extract<HubToWatcher, { type: 'nodes.snapshot' }> => m.type === 'nodes.snapshot',
    );
    expect(snapshot.nodes.map((n) => n.nodeId)).toEqual(
      expect.arrayContaining([idOn(0, 'both-shards-a'), idOn(1, 'both-shards-b')]),
    );
    // A node leaving either shard reaches the map.
    b.close();
    await watcher.next(
      (m): m is Extract<HubToWatcher, { type: 'nodes.updated' }> =>
        m.type === 'nodes.updated' && m.gone.includes(idOn(1, 'both-shards-b')),
      5000,
    );
  }, 30_000);

  test('behavior: the nodes of one shard go away mid-job; the job completes on the other, nothing spent', async () => {
    const token = await signIn();
    const inputs = Array.from({ length: 30 }, (_, i) => i);
    const id = await submit(token, { inputs });
    jobs.push({ id, token });
    const leaving = [await node(idOn(0, 'leaves-mid-job-1')), await node(idOn(0, 'leaves-mid-job-2'))];
    for (const n of leaving) n.send({ type: 'lease.request', credit: 8 });
    const held = (await Promise.all(leaving.map((n) => n.next(isLeased)))).flatMap((m) => m.tasks);
    expect(held.length).toBeGreaterThan(0);
    for (const n of leaving) n.ws.close(1001, 'machine gone');
    const stays = await node(idOn(1, 'stays-on-shard-1'));
    let done = false;
    const ran = work(stays, id, () => done, 8);
    await expect
      .poll(async () => (await results(id, token)).every((r) => r.state === 'succeeded'), { timeout: 20_000 })
      .toBe(true);
    done = true;
    expect(await ran).toBe(30);
    const all = await results(id, token);
    expect(all.every((r) => r.nodeId === idOn(1, 'stays-on-shard-1') && r.attempts === 1)).toBe(true);
    expect(all.reduce((n, r) => n + (r.lost ?? 0), 0)).toBe(held.length);
  }, 30_000);

  test('behavior: a relay on one shard is offered to nodes on the other; a blob held on one shard is named as a provider on the other', async () => {
    const relayId = idOn(0, 'relay-on-0');
    const relay = await node(relayId, { relay: true, multiaddrs: ['/ip4/127.0.0.1/tcp/4101/ws'] });
    const token = await signIn();
    const source = 'export default (x) => x + 1 // cross-shard providers';
    const codeCid = (await cidOf(new TextEncoder().encode(source))).toString();
    relay.send({ type: 'node.mesh', holds: { add: [codeCid] } });
    // The other shard hears of the relay within about half a second.
    let welcomePeers: string[] = [];
    await expect
      .poll(
        async () => {
          const other = await connectNode(idOn(1, `reaches-relay-${Date.now()}`), {
            multiaddrs: ['/ip4/127.0.0.1/tcp/4102'],
          });
          sockets.push(other);
          const welcome = other.welcome;
          welcomePeers = welcome?.peers?.map((p) => p.peerId) ?? [];
          other.close();
          return welcomePeers;
        },
        { timeout: 5000 },
      )
      .toContain(relay.identity.peerId.toString());
    const id = await submit(token, { source, inputs: [1] });
    jobs.push({ id, token });
    const fetcher = await node(idOn(1, 'fetches-on-1'), { multiaddrs: ['/ip4/127.0.0.1/tcp/4103'] });
    fetcher.send({ type: 'lease.request', credit: 1 });
    const leased = await fetcher.next(isLeased);
    expect(leased.providers?.[codeCid]?.map((p) => p.peerId)).toContain(relay.identity.peerId.toString());
    await fetcher.report(leased.tasks.map((t) => ok(t)));
    expect((await fetcher.next(isAck)).accepted).toBe(1);
  });
});
