import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, onTestFinished, test } from 'vitest';
import type { MeshHub } from '../../durable-objects/hub/mesh-hub.ts';
import { meshHub, shardOf } from '../../durable-objects/stubs.ts';
import {
  type HubToNode,
  type JobStatus,
  type LeasedTask,
  MESH_PROTOCOL,
  type NodeInfo,
  type ResultsPage,
  type RoomToWatcher,
  type RuntimeFingerprint,
} from '../../protocol/index.ts';
import {
  api,
  connectNode,
  establish,
  helloProof,
  type NodeSocket,
  newIdentity,
  signIn,
  submit,
  type Unsigned,
  watch,
} from './helpers.ts';

type Leased = Extract<HubToNode, { type: 'task.leased' }>;
type Ack = Extract<HubToNode, { type: 'results.ack' }>;
const isLeased = (m: HubToNode): m is Leased => m.type === 'task.leased';
const isAck = (m: HubToNode): m is Ack => m.type === 'results.ack';

const created: { id: string; token: string }[] = [];
const sockets: NodeSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const { id, token } of created.splice(0)) await api(`/jobs/${id}/cancel`, { method: 'POST', token });
});

async function newJob(spec: Parameters<typeof submit>[1] = {}) {
  const token = await signIn();
  const id = await submit(token, spec);
  created.push({ id, token });
  return { id, token };
}

async function node(id: string, options?: Parameters<typeof connectNode>[1]) {
  const s = await connectNode(id, options);
  sockets.push(s);
  return s;
}

/** Lease tasks until `count` of `jobId` arrived. */
async function take(s: NodeSocket, jobId: string, count: number): Promise<LeasedTask[]> {
  const got: LeasedTask[] = [];
  while (got.length < count) {
    const m = await s.next(isLeased);
    got.push(...m.tasks.filter((t) => t.jobId === jobId));
  }
  return got;
}

const ok = (t: LeasedTask, output: unknown = (t.input as number) * 2): Unsigned => ({
  ok: true,
  jobId: t.jobId,
  index: t.index,
  leaseId: t.leaseId,
  output: output as number,
  logs: '',
  durationMs: 1,
});

const status = async (id: string, token: string) =>
  (await (await api(`/jobs/${id}`, { token })).json()) as JobStatus;
const room = (id: string) => env.JOB_ROOM.get(env.JOB_ROOM.idFromName(id));

