import {
  evictDurableObject,
  listDurableObjectIds,
  runDurableObjectAlarm,
  runInDurableObject,
} from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, test } from 'vitest';
import { NEW_NODE_WINDOW } from '../../durable-objects/hub/admission.ts';
import { shardOf } from '../../durable-objects/stubs.ts';
import {
  cidOf,
  type HubToNode,
  type LeasedTask,
  limits,
  MESH_PROTOCOL,
  type NodeToHub,
  type ResultsPage,
} from '../../protocol/index.ts';
import {
  api,
  connectNode,
  helloProof,
  hubOf,
  isAck,
  isError,
  isLeased,
  isRevoked,
  type NodeSocket,
  newIdentity,
  ok,
  perTest,
  TestSocket,
  type Unsigned,
} from './helpers.ts';

// Admission on an open network: anyone may open /mesh/connect, so every test here has a hostile
// client beside honest work, and checks that the hostile one changed nothing it should not.

const { sockets, newJob, node } = perTest();

const results = async (id: string, token: string) =>
  ((await (await api(`/jobs/${id}/results?limit=1000`, { token })).json()) as ResultsPage).results;
const room = (id: string) => env.JOB_ROOM.get(env.JOB_ROOM.idFromName(id));

/** A raw socket to the hub of `nodeId`, before any hello. */
async function rawSocket(
  nodeId: string,
): Promise<{ s: TestSocket<HubToNode, NodeToHub>; closed: Promise<CloseEvent> }> {
  const res = await api(`/mesh/connect?node=${encodeURIComponent(nodeId)}`, {
    headers: { upgrade: 'websocket' },
  });
  if (!res.webSocket) throw new Error(`no websocket: ${res.status}`);
  const closed = new Promise<CloseEvent>((r) => res.webSocket!.addEventListener('close', r));
  const s = new TestSocket<HubToNode, NodeToHub>(res.webSocket);
  sockets.push(s);
  return { s, closed };
}

/** An honest node: leases and reports everything of `jobId` until `done()` says stop. */
async function honestWork(n: NodeSocket, jobId: string, done: () => Promise<boolean>): Promise<number> {
  let reported = 0;
  n.send({ type: 'lease.request', credit: 64 });
  while (!(await done())) {
    const m = await n.next(isLeased, 10_000).catch(() => undefined);
    if (!m) continue;
    const mine = m.tasks.filter((t) => t.jobId === jobId);
    if (!mine.length) continue;
    await n.report(
      mine.map((t) => ok(t)),
      mine.length,
    );
    reported += mine.length;
  }
  return reported;
}

