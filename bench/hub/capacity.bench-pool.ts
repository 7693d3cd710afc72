import { env } from 'cloudflare:workers';
import { expect, test } from 'vitest';
import type { NodeIdentity } from '../../browser-node/src/core/identity.ts';
import { type HelloProof, type HubToNode, type LeasedTask, MESH_PROTOCOL } from '../../protocol/index.ts';
import {
  api,
  apiKey,
  connectNode,
  establish,
  helloProof,
  NodeSocket,
  newIdentity,
  nodeIdOnShard,
  submit,
  type Unsigned,
} from '../../test/integration/helpers.ts';

// What one MeshHub shard and one JobRoom sustain, inside workerd (the Workers pool runs the real
// objects with their SQLite). Every object and the test's fake nodes share one thread here, so
// each figure is a lower bound for the object alone. Each measurement prints one
// `HUB_BENCH {json}` line that bench/hub.ts collects. Nodes sign their result frames before the
// clock starts: the node's cost is not the hub's.
const bindings = env as unknown as { HUB_BENCH_SOCKETS: string; HUB_BENCH_TASKS: string };
const SOCKETS = Number(bindings.HUB_BENCH_SOCKETS);
const TASKS = Number(bindings.HUB_BENCH_TASKS);
const CREDIT = 1024;

const emit = (name: string, data: Record<string, number | string>) =>
  console.log(`HUB_BENCH ${JSON.stringify({ name, ...data })}`);

const leasedFrames = (node: NodeSocket) => node.messages.filter((m) => m.type === 'task.leased').length;

/** Take every `task.leased` frame queued on the socket. */
function takeLeased(node: NodeSocket): LeasedTask[] {
  const out: LeasedTask[] = [];
  for (let i = node.messages.length - 1; i >= 0; i--) {
    const m = node.messages[i]!;
    if (m.type === 'task.leased') {
      out.unshift(...m.tasks);
      node.messages.splice(i, 1);
    }
  }
  return out;
}

async function waitFor(
  node: NodeSocket,
  ready: () => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await node.next(() => false, 50).catch(() => undefined);
  }
}

/**
 * A node's whole share of a job: ask for `CREDIT`, take what comes, report it in frames of 512
 * signed beforehand, wait for the acks, again until the room has nothing left. Returns the time
 * spent waiting for leases and for acks.
 */
interface Progress {
  done: number;
  total: number;
  finishedAt?: number;
}

async function drain(
  node: NodeSocket,
  job: Progress,
): Promise<{ done: number; leaseMs: number; reportMs: number }> {
  let done = 0;
  let leaseMs = 0;
  let reportMs = 0;
  while (job.done < job.total) {
    const t0 = Date.now();
    node.send({ type: 'lease.request', credit: CREDIT });
    const expect = Math.min(CREDIT, job.total - job.done);
    let tasks: LeasedTask[] = [];
    // Other nodes may take the rest: after the first frame, stop when nothing more comes soon.
    let deadline = Date.now() + 2_000;
    while (tasks.length < expect && Date.now() < deadline && job.done < job.total) {
      await waitFor(node, () => leasedFrames(node) > 0, 'leases', deadline - Date.now()).catch(
        () => undefined,
      );
      const got = takeLeased(node);
      if (got.length) {
        tasks = tasks.concat(got);
        deadline = Date.now() + 100;
      }
    }
    leaseMs += Date.now() - t0;
    if (!tasks.length) break;
    const frames = [];
    for (let i = 0; i < tasks.length; i += 512) {
      const outcomes: Unsigned[] = tasks.slice(i, i + 512).map((t) => ({
        jobId: t.jobId,
        index: t.index,
        leaseId: t.leaseId,
        ok: true,
        output: t.input ?? null,
        logs: '',
        durationMs: 0,
      }));
      frames.push(await node.resultsFrame(outcomes));
    }
    const t1 = Date.now();
    for (const f of frames) node.send(f);
    let acked = 0;
    for (let i = 0; i < frames.length; i++) {
      const ack = (await node.next((m) => m.type === 'results.ack', 60_000)) as Extract<
        HubToNode,
        { type: 'results.ack' }
      >;
      acked += ack.accepted;
    }
    reportMs += Date.now() - t1;
    done += acked;
    job.done += acked;
    if (job.done >= job.total) job.finishedAt ??= Date.now();
  }
  return { done, leaseMs, reportMs };
}

async function job(key: string, tasks: number): Promise<string> {
  return submit(key, {
    source: 'export default (x) => x',
    inputs: Array.from({ length: tasks }, (_, i) => i),
    label: 'hub-bench',
  });
}

async function established(prefix: string, shard: number): Promise<NodeSocket> {
  const nodeId = nodeIdOnShard(prefix, shard);
  await establish(nodeId);
  return connectNode(nodeId, { capacity: 64 });
}

