import { listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, test } from 'vitest';
import type { NodeIdentity } from '../../browser-node/src/core/identity.ts';
import { outcomeReceipt, signResults } from '../../browser-node/src/core/sign-outcome.ts';
import { NEW_NODE_WINDOW } from '../../durable-objects/hub/admission.ts';
import type { MeshHub } from '../../durable-objects/hub/mesh-hub.ts';
import { hubShards, shardOf } from '../../durable-objects/stubs.ts';
import {
  ErrorCode,
  type HubToNode,
  type JobStatus,
  type LeasedTask,
  limits,
  MESH_PROTOCOL,
  type NodeInfo,
  type NodeToHub,
  type ResultsPage,
  type TaskOutcome,
  type TaskResult,
} from '../../protocol/index.ts';
import {
  api,
  establish,
  helloProof,
  hubOf,
  isAck,
  isError,
  isLeased,
  isRevoked,
  isWelcome,
  type NodeSocket,
  newIdentity,
  nodeIdOnShard,
  ok,
  perTest,
  TestSocket,
  type Unsigned,
  watch,
} from './helpers.ts';

// A hostile-input campaign against the open control plane. Each test interleaves several bad
// behaviours with honest work beside them, then checks that the honest job's results are all
// correct with no attempt spent, that a witness (another node of the same shard, holding leases of
// another job) saw nothing change, that every error frame says why, and that the API never 5xx'd.