describe('admission', () => {
  test('behavior: lease-and-drop under 10 fresh identities while an honest node works: every task succeeds once, no attempt spent', async () => {
    const inputs = Array.from({ length: 60 }, (_, i) => i);
    const { id, token } = await newJob({ inputs, maxAttempts: 2 });
    const honest = await node('honest-beside-droppers');
    const finished = async () =>
      (await results(id, token)).every((r) => r.state !== 'pending' && r.state !== 'leased');
    const work = honestWork(honest, id, finished);
    let dropped = 0;
    for (let wave = 0; wave < 3; wave++) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, k) => {
          const attacker = await connectNode(`dropper-${wave}-${k}`);
          attacker.send({ type: 'lease.request', credit: 1024 });
          const got = await attacker.next(isLeased, 2000).catch(() => undefined);
          dropped += got?.tasks.length ?? 0;
          attacker.ws.close(1001, 'gone');
        }),
      );
    }
    await work;
    expect(dropped).toBeGreaterThan(0);
    const all = await results(id, token);
    expect(all.map((r) => r.state)).toEqual(inputs.map(() => 'succeeded'));
    expect(all.map((r) => r.output)).toEqual(inputs.map((x) => x * 2));
    // Every task ran once where it counted; the dropped leases are counted as lost, not as attempts.
    expect(all.every((r) => r.attempts === 1 && r.nodeId === 'honest-beside-droppers')).toBe(true);
    expect(all.reduce((n, r) => n + (r.lost ?? 0), 0)).toBeGreaterThanOrEqual(dropped);
  }, 60_000);

  test("behavior: a new node's lease window is small; it grows with accepted work", async () => {
    const { id } = await newJob({ inputs: Array.from({ length: 100 }, (_, i) => i) });
    const n = await node('window-grows');
    n.send({ type: 'lease.request', credit: 100 });
    const first = await n.next(isLeased);
    expect(first.tasks).toHaveLength(NEW_NODE_WINDOW);
    // Nothing more while it holds its window, however much it asked for.
    await new Promise((r) => setTimeout(r, 200));
    expect(n.messages.filter(isLeased)).toEqual([]);
    await n.report(first.tasks.map((t) => ok(t)));
    const ack = await n.next(isAck);
    expect(ack.accepted).toBe(NEW_NODE_WINDOW);
    const second = await n.next(isLeased);
    // The credit left (100 − 8) within a window of 8 + 8 accepted.
    expect(second.tasks.filter((t) => t.jobId === id)).toHaveLength(2 * NEW_NODE_WINDOW);
  });

  test('error: a node that says node_error for every lease earns nothing: counted lost, never accepted, no attempt spent', async () => {
    const { id, token } = await newJob({ inputs: Array.from({ length: 24 }, (_, i) => i), maxAttempts: 2 });
    const n = await node('says-node-error');
    let gaveUp = 0;
    const windows: number[] = [];
    for (let round = 0; round < 3; round++) {
      n.send({ type: 'lease.request', credit: NEW_NODE_WINDOW });
      const mine = (await n.next(isLeased)).tasks.filter((t) => t.jobId === id);
      windows.push(mine.length);
      gaveUp += mine.length;
      await n.report(
        mine.map((t) => ({
          ok: false,
          jobId: t.jobId,
          index: t.index,
          leaseId: t.leaseId,
          error: { kind: 'node_error', message: 'made up' },
          logs: '',
          durationMs: 30_000,
        })),
      );
      const ack = await n.next(isAck);
      expect(ack.accepted).toBe(0);
      expect(ack.standing?.reputation).toMatchObject({ accepted: 0, lost: gaveUp });
    }
    expect(windows[0]).toBe(NEW_NODE_WINDOW);
    expect(windows[2]).toBeLessThan(NEW_NODE_WINDOW);
    // Its window shrank with its losses; the tasks it gave up wait with nothing spent.
    const rs = await results(id, token);
    expect(rs.every((r) => r.attempts === 0 && r.state !== 'failed')).toBe(true);
    expect(rs.filter((r) => (r.lost ?? 0) > 0).length).toBeGreaterThan(0);
    // It goes (its unused credit would otherwise hold a lease until the lease expires).
    n.close();
    const honest = await node('after-node-error');
    await honestWork(honest, id, async () =>
      (await results(id, token)).every((r) => r.state === 'succeeded'),
    );
    expect((await results(id, token)).every((r) => r.attempts === 1)).toBe(true);
  });

  test('behavior: a lease heartbeated past its deadline goes back, and its node is told to stop', async () => {
    const { id, token } = await newJob({ inputs: [5], timeoutMs: 1000 });
    const n = await node('heartbeats-forever');
    n.send({ type: 'lease.request', credit: 1 });
    const [task] = (await n.next(isLeased)).tasks;
    expect(task!.deadline - task!.expiresAt).toBeGreaterThan(0);
    // Bring the deadline close (the real one is timeoutMs + 60 s away).
    const deadline = Date.now() + 300;
    await runInDurableObject(room(id), (_i, state) => {
      state.storage.sql.exec('UPDATE leases SET deadline = ?', deadline);
    });
    n.send({ type: 'node.heartbeat', leases: [{ jobId: id, leaseId: task!.leaseId }] });
    await expect
      .poll(async () =>
        runInDurableObject(
          room(id),
          (_i, state) => state.storage.sql.exec<{ e: number }>('SELECT expires_at AS e FROM leases').one().e,
        ),
      )
      .toBe(deadline);
    await new Promise((r) => setTimeout(r, 400));
    await runDurableObjectAlarm(room(id));
    // Heartbeats cannot keep it: the task is back in the queue, and the node is told.
    n.send({ type: 'node.heartbeat', leases: [{ jobId: id, leaseId: task!.leaseId }] });
    const revoked = await n.next(isRevoked);
    expect(revoked.leases).toEqual([{ jobId: id, leaseId: task!.leaseId }]);
    const [r] = await results(id, token);
    expect(r).toMatchObject({ state: 'pending', attempts: 0, lost: 1 });
    // Its result now is ignored, and another node gets the task.
    await n.report([ok(task!)]);
    const ack = await n.next(isAck);
    expect(ack.ignored[0]?.reason).toBe('lease is not held by this node');
    // The lapsed lease counts against the node, as a lost one (and its late result as late).
    expect(ack.standing?.reputation).toMatchObject({ accepted: 0, lost: 1, late: 1 });
    const other = await node('takes-over-after-deadline');
    other.send({ type: 'lease.request', credit: 1 });
    const again = (await other.next(isLeased)).tasks[0]!;
    expect(again).toMatchObject({ index: 0, attempt: 2 });
  });

  test('error: frames naming foreign or made-up jobs and leases are refused, create no objects, and change no other lease', async () => {
    const { id, token } = await newJob({ inputs: [1, 2] });
    const owner = await node('holds-the-lease');
    owner.send({ type: 'lease.request', credit: 2 });
    const held = (await owner.next(isLeased)).tasks;
    const rooms = (await listDurableObjectIds(env.JOB_ROOM)).length;
    const thief = await node('names-other-leases');
    const madeUp = Array.from({ length: 50 }, () => ({
      jobId: crypto.randomUUID(),
      leaseId: crypto.randomUUID(),
    }));
    const foreign = held.map((t) => ({ jobId: t.jobId, leaseId: t.leaseId }));
    thief.send({ type: 'node.heartbeat', leases: [...madeUp, ...foreign] });
    thief.send({ type: 'lease.return', leases: [...madeUp, ...foreign] });
    await thief.report([
      ...madeUp.slice(0, 5).map((l) => ({ ...ok({ ...held[0]!, ...l }) })),
      ...held.map((t) => ok(t)),
    ]);
    const ack = await thief.next(isAck);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored.map((i) => i.reason)).toEqual(Array(7).fill('lease is not held by this node'));
    // The heartbeat's foreign leases come back revoked (to the thief only); the return is refused.
    const revoked = await thief.next((m) => m.type === 'lease.revoked');
    expect(revoked.type === 'lease.revoked' && revoked.leases).toEqual([...madeUp, ...foreign]);
    expect((await thief.next(isError)).message).toBe(
      '52 of the leases named are not held by this node; ignored',
    );
    // Ids that are not UUIDs never get past the schema.
    thief.send(
      JSON.stringify({ type: 'node.heartbeat', leases: [{ jobId: 'x'.repeat(5000), leaseId: 'y' }] }),
    );
    expect((await thief.next(isError)).code).toBe('bad_message');
    expect((await listDurableObjectIds(env.JOB_ROOM)).length).toBe(rooms);
    // The owner's leases are as they were: its results count.
    expect((await results(id, token)).map((r) => r.state)).toEqual(['leased', 'leased']);
    await owner.report(held.map((t) => ok(t)));
    expect((await owner.next(isAck)).accepted).toBe(2);
  });

  test('error: a socket that says no valid hello within 5 s is closed with a reason; a node beside it works on', async () => {
    const { id } = await newJob({ inputs: [1] });
    const honest = await node('works-beside-silent');
    const silent = await rawSocket('silent-socket');
    const wrong = await rawSocket('wrong-hello');
    wrong.s.send({
      type: 'node.hello',
      protocol: MESH_PROTOCOL,
      nodeId: 'not-the-routed-id',
      kind: 'headless',
      runtimes: ['js'],
      capacity: 1,
      version: 't',
      peerId: (await newIdentity()).peerId.toString(),
      proof: await helloProof(await newIdentity()),
    });
    expect((await wrong.s.next(isError)).message).toMatch(/not the node id this connection was opened for/);
    expect((await wrong.closed).code).toBe(1008);
    await new Promise((r) => setTimeout(r, 5300));
    await runDurableObjectAlarm(hubOf('silent-socket'));
    const closed = await silent.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toBe('no hello');
    expect(silent.s.messages.find(isError)?.message).toMatch(/no valid node.hello within 5 s/);
    honest.send({ type: 'lease.request', credit: 1 });
    const [t] = (await honest.next(isLeased)).tasks.filter((x) => x.jobId === id);
    await honest.report([ok(t!)]);
    expect((await honest.next(isAck)).accepted).toBe(1);
  }, 20_000);

  test('error: a flood of frames is answered with rate_limited errors, then closed; the hub serves others, never a 5xx', async () => {
    const { id } = await newJob({ inputs: [1, 2] });
    const flooder = await node('floods-frames');
    const closed = new Promise<CloseEvent>((r) => flooder.ws.addEventListener('close', r));
    for (let i = 0; i < 700; i++) flooder.send({ type: 'node.heartbeat', leases: [] });
    const why = await Promise.race([
      closed,
      new Promise<never>((_, reject) =>
        setTimeout(
          () =>
            reject(
              new Error(
                `not closed; got ${flooder.messages.length} frames: ${JSON.stringify(flooder.messages.slice(-3))}`,
              ),
            ),
          5000,
        ),
      ),
    ]);
    expect(why.code).toBe(1008);
    expect(why.reason).toBe('flooding');
    const errors = flooder.messages.filter(isError);
    expect(errors.length).toBeGreaterThan(50);
    expect(errors.every((e) => e.code === 'rate_limited')).toBe(true);
    const honest = await node('beside-the-flood');
    honest.send({ type: 'lease.request', credit: 2 });
    const tasks = (await honest.next(isLeased)).tasks.filter((t) => t.jobId === id);
    await honest.report(tasks.map((t) => ok(t)));
    expect((await honest.next(isAck)).accepted).toBe(tasks.length);
  });

  test('error: caps per frame and per request: oversized lists, ids and holds are refused with errors', async () => {
    const n = await node('sends-oversized', { multiaddrs: ['/ip4/127.0.0.1/tcp/4001'] });
    const many = Array.from({ length: limits.maxHeldLeases + 1 }, () => ({
      jobId: crypto.randomUUID(),
      leaseId: crypto.randomUUID(),
    }));
    n.send({ type: 'node.heartbeat', leases: many });
    expect((await n.next(isError)).message).toMatch(/leases/);
    n.send({ type: 'lease.request', credit: limits.maxHeldLeases + 1 });
    expect((await n.next(isError)).message).toMatch(/credit/);
    // Holds are capped per node (4096); an update over the cap is refused whole.
    const cids = await Promise.all(
      Array.from({ length: 17 * 256 }, async (_, i) =>
        (await cidOf(new TextEncoder().encode(`blob ${i}`))).toString(),
      ),
    );
    for (let round = 0; round < 16; round++)
      n.send({ type: 'node.mesh', holds: { add: cids.slice(round * 256, (round + 1) * 256) } });
    n.send({ type: 'node.mesh', holds: { add: cids.slice(16 * 256) } });
    expect((await n.next(isError)).message).toMatch(/at most 4096 blobs/);
    const held = await runInDurableObject(
      hubOf('sends-oversized'),
      (_i, state) =>
        state.storage.sql
          .exec<{ n: number }>(`SELECT COUNT(*) AS n FROM holds WHERE node_id = 'sends-oversized'`)
          .one().n,
    );
    expect(held).toBe(4096);
    const longId = await api(`/mesh/connect?node=${'n'.repeat(300)}`, { headers: { upgrade: 'websocket' } });
    expect(longId.status).toBe(400);
    for (const path of [
      '/mesh/connect',
      `/mesh/connect?node=${'x'.repeat(4000)}`,
      '/nodes?x=1',
      '/nodes/events',
    ]) {
      expect((await api(path)).status).toBeLessThan(500);
    }
  });

  test('behavior: a hub woken from hibernation still knows what each node holds', async () => {
    const { id, token } = await newJob({ inputs: [1, 2, 3] });
    const n = await node('across-hibernation');
    n.send({ type: 'lease.request', credit: 3 });
    const tasks = (await n.next(isLeased)).tasks;
    await evictDurableObject(hubOf('across-hibernation'));
    await n.report(tasks.map((t) => ok(t)));
    const ack = await n.next(isAck);
    expect(ack.ignored).toEqual([]);
    expect(ack.accepted).toBe(3);
    expect((await results(id, token)).map((r) => r.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  });

  test('behavior: standings that anonymous traffic leaves behind are pruned; real records stay', async () => {
    const keeper = await node('keeps-its-standing');
    const hub = hubOf('keeps-its-standing');
    // A fresh instance: the hub prunes at most once an hour, counted from when it woke.
    await evictDurableObject(hub);
    const old = Date.now() - 2 * 24 * 60 * 60_000;
    await runInDurableObject(hub, (_i, state) => {
      for (let i = 0; i < 50; i++) {
        state.storage.sql.exec(
          'INSERT INTO standings (node_id, accepted, updated_at) VALUES (?, 0, ?)',
          `drive-by-${i}`,
          old,
        );
      }
      state.storage.sql.exec(
        'INSERT INTO standings (node_id, accepted, updated_at) VALUES (?, 40, ?)',
        'worked-once',
        old,
      );
      state.storage.sql.exec(
        'UPDATE standings SET updated_at = ? WHERE node_id = ?',
        old,
        'keeps-its-standing',
      );
    });
    await runDurableObjectAlarm(hub);
    const left = await runInDurableObject(hub, (_i, state) =>
      state.storage.sql
        .exec<{ node_id: string }>(
          `SELECT node_id FROM standings WHERE node_id LIKE 'drive-by-%' OR node_id IN ('worked-once', 'keeps-its-standing')`,
        )
        .toArray()
        .map((r) => r.node_id)
        .sort(),
    );
    expect(left).toEqual(['keeps-its-standing', 'worked-once']);
    keeper.send({ type: 'lease.request', credit: 1 });
  });

  test('behavior: the results a node sends just before closing its socket count for it', async () => {
    const { id, token } = await newJob({ inputs: [1, 2, 3, 4] });
    const n = await node('reports-then-closes');
    n.send({ type: 'lease.request', credit: 4 });
    const mine = (await n.next(isLeased)).tasks.filter((t) => t.jobId === id);
    await n.report(mine.map((t) => ok(t)));
    n.close();
    await expect
      .poll(async () => (await results(id, token)).filter((r) => r.state === 'succeeded').length)
      .toBe(mine.length);
    // Its standing has them, though the socket was gone before the ack.
    await expect
      .poll(() =>
        runInDurableObject(
          hubOf('reports-then-closes'),
          (_i, state) =>
            state.storage.sql
              .exec<{ accepted: number }>(
                'SELECT accepted FROM standings WHERE node_id = ?',
                'reports-then-closes',
              )
              .toArray()[0]?.accepted,
        ),
      )
      .toBe(mine.length);
  });

  test('error: receipts the schema lets through but that name no CID, or an index past 2^32, are rejected in an ack, not an internal error', async () => {
    const { id, token } = await newJob({ inputs: [1, 2] });
    const n = await node('unreadable-receipts');
    n.send({ type: 'lease.request', credit: 2 });
    const [a, b] = (await n.next(isLeased)).tasks;
    const good = await n.withReceipt(ok(a!));
    const notACid = { ...good, receipt: { ...good.receipt, inputCid: `b${'a'.repeat(40)}` } };
    n.send({ type: 'task.results', results: [notACid], credit: 0, signature: 'A'.repeat(86) });
    const ack = await n.next(isAck);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored[0]?.reason).toMatch(/^the frame's receipts cannot be read: /);
    expect(n.messages.filter(isError)).toEqual([]);
    // The leases are still the node's: good receipts for them count.
    await n.report([ok(a!), ok(b!)]);
    expect((await n.next(isAck)).accepted).toBe(2);
    expect((await results(id, token)).map((r) => r.state)).toEqual(['succeeded', 'succeeded']);
  });

  test('error: a hello listing a runtime twice, or more runtimes than exist, is refused', async () => {
    for (const runtimes of [['js', 'js'], Array(2000).fill('js')]) {
      const nodeId = `repeats-runtimes-${crypto.randomUUID()}`;
      const { s, closed } = await rawSocket(nodeId);
      const identity = await newIdentity();
      s.send({
        type: 'node.hello',
        protocol: MESH_PROTOCOL,
        nodeId,
        kind: 'headless',
        runtimes: runtimes as ['js'],
        capacity: 1,
        version: 'test',
        peerId: identity.peerId.toString(),
        proof: await helloProof(identity),
      });
      expect((await s.next(isError)).code).toBe('bad_message');
      expect(s.messages.some((m) => m.type === 'hub.welcome')).toBe(false);
      s.close();
      await closed;
    }
  });

  test('error: a node id that does not hash to the shard it reaches is refused there', async () => {
    // The shard a node id does not belong to, asked directly (as a mis-decoded id would reach it).
    const nodeId = 'wrong-shard-node';
    const other = env.MESH_HUB.get(env.MESH_HUB.idFromName(`hub-${1 - shardOf(env, nodeId)}`));
    const res = await other.fetch(`http://hub/connect?node=${nodeId}`, { headers: { upgrade: 'websocket' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /does not belong to this shard/,
    );
  });

  test('behavior: outputs are measured in UTF-8 bytes; large outputs of one frame are stored whole', async () => {
    const { id, token } = await newJob({ inputs: [0, 1, 2, 3] });
    const n = await node('large-outputs');
    n.send({ type: 'lease.request', credit: 4 });
    const tasks = (await n.next(isLeased)).tasks.filter((t) => t.jobId === id);
    const big = (t: LeasedTask, text: string): Unsigned => ({
      ...(ok(t) as Extract<Unsigned, { ok: true }>),
      output: text,
    });
    // 400,000 × '中' is 1.2 MB of UTF-8 (0.4 M UTF-16 units): over the 1 MiB limit.
    // 3 × 700 KB of ASCII: each under it, together over SQLite's 2 MB limit on one string.
    const texts = ['中'.repeat(400_000), 'a'.repeat(700_000), 'b'.repeat(700_000), 'c'.repeat(700_000)];
    await n.report(tasks.map((t) => big(t, texts[t.index]!)));
    await n.next(isAck, 30_000);
    const rs = (await results(id, token)).sort((x, y) => x.index - y.index);
    expect(rs[0]).toMatchObject({ state: 'failed', error: { kind: 'output_invalid' } });
    expect(rs[0]!.error?.message).toMatch(/output is 1200002 bytes as JSON/);
    for (const i of [1, 2, 3]) expect(rs[i]).toMatchObject({ state: 'succeeded', output: texts[i] });
  });
});
