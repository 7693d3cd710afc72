import { afterAll, beforeAll, expect, test } from 'vitest';
import { createApiKey, DEV_PRIVATE_KEYS } from '../../client/sign-in.ts';
import type { DoEnv } from '../../durable-objects/rpc.ts';
import { shardOf } from '../../durable-objects/stubs.ts';
import type { HubToWatcher, JobStatus, NodeInfo, TaskResult } from '../../protocol/index.ts';
import { type ApiServer, type Proc, startApi, startNode } from '../../scripts/local-mesh.ts';

// Two hub shards with real processes: `wrangler dev` (HUB_SHARDS = 2 from wrangler.toml, the
// default everyone runs) and four headless nodes (the real CLI), two whose node ids land on each
// shard. A job's tasks run on both shards; GET /nodes and the node map (a NodeMap replica merging
// both shards) show all four; the nodes of shard 1 are killed mid-job and the job completes on
// shard 0 with every task succeeded and no attempt spent on the lost leases.
const SHARDS = 2;
const env = { HUB_SHARDS: String(SHARDS) } as DoEnv;

let api: ApiServer;
let key = '';
const nodes: { proc: Proc; nodeId: string; shard: number }[] = [];

/** A node id that the hub's jump hash puts on `shard`. */
function idOnShard(shard: number): string {
  for (;;) {
    const id = `e2e-shard${shard}-${crypto.randomUUID().slice(0, 8)}`;
    if (shardOf(env, id) === shard) return id;
  }
}

const call = (path: string, init: RequestInit = {}) =>
  fetch(`${api.url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers },
  });

const listed = async () => ((await (await call('/nodes')).json()) as { nodes: NodeInfo[] }).nodes;

async function results(id: string): Promise<TaskResult[]> {
  const text = await (await call(`/jobs/${id}/results?format=ndjson`)).text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TaskResult);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The node ids a node-map watcher sees once the snapshot and updates have arrived. */
function watchMap(): { ids: Set<string>; close: () => void } {
  const ids = new Set<string>();
  const ws = new WebSocket(`${api.url.replace(/^http/, 'ws')}/api/v1/nodes/events`);
  ws.addEventListener('message', (e) => {
    const frame = JSON.parse(String(e.data)) as HubToWatcher;
    if (frame.type === 'nodes.snapshot') {
      ids.clear();
      for (const n of frame.nodes) ids.add(n.nodeId);
    } else if (frame.type === 'nodes.updated') {
      for (const n of frame.nodes) ids.add(n.nodeId);
      for (const id of frame.gone) ids.delete(id);
    }
  });
  return { ids, close: () => ws.close() };
}

beforeAll(async () => {
  api = await startApi();
  key = (await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] })).key;
  const ids = [idOnShard(0), idOnShard(0), idOnShard(1), idOnShard(1)];
  const started = await Promise.all(ids.map((nodeId) => startNode(api.url, { capacity: 2, nodeId })));
  for (const [i, proc] of started.entries())
    nodes.push({ proc, nodeId: ids[i]!, shard: shardOf(env, ids[i]!) });
}, 180_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.proc.stop('SIGKILL')));
  await api?.stop();
});

test('behavior: two shards; a job runs on both, the nodes of one are killed mid-job, it completes on the other', async () => {
  const all = nodes.map((n) => n.nodeId).sort();
  // GET /nodes and the node map see the nodes of both shards.
  await until('GET /nodes to list all four nodes', async () => {
    const ids = (await listed()).map((n) => n.nodeId).sort();
    return JSON.stringify(ids) === JSON.stringify(all) ? ids : undefined;
  });
  const map = watchMap();
  try {
    await until('the node map to show all four nodes', async () =>
      all.every((id) => map.ids.has(id)) ? true : undefined,
    );

    // Tens of milliseconds of work per task (the sandbox's clock is deterministic, so the work is
    // counted in rounds): 400 tasks keep the 8 slots busy for a few seconds.
    const source =
      'export default (x) => { let n = 1; for (let i = 0; i < 3000000; i++) n = (n * 48271 + i) % 2147483647; return n > -1 ? x * 2 : 0; }';
    const inputs = Array.from({ length: 400 }, (_, i) => i);
    const res = await call('/jobs', {
      method: 'POST',
      body: JSON.stringify({ runtime: 'js', source, inputs, label: 'shards' }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { id } = (await res.json()) as { id: string };

    // Wait until both shards' nodes have finished tasks of it, then kill shard 1's nodes.
    const shardOfNode = new Map(nodes.map((n) => [n.nodeId, n.shard]));
    const before = await until('tasks done on both shards', async () => {
      const done = (await results(id)).filter((r) => r.state === 'succeeded');
      const shards = new Set(done.map((r) => shardOfNode.get(r.nodeId ?? '')));
      return shards.has(0) && shards.has(1) ? done.length : undefined;
    });
    expect(before).toBeLessThan(inputs.length);
    const killed = nodes.filter((n) => n.shard === 1);
    await Promise.all(killed.map((n) => n.proc.stop('SIGKILL')));

    const status = await until(
      'the job to finish',
      async () => {
        const s = (await (await call(`/jobs/${id}`)).json()) as JobStatus;
        return s.state === 'running' ? undefined : s;
      },
      180_000,
    );
    expect(status.state).toBe('succeeded');
    const final = await results(id);
    expect(final).toHaveLength(inputs.length);
    expect(final.every((r, i) => r.state === 'succeeded' && r.output === i * 2)).toBe(true);
    // Tasks finished after the kill ran on shard 0; the leases the killed nodes held came back
    // without spending an attempt (they never returned a result).
    const byShard = (s: number) => final.filter((r) => shardOfNode.get(r.nodeId ?? '') === s).length;
    expect(byShard(0)).toBeGreaterThan(0);
    expect(byShard(1)).toBeGreaterThan(0);
    expect(final.every((r) => r.attempts === 1)).toBe(true);
    const lost = final.reduce((n, r) => n + (r.lost ?? 0), 0);
    expect(lost).toBeGreaterThan(0);

    // The killed nodes leave GET /nodes and the map; shard 0's nodes stay.
    const alive = nodes
      .filter((n) => n.shard === 0)
      .map((n) => n.nodeId)
      .sort();
    await until('GET /nodes to drop the killed nodes', async () => {
      const ids = (await listed()).map((n) => n.nodeId).sort();
      return JSON.stringify(ids) === JSON.stringify(alive) ? ids : undefined;
    });
    await until('the node map to drop the killed nodes', async () =>
      killed.every((n) => !map.ids.has(n.nodeId)) && alive.every((id) => map.ids.has(id)) ? true : undefined,
    );
  } finally {
    map.close();
  }
}, 300_000);