const { sockets, newJob, node } = perTest();

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const room = (id: string) => env.JOB_ROOM.get(env.JOB_ROOM.idFromName(id));
const hub = (shard: number) => env.MESH_HUB.get(env.MESH_HUB.idFromName(`hub-${shard}`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function results(id: string, token: string): Promise<TaskResult[]> {
  const res = await api(`/jobs/${id}/results?limit=1000`, { token });
  expect(res.status).toBe(200);
  return ((await res.json()) as ResultsPage).results;
}

async function status(id: string, token: string): Promise<JobStatus> {
  const res = await api(`/jobs/${id}`, { token });
  expect(res.status).toBe(200);
  return (await res.json()) as JobStatus;
}

/** Every node of every shard, as the hubs list them now (no cache in between). */
async function allNodes(): Promise<NodeInfo[]> {
  const lists = await Promise.all(
    range(hubShards(env)).map((shard) =>
      runInDurableObject(hub(shard), (instance: MeshHub) => instance.listNodes()),
    ),
  );
  return lists.flat();
}

/** A node id's standing row on its shard. */
async function standingOf(nodeId: string) {
  return runInDurableObject(
    hubOf(nodeId),
    (_i, state) =>
      state.storage.sql
        .exec<{ accepted: number; rejected: number; late: number; lost: number; peer_id: string | null }>(
          'SELECT accepted, rejected, late, lost, peer_id FROM standings WHERE node_id = ?',
          nodeId,
        )
        .toArray()[0],
  );
}

/** What the hub counts `nodeId` as holding (its `held` rows). */
async function heldBy(nodeId: string): Promise<string[]> {
  return runInDurableObject(hubOf(nodeId), (_i, state) =>
    state.storage.sql
      .exec<{ lease_id: string }>('SELECT lease_id FROM held WHERE node_id = ? ORDER BY lease_id', nodeId)
      .toArray()
      .map((r) => r.lease_id),
  );
}

/** The leases a job's room has out: lease id → node id, expiry. */
async function leasesOf(jobId: string) {
  return runInDurableObject(room(jobId), (_i, state) =>
    state.storage.sql
      .exec<{ lease_id: string; node_id: string; idx: number; expires_at: number; deadline: number }>(
        'SELECT lease_id, node_id, idx, expires_at, deadline FROM leases ORDER BY lease_id',
      )
      .toArray(),
  );
}

/** A raw socket to `/mesh/connect?<query>` before any hello, with its close recorded. */
async function rawSocket(query: string) {
  const res = await api(`/mesh/connect?${query}`, { headers: { upgrade: 'websocket' } });
  if (!res.webSocket) throw new Error(`no websocket: ${res.status}`);
  let closeEvent: CloseEvent | undefined;
  const closed = new Promise<CloseEvent>((r) =>
    res.webSocket!.addEventListener('close', (e) => {
      closeEvent = e;
      r(e);
    }),
  );
  const s = new TestSocket<HubToNode, NodeToHub>(res.webSocket);
  sockets.push(s);
  return { s, closed, isOpen: () => closeEvent === undefined };
}

/** A `node.hello` as a real node sends it (fields overridable for the hostile variants). */
async function helloFrame(
  nodeId: string,
  identity: NodeIdentity,
  extra: Partial<Extract<NodeToHub, { type: 'node.hello' }>> = {},
): Promise<string> {
  return JSON.stringify({
    type: 'node.hello',
    protocol: MESH_PROTOCOL,
    nodeId,
    kind: 'headless',
    runtimes: ['js'],
    capacity: 4,
    version: 'test',
    peerId: identity.peerId.toString(),
    proof: await helloProof(identity),
    ...extra,
  });
}

/** Every error frame says what was wrong, with a code of the protocol. */
function expectReasons(messages: { type: string }[]): void {
  for (const m of messages) {
    if (m.type !== 'error') continue;
    const e = m as Extract<HubToNode, { type: 'error' }>;
    expect(ErrorCode.safeParse(e.code).success, JSON.stringify(e)).toBe(true);
    expect(e.message.length, JSON.stringify(e)).toBeGreaterThan(10);
  }
}

/** The close has this code and says why. */
function expectClose(e: CloseEvent, code: number, reason: string | RegExp): void {
  expect(e.code).toBe(code);
  expect(e.reason).toMatch(reason);
}

/** An honest node: leases everything it can, computes x·2 and reports, until the job is done. */
async function honestRun(n: NodeSocket, id: string, token: string): Promise<void> {
  n.send({ type: 'lease.request', credit: 64 });
  const deadline = Date.now() + 20_000;
  while ((await status(id, token)).state === 'running') {
    if (Date.now() > deadline) throw new Error(`honest run of ${id} did not finish`);
    const m = await n.next(isLeased, 500).catch(() => undefined);
    if (!m) continue;
    await n.report(
      m.tasks.map((t) => ok(t)),
      m.tasks.length,
    );
  }
}

/** The honest job's results: every one correct, from the honest node, at one attempt, none lost. */
async function expectHonest(id: string, token: string, inputs: number[], nodeId: string): Promise<void> {
  const rs = await results(id, token);
  expect(rs.map((r) => [r.index, r.state, r.output, r.attempts, r.lost ?? 0, r.nodeId])).toEqual(
    inputs.map((x, i) => [i, 'succeeded', x * 2, 1, 0, nodeId]),
  );
  expect((await status(id, token)).state).toBe('succeeded');
}

/** The API answers every read about the job and the mesh without a 5xx. */
async function expectNoServerErrors(id: string, token: string): Promise<void> {
  for (const path of [
    `/jobs/${id}`,
    `/jobs/${id}/results?limit=1000`,
    `/jobs/${id}/results?order=completion`,
    '/jobs?limit=100',
    '/nodes',
  ]) {
    const res = await api(path, { token });
    expect(res.status, path).toBeLessThan(500);
    await res.body?.cancel();
  }
}

/**
 * A bystander on `shard`: a python-only node holding both leases of a python job (no js node
 * takes them). `check` fails if anything about it changed: its leases (ids, expiry), its tasks,
 * its standing, what its hub counts it holding, or what it was sent.
 */
async function witness(shard: number) {
  const { id } = await newJob({ runtime: 'python', source: 'def main(x):\n    return x\n', inputs: [1, 2] });
  const nodeId = nodeIdOnShard('witness', shard);
  const w = await node(nodeId, { runtimes: ['python'] });
  w.send({ type: 'lease.request', credit: 2 });
  const got: LeasedTask[] = [];
  while (got.length < 2) got.push(...(await w.next(isLeased)).tasks);
  // Long-lived leases (to their deadline), so that nothing but a foreign frame could move them.
  await runInDurableObject(room(id), (_i, state) => {
    state.storage.sql.exec('UPDATE leases SET expires_at = deadline');
  });
  const snapshot = async () => ({
    leases: await leasesOf(id),
    tasks: await runInDurableObject(room(id), (_i, state) =>
      state.storage.sql.exec('SELECT idx, state, attempts, drops, node_id FROM tasks ORDER BY idx').toArray(),
    ),
    standing: await standingOf(nodeId),
    held: await heldBy(nodeId),
  });
  const before = await snapshot();
  expect(before.held).toHaveLength(2);
  return {
    nodeId,
    check: async () => {
      expect(await snapshot()).toEqual(before);
      expect(w.messages.filter((m) => m.type !== 'mesh.peers')).toEqual([]);
      expect(w.ws.readyState).toBe(WebSocket.OPEN);
    },
  };
}

describe('hostile input', () => {
  test('error: garbage before and after hello (binary, bad JSON, unknown type, second hello, 16 MiB+ frame, wrong protocol) gets one error with a reason each; the honest node beside finishes', async () => {
    const shard = 0;
    const w = await witness(shard);
    const inputs = range(12, 1);
    const { id, token } = await newJob({ inputs });
    const honestId = nodeIdOnShard('honest-beside-garbage', shard);
    const honest = await node(honestId);
    const work = honestRun(honest, id, token);

    const gId = nodeIdOnShard('sends-garbage', shard);
    const g = await rawSocket(`node=${gId}`);
    g.s.ws.send(new TextEncoder().encode('{"type":"node.heartbeat","leases":[]}'));
    g.s.send('{"type":"node.hello",');
    g.s.send('[]');
    g.s.send('{"type":"teleport","to":"hub-1"}');
    g.s.send('{"type":"lease.request","credit":1024}');
    await expect.poll(() => g.s.messages.length).toBe(5);
    expect(g.s.messages.splice(0)).toEqual([
      { type: 'error', code: 'bad_message', message: 'frames must be JSON text' },
      { type: 'error', code: 'bad_message', message: 'frame is not valid JSON' },
      { type: 'error', code: 'bad_message', message: expect.any(String) },
      { type: 'error', code: 'bad_message', message: expect.stringMatching(/type/) },
      { type: 'error', code: 'bad_message', message: 'send node.hello first' },
    ]);
    // A real hello, then a second one with another key and a larger capacity: refused, and the
    // first one stands.
    const key = await newIdentity();
    g.s.send(await helloFrame(gId, key));
    await g.s.next(isWelcome);
    g.s.send(await helloFrame(gId, await newIdentity(), { capacity: 256, runtimes: ['js', 'python'] }));
    expect((await g.s.next(isError)).message).toBe('node.hello was said already on this connection');
    // A frame over 16 MiB is refused before it is parsed; the socket stays usable.
    g.s.send(`{"type":"node.heartbeat","leases":[],"pad":"${'a'.repeat(limits.maxFrameBytes)}"}`);
    expect((await g.s.next(isError, 20_000)).message).toMatch(
      new RegExp(`over the limit of ${limits.maxFrameBytes}`),
    );
    // Another protocol major, on its own socket: refused and closed with a code and reason.
    const pId = nodeIdOnShard('speaks-protocol-1', shard);
    const p = await rawSocket(`node=${pId}`);
    p.s.send(await helloFrame(pId, await newIdentity(), { protocol: '/monadmesh/hub/1.0.0' }));
    expectClose(await p.closed, 1008, 'unsupported protocol version');
    expect(p.s.messages).toEqual([
      { type: 'error', code: 'bad_message', message: expect.stringMatching(/not supported/) },
    ]);

    await work;
    expect(g.isOpen()).toBe(true);
    const listed = (await allNodes()).filter((n) => n.nodeId === gId);
    expect(listed).toEqual([
      expect.objectContaining({ capacity: 4, runtimes: ['js'], peerId: key.peerId.toString(), running: 0 }),
    ]);
    expect(await standingOf(gId)).toMatchObject({ accepted: 0, rejected: 0, late: 0, lost: 0 });
    expectReasons(g.s.messages);
    await expectHonest(id, token, inputs, honestId);
    await w.check();
    await expectNoServerErrors(id, token);
  }, 60_000);

  test('error: a frame over 16 MiB as UTF-8 is refused even when it has fewer than 16 Mi UTF-16 units', async () => {
    const shard = 1;
    const w = await witness(shard);
    const inputs = range(6, 1);
    const { id, token } = await newJob({ inputs });
    const honestId = nodeIdOnShard('honest-beside-wide-frames', shard);
    const honest = await node(honestId);
    const work = honestRun(honest, id, token);
    const n = await node(nodeIdOnShard('sends-wide-frames', shard));
    // 6 Mi euro signs: 6 Mi UTF-16 units, 18 MiB on the wire.
    const frame = `{"type":"node.heartbeat","leases":[],"pad":"${'€'.repeat(6 * 1024 * 1024)}"}`;
    expect(new TextEncoder().encode(frame).length).toBeGreaterThan(limits.maxFrameBytes);
    n.send(frame);
    // A marker the hub always answers: what came before it is the answer to the wide frame.
    n.send('{"type":"lease.request","credit":0}');
    await n.next((m) => isError(m) && /credit/.test(m.message), 20_000);
    expect(n.messages.filter(isError).map((e) => e.message)).toEqual([
      expect.stringMatching(new RegExp(`over the limit of ${limits.maxFrameBytes}`)),
    ]);
    await work;
    await expectHonest(id, token, inputs, honestId);
    await w.check();
    await expectNoServerErrors(id, token);
  }, 60_000);

  test('error: a ?node= that the Worker and the hub decode differently cannot put a node id on a shard it does not hash to', async () => {
    // `%C3` is an invalid percent-escape: the Worker's router keeps it as is (and routes by the
    // hash of `…%C3`), URLSearchParams in the hub decodes it to U+FFFD.
    let base = '';
    do base = `misrouted-${crypto.randomUUID()}`;
    while (shardOf(env, `${base}%C3`) === shardOf(env, `${base}\uFFFD`));
    const victimId = `${base}\uFFFD`;
    const home = shardOf(env, victimId);
    const w = await witness(1 - home);
    const inputs = range(6, 1);
    const { id, token } = await newJob({ inputs });
    // The honest owner of the id, on its home shard.
    const owner = await newIdentity();
    const honest = await node(victimId, { identity: owner });
    const work = honestRun(honest, id, token);
    // Another key claims the same id through the other spelling.
    const res = await api(`/mesh/connect?node=${base}%C3`, { headers: { upgrade: 'websocket' } });
    if (res.webSocket) {
      const closed = new Promise<CloseEvent>((r) => res.webSocket!.addEventListener('close', r));
      const m = new TestSocket<HubToNode, NodeToHub>(res.webSocket);
      sockets.push(m);
      m.send(await helloFrame(victimId, await newIdentity()));
      const first = await m.next(() => true);
      expect(first, 'the hello must be refused, not welcomed on another shard').toMatchObject({
        type: 'error',
        code: 'bad_message',
      });
      expect((await closed).code).toBe(1008);
    } else {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    await work;
    // The id is listed once, with its owner's key, and only its home shard has a row for it.
    expect((await allNodes()).filter((n) => n.nodeId === victimId).map((n) => n.peerId)).toEqual([
      owner.peerId.toString(),
    ]);
    const rows = await runInDurableObject(hub(1 - home), (_i, state) =>
      state.storage.sql.exec('SELECT node_id FROM standings WHERE node_id = ?', victimId).toArray(),
    );
    expect(rows).toEqual([]);
    await expectHonest(id, token, inputs, victimId);
    await w.check();
    await expectNoServerErrors(id, token);
  });

  test('error: lying results frames (another key, reordered after signing, leases of another node, receipts naming other code or input, a lease twice, a cancelled job) count nothing; honest results count once', async () => {
    const shard = 0;
    const w = await witness(shard);
    const inputs = range(12, 1);
    const { id, token } = await newJob({ inputs });
    const liar = await node(nodeIdOnShard('lying-results', shard));
    liar.send({ type: 'lease.request', credit: 4 });
    const mine = (await liar.next(isLeased)).tasks;
    expect(mine.map((t) => t.index)).toEqual([0, 1, 2, 3]);
    const honestId = nodeIdOnShard('honest-beside-liar', shard);
    const honest = await node(honestId);
    honest.send({ type: 'lease.request', credit: 8 });
    const theirs = (await honest.next(isLeased)).tasks;
    expect(theirs.map((t) => t.index)).toEqual(range(8, 4));
    const theirLeases = await leasesOf(id);

    // 1. Signed by another key.
    liar.send(
      await liar.resultsFrame(
        mine.map((t) => ok(t)),
        { as: await newIdentity() },
      ),
    );
    let ack = await liar.next(isAck);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored.map((i) => i.reason)).toEqual(Array(4).fill(expect.stringMatching(/does not verify/)));
    await honest.report(theirs.slice(0, 3).map((t) => ok(t)));
    expect((await honest.next(isAck)).accepted).toBe(3);

    // 2. A valid signature over another order of the same results.
    const signed = await liar.resultsFrame([ok(mine[0]!), ok(mine[1]!)]);
    liar.send({ ...signed, results: [signed.results[1]!, signed.results[0]!] });
    ack = await liar.next(isAck);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored.map((i) => i.reason)).toEqual(Array(2).fill(expect.stringMatching(/does not verify/)));

    // 3. The honest node's leases, correctly computed and signed by the liar.
    const stolen = await Promise.all(theirs.slice(3).map((t) => liar.withReceipt(ok(t), t)));
    liar.send(await liar.resultsFrame(stolen));
    ack = await liar.next(isAck);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored.map((i) => i.reason)).toEqual(Array(5).fill('lease is not held by this node'));

    // 4. Receipts that name other code and another input (signed correctly over what they say).
    liar.send(
      await liar.resultsFrame([
        await liar.withReceipt(ok(mine[2]!), {
          codeCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
        }),
        await liar.withReceipt(ok(mine[3]!), { input: 999 }),
      ]),
    );
    ack = await liar.next(isAck);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored.map((i) => i.reason)).toEqual([
      expect.stringMatching(/receipt is for other code/),
      expect.stringMatching(/receipt is for another input/),
    ]);

    // Nothing of the honest node moved; its results count, and so do the liar's honest ones
    // (its leases stayed open through the refusals).
    expect((await leasesOf(id)).filter((l) => l.node_id === honestId)).toEqual(
      theirLeases.filter(
        (l) => l.node_id === honestId && theirs.slice(3).some((t) => t.leaseId === l.lease_id),
      ),
    );
    await honest.report(theirs.slice(3).map((t) => ok(t)));
    expect((await honest.next(isAck)).accepted).toBe(5);
    // Its own results, the first one twice in the frame: counted once.
    await liar.report([ok(mine[0]!), ...mine.map((t) => ok(t))]);
    ack = await liar.next(isAck);
    expect(ack.accepted).toBe(4);
    expect(ack.ignored).toEqual([{ jobId: id, index: 0, reason: 'task is already succeeded' }]);
    const rs = await results(id, token);
    expect(rs.map((r) => [r.state, r.output, r.attempts, r.lost ?? 0])).toEqual(
      inputs.map((x) => ['succeeded', x * 2, 1, 0]),
    );
    expect(rs.slice(4).every((r) => r.nodeId === honestId)).toBe(true);
    expect(await standingOf(honestId)).toMatchObject({ accepted: 8, rejected: 0, late: 0, lost: 0 });

    // 5. Results for a job cancelled under the liar: revoked, then ignored; nothing is recorded.
    const cancelled = await newJob({ inputs: [7] });
    liar.send({ type: 'lease.request', credit: 1 });
    const [late] = (await liar.next(isLeased)).tasks;
    expect(
      (await api(`/jobs/${cancelled.id}/cancel`, { method: 'POST', token: cancelled.token })).status,
    ).toBe(200);
    expect((await liar.next(isRevoked)).leases).toEqual([{ jobId: cancelled.id, leaseId: late!.leaseId }]);
    await liar.report([ok(late!)]);
    ack = await liar.next(isAck);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored.map((i) => i.reason)).toEqual(['lease is not held by this node']);
    expect((await results(cancelled.id, cancelled.token))[0]).toMatchObject({
      state: 'cancelled',
      attempts: 0,
    });

    expectReasons(liar.messages);
    await w.check();
    await expectNoServerErrors(id, token);
  });

  test("error: whatever a results frame names, the hub's count of what a node holds stays what the room has leased to it (a lease twice with a refuted copy first; a held lease under another task's index)", async () => {
    const shard = 1;
    const w = await witness(shard);
    const inputs = range(8, 1);
    const { id, token } = await newJob({ inputs });
    const oddId = nodeIdOnShard('names-leases-oddly', shard);
    const odd = await node(oddId);
    odd.send({ type: 'lease.request', credit: 3 });
    const [t0, t1, t2] = (await odd.next(isLeased)).tasks;
    const inRoom = async () =>
      (await leasesOf(id))
        .filter((l) => l.node_id === oddId)
        .map((l) => l.lease_id)
        .sort();
    expect(await heldBy(oddId)).toEqual(await inRoom());

    // 1. The same lease twice in one frame: first with a receipt the room refutes, then a good
    // one. The task succeeds and the room ends the lease; the hub must end it too.
    odd.send(await odd.resultsFrame([await odd.withReceipt(ok(t0!), { input: 12345 }), ok(t0!)]));
    let ack = await odd.next(isAck);
    expect(ack.accepted).toBe(1);
    expect(ack.ignored).toEqual([
      expect.objectContaining({ index: 0, reason: expect.stringMatching(/receipt is for another input/) }),
    ]);
    expect((await results(id, token))[0]).toMatchObject({ state: 'succeeded', output: 2, attempts: 1 });
    expect.soft(await heldBy(oddId), 'held by the hub after a lease twice').toEqual(await inRoom());

    // 2. A held lease reported under another task's index: ignored by the room, which keeps the
    // lease; the hub must keep it too (or the room let it go), not tell the node it is gone while
    // the task waits on it.
    await odd.report([{ ...ok(t1!), index: t2!.index }]);
    ack = await odd.next(isAck);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored).toHaveLength(1);
    expect
      .soft(await heldBy(oddId), 'held by the hub after a result under another index')
      .toEqual(await inRoom());
    odd.send({
      type: 'node.heartbeat',
      leases: [t1!, t2!].map((t) => ({ jobId: t.jobId, leaseId: t.leaseId })),
    });
    await sleep(100);
    const revoked = odd.messages.filter(isRevoked).flatMap((r) => r.leases.map((l) => l.leaseId));
    expect
      .soft(
        (await inRoom()).filter((l) => revoked.includes(l)),
        'leases the node was told are gone, still leased to it by the room',
      )
      .toEqual([]);

    // Whatever the hub and the room made of it, the honest work completes once the leases run
    // out (their TTL, brought forward), with no attempt spent.
    await runInDurableObject(room(id), (_i, state) => {
      state.storage.sql.exec('UPDATE leases SET expires_at = ? WHERE node_id = ?', Date.now() - 1, oddId);
    });
    await runDurableObjectAlarm(room(id));
    const honestId = nodeIdOnShard('honest-beside-odd-leases', shard);
    const honest = await node(honestId);
    await honestRun(honest, id, token);
    const rs = await results(id, token);
    expect(rs.map((r) => [r.state, r.output, r.attempts])).toEqual(
      inputs.map((x) => ['succeeded', x * 2, 1]),
    );
    expect(rs.slice(1).every((r) => r.nodeId === honestId)).toBe(true);
    expectReasons(odd.messages);
    await w.check();
    await expectNoServerErrors(id, token);
  });

  test("error: heartbeats and returns naming another node's leases or made-up ids, between honest results, extend nothing, return nothing and create no rooms", async () => {
    const shard = 0;
    const w = await witness(shard);
    const inputs = range(8, 1);
    const { id, token } = await newJob({ inputs });
    const honestId = nodeIdOnShard('honest-beside-thief', shard);
    const honest = await node(honestId);
    honest.send({ type: 'lease.request', credit: 8 });
    const held = (await honest.next(isLeased)).tasks;
    const thief = await node(nodeIdOnShard('heartbeats-others', shard));
    const rooms = (await listDurableObjectIds(env.JOB_ROOM)).length;
    // Leases that would expire soon, so an extension would show.
    const soon = Date.now() + 10_000;
    await runInDurableObject(room(id), (_i, state) => {
      state.storage.sql.exec('UPDATE leases SET expires_at = ?', soon);
    });
    const madeUp = range(20).map(() => ({ jobId: crypto.randomUUID(), leaseId: crypto.randomUUID() }));
    const refs = (ts: LeasedTask[]) => ts.map((t) => ({ jobId: t.jobId, leaseId: t.leaseId }));
    const witnessLeases = await heldBy(w.nodeId);
    const mixedJob = witnessLeases.map((leaseId) => ({ jobId: id, leaseId }));
    for (let round = 0; round < 4; round++) {
      const open = held.slice(round * 2);
      thief.send({ type: 'node.heartbeat', leases: [...madeUp, ...refs(open), ...mixedJob] });
      thief.send({ type: 'lease.return', leases: [...refs(open), ...madeUp] });
      expect((await thief.next(isRevoked)).leases).toHaveLength(
        madeUp.length + open.length + mixedJob.length,
      );
      expect((await thief.next(isError)).message).toBe(
        `${open.length + madeUp.length} of the leases named are not held by this node; ignored`,
      );
      expect((await leasesOf(id)).every((l) => l.node_id === honestId && l.expires_at === soon)).toBe(true);
      await honest.report(held.slice(round * 2, round * 2 + 2).map((t) => ok(t)));
      expect((await honest.next(isAck)).accepted).toBe(2);
    }
    expect(honest.messages.filter((m) => isRevoked(m) || isError(m))).toEqual([]);
    expect((await listDurableObjectIds(env.JOB_ROOM)).length).toBe(rooms);
    expect(await standingOf(honestId)).toMatchObject({ accepted: 8, rejected: 0, late: 0, lost: 0 });
    expectReasons(thief.messages);
    await expectHonest(id, token, inputs, honestId);
    await w.check();
    await expectNoServerErrors(id, token);
  });

  test('behavior: a reconnect storm of one node mid-frame, with other keys claiming its id: one socket survives, every other is closed with a reason, and the hub holds for it just what the room has leased to it', async () => {
    const shard = 1;
    const w = await witness(shard);
    const inputs = range(8, 1);
    const { id, token } = await newJob({ inputs });
    const nodeId = nodeIdOnShard('reconnect-storm', shard);
    const key = await newIdentity();
    const first = await node(nodeId, { identity: key });
    const firstClosed = new Promise<CloseEvent>((r) => first.ws.addEventListener('close', r));
    first.send({ type: 'lease.request', credit: 8 });
    const leased = (await first.next(isLeased)).tasks;
    expect(leased).toHaveLength(8);
    // Five reconnects with the node's key and three other keys, all said the moment a results
    // frame for half of the leases has gone out on the first socket.
    const storm = await Promise.all(range(5).map(() => rawSocket(`node=${nodeId}`)));
    const impostors = await Promise.all(range(3).map(() => rawSocket(`node=${nodeId}`)));
    const hellos = await Promise.all(storm.map(() => helloFrame(nodeId, key)));
    const impostorHellos = await Promise.all(
      impostors.map(async () => helloFrame(nodeId, await newIdentity())),
    );
    const inFlight = await first.resultsFrame(leased.slice(0, 4).map((t) => ok(t)));
    first.send(inFlight);
    for (const [i, s] of storm.entries()) s.s.send(hellos[i]!);
    for (const [i, s] of impostors.entries()) s.s.send(impostorHellos[i]!);

    for (const i of impostors) {
      expectClose(await i.closed, 1008, 'node id of another peer');
      expect(i.s.messages).toEqual([
        { type: 'error', code: 'bad_message', message: expect.stringMatching(/belongs to another key/) },
      ]);
    }
    expectClose(await firstClosed, 4000, 'replaced by a newer connection of the same node');
    await expect.poll(() => storm.filter((s) => s.isOpen()).length).toBe(1);
    const survivor = storm.find((s) => s.isOpen())!;
    for (const s of storm.filter((x) => !x.isOpen())) {
      expectClose(await s.closed, 4000, 'replaced by a newer connection of the same node');
    }
    for (const s of storm) expectReasons(s.s.messages);
    // The frame in flight was recorded. The leases it settled are not the room's any more, and
    // the hub must not count them against the node's new socket (its window, its running count).
    await expect.poll(async () => (await status(id, token)).counts.succeeded).toBe(4);
    const inRoom = (await leasesOf(id))
      .filter((l) => l.node_id === nodeId)
      .map((l) => l.lease_id)
      .sort();
    expect(inRoom).toEqual(
      leased
        .slice(4)
        .map((t) => t.leaseId)
        .sort(),
    );
    expect.soft(await heldBy(nodeId), 'what the hub counts the node holding after the storm').toEqual(inRoom);
    expect.soft((await allNodes()).find((n) => n.nodeId === nodeId)?.running).toBe(4);
    // The rest followed the node: the survivor reports everything (the unacknowledged frame
    // again, as a node does), and each task counts once.
    await reportFor(survivor.s, key, leased);
    const ack = await survivor.s.next(isAck);
    expect(ack.accepted).toBe(4);
    expect(ack.ignored.map((i) => i.index).sort()).toEqual([0, 1, 2, 3]);
    await expectHonest(id, token, inputs, nodeId);
    expect(await standingOf(nodeId)).toMatchObject({ accepted: 8, lost: 0, peer_id: key.peerId.toString() });
    expect((await allNodes()).filter((n) => n.nodeId === nodeId)).toHaveLength(1);
    await w.check();
    await expectNoServerErrors(id, token);
  });

  test('error: watchers sending garbage (binary, bad JSON, node frames, a large frame, a flood) get error frames and change nothing; the honest watcher sees the job finish', async () => {
    const shard = 0;
    const w = await witness(shard);
    const inputs = range(6, 1);
    const { id, token } = await newJob({ inputs });
    const good = await watch(id, token);
    sockets.push(good);
    await good.next((m) => m.type === 'job.snapshot');
    const bad = await watch(id, token);
    sockets.push(bad);
    await bad.next((m) => m.type === 'job.snapshot');
    const mapRes = await api('/nodes/events', { headers: { upgrade: 'websocket' } });
    const map = new TestSocket<{ type: string; nodes?: NodeInfo[] }, { type: 'ping' }>(mapRes.webSocket!);
    sockets.push(map);
    await map.next((m) => m.type === 'nodes.snapshot');
    const honestId = nodeIdOnShard('honest-beside-bad-watchers', shard);
    const honest = await node(honestId);
    honest.send({ type: 'lease.request', credit: 6 });
    const tasks = (await honest.next(isLeased)).tasks;
    const forged = await honest.resultsFrame(tasks.map((t) => ok(t, -1)));
    const garbage: (string | Uint8Array)[] = [
      new Uint8Array([1, 2, 3]),
      '{"type":"ping"',
      JSON.stringify(forged),
      JSON.stringify({
        type: 'lease.return',
        leases: tasks.map((t) => ({ jobId: t.jobId, leaseId: t.leaseId })),
      }),
      JSON.stringify({ type: 'cancel' }),
      `{"type":"x","pad":"${'y'.repeat(2 * 1024 * 1024)}"}`,
      ...range(200).map((i) => `{"type":"flood","i":${i}}`),
    ];
    for (const frame of garbage) {
      bad.ws.send(frame);
      map.ws.send(frame);
    }
    await expect.poll(() => bad.messages.filter((m) => m.type === 'error').length).toBe(garbage.length);
    await expect.poll(() => map.messages.filter((m) => m.type === 'error').length).toBe(garbage.length);
    expectReasons(bad.messages);
    expectReasons(map.messages);
    // Both still answer pings.
    bad.send({ type: 'ping' });
    await bad.next((m) => m.type === 'pong');
    map.send({ type: 'ping' });
    await map.next((m) => m.type === 'pong');
    // Nothing the watchers sent reached the tasks: the honest node's results count.
    await honest.report(tasks.map((t) => ok(t)));
    expect((await honest.next(isAck)).accepted).toBe(6);
    const finished = await good.next((m) => m.type === 'job.finished');
    expect(finished).toMatchObject({ state: 'succeeded', counts: { succeeded: 6 } });
    expect(good.messages.filter((m) => m.type === 'error')).toEqual([]);
    await map.next((m) => m.type === 'nodes.updated' && !!m.nodes?.some((n) => n.nodeId === honestId));
    await expectHonest(id, token, inputs, honestId);
    await w.check();
    await expectNoServerErrors(id, token);
  });

  test('behavior: credit abuse and hoarding: a node asking for huge credit again and again holds its window only, and what it never reports goes back at expiry with no attempt spent', async () => {
    const shard = 1;
    const w = await witness(shard);
    const inputs = range(20, 1);
    const { id, token } = await newJob({ inputs });
    const hoarderId = nodeIdOnShard('hoards-leases', shard);
    const hoarder = await node(hoarderId);
    for (let i = 0; i < 50; i++) hoarder.send({ type: 'lease.request', credit: limits.maxHeldLeases });
    hoarder.send({ type: 'lease.request', credit: limits.maxHeldLeases + 1 });
    expect((await hoarder.next(isError)).message).toMatch(/credit/);
    const hoarded = (await hoarder.next(isLeased)).tasks;
    expect(hoarded).toHaveLength(NEW_NODE_WINDOW);
    await sleep(200);
    expect(hoarder.messages.filter(isLeased)).toEqual([]);
    // An established honest node takes the rest.
    const honestId = nodeIdOnShard('honest-beside-hoarder', shard);
    await establish(honestId);
    const honest = await node(honestId);
    const take = async (n: number) => {
      honest.send({ type: 'lease.request', credit: n });
      const got: LeasedTask[] = [];
      while (got.length < n) got.push(...(await honest.next(isLeased)).tasks);
      await honest.report(got.map((t) => ok(t)));
      expect((await honest.next(isAck)).accepted).toBe(n);
    };
    await take(inputs.length - NEW_NODE_WINDOW);
    // The hoarder never heartbeats: its leases run out (their TTL, brought forward) and the room
    // puts the tasks back as drops, not attempts.
    await runInDurableObject(room(id), (_i, state) => {
      state.storage.sql.exec('UPDATE leases SET expires_at = ? WHERE node_id = ?', Date.now() - 1, hoarderId);
    });
    await runDurableObjectAlarm(room(id));
    // Its heartbeat now is told the leases are gone, and its late results count nothing.
    const refs = hoarded.map((t) => ({ jobId: t.jobId, leaseId: t.leaseId }));
    hoarder.send({ type: 'node.heartbeat', leases: refs });
    const revoked = await hoarder.next(isRevoked);
    expect(revoked.leases).toEqual(refs);
    expect(revoked.reason).toMatch(/expired/);
    await hoarder.report(hoarded.map((t) => ok(t)));
    const ack = await hoarder.next(isAck);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored.map((i) => i.reason)).toEqual(
      Array(NEW_NODE_WINDOW).fill('lease is not held by this node'),
    );
    expect(await heldBy(hoarderId)).toEqual([]);
    // It leaves (with whatever it took meanwhile: its credit is still huge); the honest node
    // finishes the job.
    hoarder.close();
    await honestRun(honest, id, token);
    const rs = await results(id, token);
    expect(rs.map((r) => [r.state, r.output, r.attempts, r.nodeId])).toEqual(
      inputs.map((x) => ['succeeded', x * 2, 1, honestId]),
    );
    expect(rs.filter((r) => (r.lost ?? 0) > 0).map((r) => r.index)).toEqual(hoarded.map((t) => t.index));
    expectReasons(hoarder.messages);
    await w.check();
    await expectNoServerErrors(id, token);
  });

  test('error: an output over 1 MiB of UTF-8 fails its task as output_invalid, whether it is ASCII or multi-byte; the honest results beside it stand', async () => {
    const shard = 0;
    const w = await witness(shard);
    const inputs = range(6, 1);
    const { id, token } = await newJob({ inputs });
    const big = await node(nodeIdOnShard('reports-huge-outputs', shard));
    big.send({ type: 'lease.request', credit: 2 });
    const [a, b] = (await big.next(isLeased)).tasks;
    const honestId = nodeIdOnShard('honest-beside-huge-outputs', shard);
    const honest = await node(honestId);
    const work = honestRun(honest, id, token);
    // 1 MiB + 8 ASCII characters; 400,000 euro signs (400,002 UTF-16 units, 1.2 MB of UTF-8).
    const ascii = 'a'.repeat(limits.maxOutputBytes + 8);
    const wide = '€'.repeat(400_000);
    expect(new TextEncoder().encode(JSON.stringify(wide)).length).toBeGreaterThan(limits.maxOutputBytes);
    await big.report([ok(a!, ascii), ok(b!, wide)]);
    const ack = await big.next(isAck, 20_000);
    expect(ack.ignored).toEqual([]);
    await work;
    const rs = await results(id, token);
    expect(rs.slice(0, 2).map((r) => [r.state, r.error?.kind, r.output])).toEqual([
      ['failed', 'output_invalid', undefined],
      ['failed', 'output_invalid', undefined],
    ]);
    expect(rs.slice(2).map((r) => [r.state, r.output, r.attempts, r.nodeId])).toEqual(
      inputs.slice(2).map((x) => ['succeeded', x * 2, 1, honestId]),
    );
    await w.check();
    await expectNoServerErrors(id, token);
  }, 60_000);
});

/**
 * Report leases another socket of the same node received (it was taken over): each receipt made
 * from the leased task itself, the frame signed with the node's key.
 */
async function reportFor(
  s: TestSocket<HubToNode, NodeToHub>,
  key: NodeIdentity,
  tasks: LeasedTask[],
): Promise<void> {
  const outcomes = await Promise.all(
    tasks.map(
      async (t): Promise<TaskOutcome> => ({
        ...(ok(t) as Extract<Unsigned, { ok: true }>),
        receipt: await outcomeReceipt(t, { ok: true, output: (t.input as number) * 2 }),
      }),
    ),
  );
  s.send({ type: 'task.results', results: outcomes, credit: 0, signature: await signResults(key, outcomes) });
}