describe('dispatch', () => {
  test('default: a node leases a batch, reports, and the job succeeds with results in input order', async () => {
    const { id, token } = await newJob({ inputs: [5, 6, 7, 8] });
    const watcher = await watch(id, token);
    const snapshot = await watcher.next((m) => m.type === 'job.snapshot');
    // Tasks still pending with no attempt are left out of a snapshot.
    expect(snapshot).toMatchObject({ job: { id, total: 4, state: 'running' }, tasks: [] });
    const n = await node('node-default-1');
    n.send({ type: 'lease.request', credit: 10 });
    const tasks = await take(n, id, 4);
    expect(tasks.map((t) => t.index).sort()).toEqual([0, 1, 2, 3]);
    // A watcher that connects now is told of every task that moved.
    const late = await watch(id, token);
    const lateSnapshot = await late.next(
      (m): m is Extract<RoomToWatcher, { type: 'job.snapshot' }> => m.type === 'job.snapshot',
    );
    late.close();
    expect(lateSnapshot.tasks).toEqual([
      [0, 'leased', 0],
      [1, 'leased', 0],
      [2, 'leased', 0],
      [3, 'leased', 0],
    ]);
    expect(tasks[0]).toMatchObject({ runtime: 'js', attempt: 1, timeoutMs: 30_000 });
    await n.report(tasks.reverse().map((t) => ok(t)));
    expect((await n.next(isAck)).accepted).toBe(4);
    await watcher.next((m) => m.type === 'job.finished' && m.state === 'succeeded');
    const page = (await (await api(`/jobs/${id}/results`, { token })).json()) as ResultsPage;
    expect(page.results.map((r) => r.output)).toEqual([10, 12, 14, 16]);
    expect(page.results.every((r) => r.nodeId === 'node-default-1' && r.attempts === 1)).toBe(true);
    expect(await status(id, token)).toMatchObject({
      state: 'succeeded',
      counts: { succeeded: 4, pending: 0 },
    });
    watcher.close();
  });

  test('behavior: POST /jobs?wait answers when the job finishes, with its results; when the wait runs out or the job is cancelled, with its counts', async () => {
    const token = await signIn();
    const post = (wait: string, inputs: number[]) =>
      api(`/jobs?wait=${wait}`, {
        method: 'POST',
        token,
        body: JSON.stringify({ runtime: 'js', source: 'export default (x) => x * 2', inputs, redundancy: 1 }),
      });
    type Created = {
      id: string;
      state: string;
      counts?: { pending: number; succeeded: number };
      results?: unknown[];
    };
    // No node asks for work: the wait runs out, the job still running, no results.
    const idle = await post('0.2', [1, 2]);
    expect(idle.status).toBe(201);
    const running = (await idle.json()) as Created;
    created.push({ id: running.id, token });
    expect(running).toMatchObject({ state: 'running', counts: { pending: 2, succeeded: 0 } });
    expect(running.results).toBeUndefined();
    // A job cancelled while its submission waits: the submission answers then.
    const cancelling = post('20', [1]);
    const job = (await (await api('/jobs?limit=1', { token })).json()) as { jobs: { id: string }[] };
    for (let i = 0; i < 50 && job.jobs[0]?.id === running.id; i++) {
      Object.assign(job, await (await api('/jobs?limit=1', { token })).json());
    }
    await api(`/jobs/${job.jobs[0]!.id}/cancel`, { method: 'POST', token });
    expect((await (await cancelling).json()) as Created).toMatchObject({
      state: 'cancelled',
      results: [{ index: 0, state: 'cancelled' }],
    });
    await api(`/jobs/${running.id}/cancel`, { method: 'POST', token });
    // A node runs the job while its submission waits: the response is the finished job and its outputs.
    const submitted = post('20', [5, 6, 7]);
    const n = await node('node-wait-1');
    n.send({ type: 'lease.request', credit: 10 });
    const tasks: LeasedTask[] = [];
    while (tasks.length < 3) tasks.push(...(await n.next(isLeased)).tasks);
    await n.report(tasks.map((t) => ok(t)));
    const res = await submitted;
    expect(res.status).toBe(201);
    const done = (await res.json()) as Omit<Created, 'results'> & {
      results: { index: number; output: number }[];
    };
    expect(done).toMatchObject({ state: 'succeeded', counts: { succeeded: 3 } });
    expect(done.results.map((r) => [r.index, r.output])).toEqual([
      [0, 10],
      [1, 12],
      [2, 14],
    ]);
    // Out of bounds or not a number: refused before anything is stored.
    for (const wait of ['31', '-1', 'soon']) {
      const bad = await post(wait, [1]);
      expect(bad.status, wait).toBe(400);
      expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
    }
  });

  test("behavior: a shard that lost a job's announcement (it writes its list a moment later) hears it again from the room's alarm", async () => {
    const { id } = await newJob({ inputs: [1, 2] });
    const nodeId = 'node-reannounce-1';
    const n = await node(nodeId);
    // The shard forgets the job, as one that restarted before writing its list down would have.
    await meshHub(env, shardOf(env, nodeId)).jobGone(id, [], 'test: lost in a restart');
    n.send({ type: 'lease.request', credit: 10 });
    await expect(n.next(isLeased, 300)).rejects.toThrow();
    // The room has pending tasks, so its alarm is set; when it fires, the shard hears of the job.
    const alarm = await runInDurableObject(room(id), (_o: unknown, state: DurableObjectState) =>
      state.storage.getAlarm(),
    );
    expect(alarm).not.toBeNull();
    await runDurableObjectAlarm(room(id));
    const tasks = await take(n, id, 2);
    expect(tasks.map((t) => t.index).sort()).toEqual([0, 1]);
  });

  test('behavior: a shard writes its list of jobs down a moment after it changes: a job still runnable is there, a job that came and went is not', async () => {
    const hub = env.MESH_HUB.get(env.MESH_HUB.idFromName('hub-0'));
    const { id: stays } = await newJob({ inputs: [1] });
    const { id: goes, token } = await newJob({ inputs: [1] });
    await api(`/jobs/${goes}/cancel`, { method: 'POST', token });
    const saved = async () => {
      const rows = await runInDurableObject(hub, (_o: unknown, state: DurableObjectState) =>
        state.storage.sql.exec<{ job_id: string }>('SELECT job_id FROM available').toArray(),
      );
      return rows.map((r) => r.job_id);
    };
    for (let i = 0; i < 100 && !(await saved()).includes(stays); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const rows = await saved();
    expect(rows).toContain(stays);
    expect(rows).not.toContain(goes);
  });

  test('behavior: a shard writes its job list once per change that lasts: a job that came and went costs no write, one announced again costs none more', async () => {
    const hub = env.MESH_HUB.get(env.MESH_HUB.idFromName('hub-0'));
    // Past the write delay, so that a write the tests before left due has happened.
    await new Promise((r) => setTimeout(r, 2_500));
    // Count the statements that write the shard's list, each with the job it names.
    const writes: string[] = [];
    await runInDurableObject(hub, (_o: unknown, state: DurableObjectState) => {
      const sql = state.storage.sql;
      const exec = sql.exec;
      sql.exec = ((query: string, ...bindings: SqlStorageValue[]) => {
        if (/^\s*(INSERT|DELETE|UPDATE)\b[^;]*\bavailable\b/i.test(query)) writes.push(String(bindings[0]));
        return exec.call(sql, query, ...bindings);
      }) as typeof sql.exec;
      onTestFinished(() =>
        runInDurableObject(hub, () => {
          sql.exec = exec;
        }),
      );
    });
    const { id: stays, token } = await newJob({ inputs: [1] });
    const { codeCid } = (await (await api(`/jobs/${stays}`, { token })).json()) as { codeCid: string };
    const job = { jobId: stays, runtime: 'js' as const, codeCid };
    // A job announced and gone in one turn of the hub, as a job that finishes at once.
    const goes = crypto.randomUUID();
    await runInDurableObject(hub, (instance: unknown) => {
      const h = instance as MeshHub;
      h.jobAvailable({ ...job, jobId: goes });
      h.jobGone(goes, [], 'job succeeded');
    });
    // The room of the job that stays announces it again (its alarm does, should a shard have lost it).
    await meshHub(env, 0).jobAvailable(job);
    await meshHub(env, 0).jobAvailable(job);
    for (let i = 0; i < 100 && !writes.includes(stays); i++) await new Promise((r) => setTimeout(r, 100));
    // Past another write delay: nothing more is written for either.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(writes.filter((w) => w === stays)).toEqual([stays]);
    expect(writes.filter((w) => w === goes)).toEqual([]);
  });

  test('behavior: a heartbeat that still names leases the node has just given back does not count them lost', async () => {
    const { id } = await newJob({ inputs: [1, 2, 3, 4] });
    const n = await node('node-return-heartbeat-1');
    n.send({ type: 'lease.request', credit: 4 });
    const tasks = await take(n, id, 4);
    const back = tasks.slice(0, 2).map((t) => ({ jobId: t.jobId, leaseId: t.leaseId }));
    // Sent together: the heartbeat reaches the hub while the room is still taking the leases back.
    n.send({ type: 'lease.return', leases: back });
    n.send({ type: 'node.heartbeat', leases: back });
    await n.report(tasks.slice(2).map((t) => ok(t)));
    const ack = await n.next(isAck);
    expect(ack.standing?.reputation.lost).toBe(0);
    const revoked = n.messages.filter((m) => m.type === 'lease.revoked');
    expect(revoked.filter((m) => /expired|deadline/.test(m.reason))).toEqual([]);
  });

  test('behavior: duplicate and late results are ignored and never counted twice', async () => {
    const { id, token } = await newJob({ inputs: [1, 2] });
    const n = await node('node-dup-1');
    n.send({ type: 'lease.request', credit: 2 });
    const tasks = await take(n, id, 2);
    await n.report([ok(tasks[0]!)]);
    expect((await n.next(isAck)).accepted).toBe(1);
    await n.report([ok(tasks[0]!, 999)]);
    const dup = await n.next(isAck);
    expect(dup.accepted).toBe(0);
    // Its lease ended with the first result: the hub drops the second before any room sees it.
    expect(dup.ignored[0]).toMatchObject({ jobId: id, reason: 'lease is not held by this node' });
    await n.report([{ ...ok(tasks[1]!), leaseId: crypto.randomUUID() }]);
    expect((await n.next(isAck)).ignored[0]?.reason).toBe('lease is not held by this node');
    const s = await status(id, token);
    expect(s.counts).toMatchObject({ succeeded: 1, leased: 1 });
    const page = (await (await api(`/jobs/${id}/results`, { token })).json()) as ResultsPage;
    expect(page.results[0]?.output).toBe(2);
  });

  test('behavior: an expired lease puts the task back, another node gets it, and the late result is ignored', async () => {
    const { id, token } = await newJob({ inputs: [3] });
    const a = await node('node-expire-a');
    a.send({ type: 'lease.request', credit: 1 });
    const [first] = await take(a, id, 1);
    await runInDurableObject(room(id), (_instance, state) => {
      state.storage.sql.exec('UPDATE leases SET expires_at = 0');
    });
    expect(await runDurableObjectAlarm(room(id))).toBe(true);
    const afterExpiry = (await (await api(`/jobs/${id}/results`, { token })).json()) as ResultsPage;
    // A new node's lost lease is not an attempt: the task is back in the queue, attempts unspent.
    expect(afterExpiry.results[0]).toMatchObject({ state: 'pending', attempts: 0, lost: 1 });
    expect(afterExpiry.results[0]?.waiting).toMatch(/back in the queue after lease expired|waiting/);
    a.close();
    const b = await node('node-expire-b');
    b.send({ type: 'lease.request', credit: 1 });
    // The retry waits out its backoff, then the room's alarm hands it back to the hub.
    await new Promise((r) => setTimeout(r, 300));
    await runDurableObjectAlarm(room(id));
    const [second] = await take(b, id, 1);
    expect(second).toMatchObject({ index: 0, attempt: 2 });
    expect(second!.leaseId).not.toBe(first!.leaseId);
    await b.report([ok(second!)]);
    expect((await b.next(isAck)).accepted).toBe(1);
    // The first node comes back (with its key: the node id is bound to it) with its stale result:
    // it holds no lease any more, so the hub ignores it; the output stays b's.
    const late = await node('node-expire-a', { identity: a.identity });
    await late.report([ok(first!, 'stale')]);
    expect((await late.next(isAck)).ignored[0]?.reason).toBe('lease is not held by this node');
    expect(await status(id, token)).toMatchObject({ state: 'succeeded', counts: { succeeded: 1 } });
    const page = (await (await api(`/jobs/${id}/results`, { token })).json()) as ResultsPage;
    expect(page.results[0]).toMatchObject({ output: 6, nodeId: 'node-expire-b', attempts: 1, lost: 1 });
  });

  test('behavior: a node that disconnects gives its leases back at once', async () => {
    const { id, token } = await newJob({ inputs: [1, 2, 3] });
    const a = await node('node-drop-a');
    a.send({ type: 'lease.request', credit: 3 });
    await take(a, id, 3);
    expect((await status(id, token)).counts.leased).toBe(3);
    a.ws.close(1001, 'going away');
    await expect.poll(async () => (await status(id, token)).counts.pending, { timeout: 5000 }).toBe(3);
  });

  test('behavior: cancel revokes leases, stops dispatch and ignores later results', async () => {
    const { id, token } = await newJob({ inputs: [1, 2, 3, 4] });
    const a = await node('node-cancel-a');
    a.send({ type: 'lease.request', credit: 2 });
    const held = await take(a, id, 2);
    const res = await api(`/jobs/${id}/cancel`, { method: 'POST', token });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ state: 'cancelled', counts: { cancelled: 4 } });
    const revoked = await a.next(
      (m): m is Extract<HubToNode, { type: 'lease.revoked' }> => m.type === 'lease.revoked',
    );
    expect(revoked.leases.map((l) => l.leaseId).sort()).toEqual(held.map((t) => t.leaseId).sort());
    const b = await node('node-cancel-b');
    b.send({ type: 'lease.request', credit: 10 });
    await new Promise((r) => setTimeout(r, 200));
    expect(
      b.messages
        .filter(isLeased)
        .flatMap((m) => m.tasks)
        .filter((t) => t.jobId === id),
    ).toEqual([]);
    await a.report(held.map((t) => ok(t)));
    expect((await a.next(isAck)).accepted).toBe(0);
    expect(await status(id, token)).toMatchObject({
      state: 'cancelled',
      counts: { succeeded: 0, cancelled: 4 },
    });
    // Cancelling again is harmless.
    expect((await api(`/jobs/${id}/cancel`, { method: 'POST', token })).status).toBe(200);
  });

  const fail = (t: LeasedTask, kind: 'user_error' | 'node_error'): Unsigned => ({
    ok: false,
    jobId: t.jobId,
    index: t.index,
    leaseId: t.leaseId,
    error: { kind, message: `${kind} happened`, stack: 'Error: x\n    at main (job.js:1:7)' },
    logs: 'some log',
    durationMs: 2,
  });

  test("behavior: user errors fail at once; an established node's node errors are retried up to maxAttempts", async () => {
    const { id, token } = await newJob({ inputs: [1, 2], maxAttempts: 2 });
    await establish('node-retry-1');
    const n = await node('node-retry-1');
    n.send({ type: 'lease.request', credit: 2 });
    const [t0, t1] = (await take(n, id, 2)).sort((x, y) => x.index - y.index);
    await n.report([fail(t0!, 'user_error'), fail(t1!, 'node_error')]);
    await n.next(isAck);
    let page = (await (await api(`/jobs/${id}/results`, { token })).json()) as ResultsPage;
    expect(page.results[0]).toMatchObject({
      state: 'failed',
      error: { kind: 'user_error', stack: expect.stringContaining('job.js:1:7') },
      logs: 'some log',
    });
    expect(page.results[1]).toMatchObject({ state: 'pending', attempts: 1 });
    expect(page.results[1]).not.toHaveProperty('lost');
    await new Promise((r) => setTimeout(r, 300));
    await runDurableObjectAlarm(room(id));
    n.send({ type: 'lease.request', credit: 1 });
    const [again] = await take(n, id, 1);
    expect(again).toMatchObject({ index: 1, attempt: 2 });
    await n.report([fail(again!, 'node_error')]);
    await n.next(isAck);
    page = (await (await api(`/jobs/${id}/results`, { token })).json()) as ResultsPage;
    expect(page.results[1]).toMatchObject({ state: 'failed', attempts: 2 });
    expect(page.results[1]?.error?.message).toMatch(/gave up after 2 attempts/);
    expect(await status(id, token)).toMatchObject({ state: 'failed', counts: { failed: 2 } });
  });

  test("behavior: a new node's node errors never use up attempts; the task runs again and succeeds", async () => {
    const { id, token } = await newJob({ inputs: [7], maxAttempts: 1 });
    for (let i = 0; i < 3; i++) {
      const n = await node(`node-flaky-${i}`);
      n.send({ type: 'lease.request', credit: 1 });
      const [t] = await take(n, id, 1);
      await n.report([fail(t!, 'node_error')]);
      await n.next(isAck);
      await new Promise((r) => setTimeout(r, 250));
      await runDurableObjectAlarm(room(id));
    }
    const page = (await (await api(`/jobs/${id}/results`, { token })).json()) as ResultsPage;
    expect(page.results[0]).toMatchObject({ state: 'pending', attempts: 0, lost: 3 });
    const good = await node('node-flaky-good');
    good.send({ type: 'lease.request', credit: 1 });
    const [t] = await take(good, id, 1);
    expect(t).toMatchObject({ attempt: 4 });
    await good.report([ok(t!)]);
    expect((await good.next(isAck)).accepted).toBe(1);
    expect(await status(id, token)).toMatchObject({ state: 'succeeded' });
  });

  test('behavior: pending tasks say why they wait', async () => {
    const { id, token } = await newJob({ inputs: [1] });
    // What the shards say is read at most once a second: poll.
    const waiting = () => expect.poll(async () => (await status(id, token)).waiting, { timeout: 5000 });
    await waiting().toBe('no compute node is connected');
    const py = await node('node-python-only', { runtimes: ['python'] });
    await waiting().toBe("no connected node supports runtime 'js'");
    py.close();
    const js = await node('node-busy-js');
    await waiting().toBe("all 1 node that run 'js' are busy");
    await expect
      .poll(
        async () =>
          ((await (await api('/nodes')).json()) as { nodes: NodeInfo[] }).nodes.map((x) => x.nodeId),
        {
          timeout: 5000,
        },
      )
      .toContain('node-busy-js');
    js.send({ type: 'lease.request', credit: 1 });
    await take(js, id, 1);
  });

  test("behavior: the node list shows each node's runtime fingerprint, and nodes without one still join", async () => {
    const fingerprint: RuntimeFingerprint = {
      class: '0123456789abcdef',
      probeHash: `0123456789abcdef${'a'.repeat(48)}`,
      engine: { name: 'node', version: '24.0.0', v8: '13.6', wasiHost: '@bjorn3/browser_wasi_shim@0.4.2' },
    };
    await node('node-with-fingerprint', { fingerprint });
    await node('node-without-fingerprint');
    const list = async () => ((await (await api('/nodes')).json()) as { nodes: NodeInfo[] }).nodes;
    await expect
      .poll(async () => (await list()).map((n) => n.nodeId), { timeout: 5000 })
      .toContain('node-without-fingerprint');
    const nodes = await list();
    expect(nodes.find((n) => n.nodeId === 'node-with-fingerprint')?.fingerprint).toEqual(fingerprint);
    const bare = nodes.find((n) => n.nodeId === 'node-without-fingerprint');
    expect(bare).toBeDefined();
    expect(bare).not.toHaveProperty('fingerprint');
  });

  test('behavior: results page in input order and stream as NDJSON', async () => {
    const inputs = Array.from({ length: 25 }, (_, i) => i);
    const { id, token } = await newJob({ inputs });
    await establish('node-pages-1');
    const n = await node('node-pages-1');
    n.send({ type: 'lease.request', credit: 25 });
    const tasks = await take(n, id, 25);
    await n.report(tasks.map((t) => ok(t)));
    await n.next(isAck);
    const first = (await (await api(`/jobs/${id}/results?limit=10`, { token })).json()) as ResultsPage;
    expect(first.results.map((r) => r.index)).toEqual(inputs.slice(0, 10));
    expect(first.nextCursor).toBe(10);
    const last = (await (
      await api(`/jobs/${id}/results?cursor=20&limit=10`, { token })
    ).json()) as ResultsPage;
    expect(last.results.map((r) => r.output)).toEqual(inputs.slice(20).map((x) => x * 2));
    expect(last.nextCursor).toBeUndefined();
    const nd = await api(`/jobs/${id}/results`, { token, headers: { accept: 'application/x-ndjson' } });
    expect(nd.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = (await nd.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { index: number; output: number });
    expect(lines.map((l) => l.output)).toEqual(inputs.map((x) => x * 2));
    const bad = await api(`/jobs/${id}/results?limit=100000`, { token });
    expect(bad.status).toBe(400);
  });

  test('behavior: results in completion order page by sequence', async () => {
    const { id, token } = await newJob({ inputs: [0, 1, 2, 3, 4] });
    const n = await node('node-order-1');
    n.send({ type: 'lease.request', credit: 5 });
    const tasks = (await take(n, id, 5)).sort((a, b) => b.index - a.index);
    // Finish them in reverse: 4 and 3 first, then the rest.
    await n.report(tasks.slice(0, 2).map((t) => ok(t)));
    await n.next(isAck);
    const first = (await (
      await api(`/jobs/${id}/results?order=completion`, { token })
    ).json()) as ResultsPage;
    expect(first.results.map((r) => r.index)).toEqual([4, 3]);
    await n.report(tasks.slice(2).map((t) => ok(t)));
    await n.next(isAck);
    const rest = (await (
      await api(`/jobs/${id}/results?order=completion&cursor=${first.nextCursor}`, { token })
    ).json()) as ResultsPage;
    expect(rest.results.map((r) => r.index)).toEqual([2, 1, 0]);
    const none = (await (
      await api(`/jobs/${id}/results?order=completion&cursor=${rest.nextCursor}`, { token })
    ).json()) as ResultsPage;
    expect(none.results).toEqual([]);
  });
});