test('one hub and one room: leases/s and results/s of one node', async () => {
  const key = await apiKey();
  const node = await established('bench-one', 0);
  const t0 = Date.now();
  await job(key, TASKS);
  const submitMs = Date.now() - t0;
  const t1 = Date.now();
  const r = await drain(node, { done: 0, total: TASKS });
  const totalMs = Date.now() - t1;
  node.close();
  expect(r.done).toBe(TASKS);
  emit('one node, one job, one hub', {
    tasks: TASKS,
    submitMs,
    leasesPerSec: Math.round((TASKS / r.leaseMs) * 1000),
    resultsPerSec: Math.round((TASKS / r.reportMs) * 1000),
    tasksPerSec: Math.round((TASKS / totalMs) * 1000),
  });
});

test('one room fed by two hubs: two nodes on each shard, one job', async () => {
  const key = await apiKey();
  const nodes = await Promise.all([0, 0, 1, 1].map((shard, i) => established(`bench-room${i}`, shard)));
  await job(key, TASKS);
  const progress: Progress = { done: 0, total: TASKS };
  const t0 = Date.now();
  const rs = await Promise.all(nodes.map((n) => drain(n, progress)));
  const totalMs = (progress.finishedAt ?? Date.now()) - t0;
  for (const n of nodes) n.close();
  expect(rs.reduce((s, r) => s + r.done, 0)).toBe(TASKS);
  emit('four nodes on two hubs, one job', {
    tasks: TASKS,
    tasksPerSec: Math.round((TASKS / totalMs) * 1000),
  });
});

test('one hub feeding four rooms: four nodes on one shard, four jobs', async () => {
  const key = await apiKey();
  const nodes = await Promise.all([0, 1, 2, 3].map((i) => established(`bench-hub${i}`, 0)));
  const each = Math.floor(TASKS / 4);
  await Promise.all(nodes.map(() => job(key, each)));
  const progress: Progress = { done: 0, total: each * 4 };
  const t0 = Date.now();
  const rs = await Promise.all(nodes.map((n) => drain(n, progress)));
  const totalMs = (progress.finishedAt ?? Date.now()) - t0;
  for (const n of nodes) n.close();
  expect(rs.reduce((s, r) => s + r.done, 0)).toBe(each * 4);
  emit('four nodes on one hub, four jobs', {
    tasks: each * 4,
    tasksPerSec: Math.round(((each * 4) / totalMs) * 1000),
  });
});

test('sockets on one hub: hellos/s, a round trip per socket, GET /nodes', async () => {
  const ids: { nodeId: string; identity: NodeIdentity; proof: HelloProof }[] = [];
  for (let i = 0; i < SOCKETS; i++) {
    const identity = await newIdentity();
    ids.push({ nodeId: nodeIdOnShard(`bench-sock${i}`, 0), identity, proof: await helloProof(identity) });
  }
  const sockets: NodeSocket[] = [];
  const t0 = Date.now();
  const BATCH = 50;
  for (let i = 0; i < ids.length; i += BATCH) {
    const batch = await Promise.all(
      ids.slice(i, i + BATCH).map(async ({ nodeId, identity, proof }) => {
        const res = await api(`/mesh/connect?node=${encodeURIComponent(nodeId)}`, {
          headers: { upgrade: 'websocket' },
        });
        if (!res.webSocket) throw new Error(`no websocket: ${res.status}`);
        const s = new NodeSocket(res.webSocket, identity);
        s.send({
          type: 'node.hello',
          protocol: MESH_PROTOCOL,
          nodeId,
          kind: 'headless',
          runtimes: ['js'],
          capacity: 2,
          version: 'bench',
          peerId: identity.peerId.toString(),
          proof,
        });
        await s.next((m) => m.type === 'hub.welcome', 60_000);
        return s;
      }),
    );
    sockets.push(...batch);
  }
  const helloMs = Date.now() - t0;

  // One frame with an answer from every socket at once: unlinking the (absent) owner.
  const t1 = Date.now();
  for (const s of sockets) s.send({ type: 'node.owner', owner: null });
  await Promise.all(sockets.map((s) => s.next((m) => m.type === 'node.standing', 60_000)));
  const roundMs = Date.now() - t1;

  const t2 = Date.now();
  const res = await api('/nodes');
  const listed = ((await res.json()) as { nodes: unknown[] }).nodes.length;
  const listMs = Date.now() - t2;
  expect(listed).toBeGreaterThanOrEqual(SOCKETS);
  for (const s of sockets) s.close();
  emit('sockets on one hub', {
    sockets: SOCKETS,
    hellosPerSec: Math.round((SOCKETS / helloMs) * 1000),
    framesPerSec: Math.round((SOCKETS / roundMs) * 1000),
    getNodesMs: listMs,
  });
});