describe('bad frames', () => {
  test('error: malformed node frames get an error frame and the connection keeps working', async () => {
    const res = await api('/mesh/connect?node=node-bad-frames', { headers: { upgrade: 'websocket' } });
    const ws = res.webSocket!;
    ws.accept();
    const got: HubToNode[] = [];
    ws.addEventListener('message', (e) => got.push(JSON.parse(e.data as string) as HubToNode));
    ws.send('not json');
    ws.send(JSON.stringify({ type: 'lease.request', credit: 1 }));
    ws.send(JSON.stringify({ type: 'node.hello', nodeId: 'x' }));
    ws.send(JSON.stringify({ type: 'teleport' }));
    ws.send(
      JSON.stringify({
        type: 'node.hello',
        protocol: '/monadmesh/hub/1.0.0',
        nodeId: 'node-bad-fingerprint',
        kind: 'headless',
        runtimes: ['js'],
        capacity: 1,
        version: 't',
        fingerprint: { class: 'not-hex', probeHash: 'x', engine: {} },
      }),
    );
    await expect.poll(() => got.length).toBe(5);
    expect(got.every((m) => m.type === 'error' && m.code === 'bad_message')).toBe(true);
    expect(got.map((m) => (m.type === 'error' ? m.message : ''))).toEqual([
      'frame is not valid JSON',
      'send node.hello first',
      expect.stringMatching(/protocol|runtimes|capacity/),
      expect.stringMatching(/type/),
      expect.stringMatching(/fingerprint/),
    ]);
    const identity = await newIdentity();
    ws.send(
      JSON.stringify({
        type: 'node.hello',
        protocol: MESH_PROTOCOL,
        nodeId: 'node-bad-frames',
        kind: 'headless',
        runtimes: ['js'],
        capacity: 1,
        version: 't',
        peerId: identity.peerId.toString(),
        proof: await helloProof(identity),
      }),
    );
    await expect.poll(() => got.some((m) => m.type === 'hub.welcome')).toBe(true);
    ws.close();
  });

  test('error: a node speaking another protocol major is refused', async () => {
    const res = await api('/mesh/connect?node=node-future', { headers: { upgrade: 'websocket' } });
    const ws = res.webSocket!;
    ws.accept();
    const got: HubToNode[] = [];
    const closed = new Promise<number>((r) => ws.addEventListener('close', (e) => r(e.code)));
    ws.addEventListener('message', (e) => got.push(JSON.parse(e.data as string) as HubToNode));
    const identity = await newIdentity();
    ws.send(
      JSON.stringify({
        type: 'node.hello',
        protocol: '/monadmesh/hub/3.0.0',
        nodeId: 'node-future',
        kind: 'headless',
        runtimes: ['js'],
        capacity: 1,
        version: 't',
        peerId: identity.peerId.toString(),
        proof: await helloProof(identity),
      }),
    );
    expect(await closed).toBe(1008);
    expect(got[0]).toMatchObject({ type: 'error', message: expect.stringMatching(/not supported/) });
  });

  test('error: watchers that send anything but ping get an error frame', async () => {
    const { id, token } = await newJob({ inputs: [1] });
    const w = await watch(id, token);
    await w.next((m) => m.type === 'job.snapshot');
    w.send('{"type":"ping"}');
    await w.next((m) => m.type === 'pong');
    w.send('{"type":"subscribe-to-everything"}');
    await w.next((m) => m.type === 'error');
    w.close();
  });

  test('error: events and mesh endpoints need a WebSocket upgrade', async () => {
    const { id, token } = await newJob({ inputs: [1] });
    expect((await api(`/jobs/${id}/events`, { token })).status).toBe(426);
    expect((await api('/mesh/connect?node=node-not-upgrading')).status).toBe(426);
    const noId = await api('/mesh/connect', { headers: { upgrade: 'websocket' } });
    expect(noId.status).toBe(400);
    expect(((await noId.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
  });
});
