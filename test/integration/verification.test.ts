import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, test } from 'vitest';
import { linkNodeWithPrivateKey } from '../../client/node-link.ts';
import { DEV_PRIVATE_KEYS } from '../../client/sign-in.ts';
import type {
  HubToNode,
  JobStatus,
  LeasedTask,
  NodeStanding,
  ResultsPage,
  RuntimeFingerprint,
} from '../../protocol/index.ts';
import {
  api,
  credible,
  establish,
  isAck,
  isFrame,
  isLeased,
  type NodeSocket,
  ORIGIN,
  ok,
  perTest,
  type Unsigned,
} from './helpers.ts';

const { newJob, node } = perTest();
const room = (id: string) => env.JOB_ROOM.get(env.JOB_ROOM.idFromName(id));
const isStanding = isFrame('node.standing');

/** Ask for work and take the tasks of the next lease frame. */
async function take(n: NodeSocket, credit = 64): Promise<LeasedTask[]> {
  n.send({ type: 'lease.request', credit });
  return (await n.next(isLeased)).tasks;
}

/**
 * Take one task at a time until task `index` is leased; the tasks leased before it (known-answer
 * checks of decided tasks) are answered right. Returns it and how many came before.
 */
async function takeIndex(n: NodeSocket, index: number): Promise<{ task: LeasedTask; checks: number }> {
  for (let checks = 0; ; checks++) {
    const [t] = await take(n, 1);
    if (t!.index === index) return { task: t!, checks };
    expect((await answer(n, [ok(t!)])).accepted).toBe(1);
  }
}

async function answer(n: NodeSocket, outcomes: Unsigned[]) {
  await n.report(outcomes);
  return n.next(isAck);
}

const fail = (t: LeasedTask, kind: 'user_error' | 'timeout' = 'user_error'): Unsigned => ({
  ok: false,
  jobId: t.jobId,
  index: t.index,
  leaseId: t.leaseId,
  error: { kind, message: `${kind} on purpose` },
  logs: '',
  durationMs: 1,
});

async function results(id: string, token: string): Promise<ResultsPage['results']> {
  const res = await api(`/jobs/${id}/results`, { token });
  return ((await res.json()) as ResultsPage).results;
}

async function status(id: string, token: string): Promise<JobStatus> {
  return (await (await api(`/jobs/${id}`, { token })).json()) as JobStatus;
}

/** Nothing leased to `n` within a moment (dispatch answered its request already if it could). */
async function leasedNothing(n: NodeSocket): Promise<void> {
  await new Promise((r) => setTimeout(r, 300));
  expect(n.messages.filter((m: HubToNode) => m.type === 'task.leased')).toEqual([]);
}

const fingerprint = (cls: string): RuntimeFingerprint => ({
  class: cls.repeat(16).slice(0, 16),
  probeHash: cls.repeat(64).slice(0, 64),
  engine: { name: 'node' },
});

/** The reputation of the next `node.standing` frame that shows a verdict (a mismatch, with `caught`). */
async function verdictOf(n: NodeSocket, caught = false): Promise<NodeStanding['reputation']> {
  for (;;) {
    const { reputation: r } = (await n.next(isStanding)).standing;
    if (caught ? (r.disagreed ?? 0) > 0 : (r.agreed ?? 0) + (r.disagreed ?? 0) > 0) return r;
  }
}

describe('quorum (redundancy)', () => {
  test('default: two identities must agree; the node that answered is never leased the task again', async () => {
    const { id, token } = await newJob({ redundancy: 2, inputs: [1, 2, 3] });
    const a = await node(`va-${crypto.randomUUID()}`);
    const first = await take(a);
    expect(first.map((t) => t.index)).toEqual([0, 1, 2]);
    await answer(
      a,
      first.map((t) => ok(t)),
    );
    expect((await results(id, token)).map((r) => [r.state, r.waiting])).toEqual(
      [0, 1, 2].map(() => ['pending', expect.stringMatching(/^verifying: 1 replica, needs 2 in agreement/)]),
    );
    a.send({ type: 'lease.request', credit: 64 });
    const b = await node(`vb-${crypto.randomUUID()}`);
    const second = await take(b);
    expect(second.map((t) => t.index)).toEqual([0, 1, 2]);
    await leasedNothing(a);
    await answer(
      b,
      second.map((t) => ok(t)),
    );
    const done = await results(id, token);
    expect(done.map((r) => [r.state, r.output])).toEqual([
      ['succeeded', 2],
      ['succeeded', 4],
      ['succeeded', 6],
    ]);
    const v = done[0]!.verification!;
    expect(v).toMatchObject({ policy: { kind: 'fixed', redundancy: 2 }, how: 'quorum' });
    expect(v.replicas.map((r) => [r.identity, r.agreed])).toEqual([
      [`peer:${a.identity.peerId}`, true],
      [`peer:${b.identity.peerId}`, true],
    ]);
    expect(v.replicas.every((r) => r.receipt?.outputHash === r.answer)).toBe(true);
    expect(v.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(await verdictOf(a)).toMatchObject({ agreed: 3, disagreed: 0, streak: 3 });
    expect((await status(id, token)).verification).toEqual({ kind: 'fixed', redundancy: 2 });
  });

  test('behavior: a liar is outvoted and its streak reset; a failure is confirmed by a second identity or overturned', async () => {
    const { id, token } = await newJob({ redundancy: 2, inputs: [1, 2, 3] });
    const liar = await node(`vl-${crypto.randomUUID()}`);
    const [t0, t1, t2] = await take(liar);
    await answer(liar, [ok(t0!, 3), fail(t1!), fail(t2!)]);
    const b = await node(`vb-${crypto.randomUUID()}`);
    const [u0, u1, u2] = await take(b);
    await answer(b, [ok(u0!), ok(u1!), fail(u2!)]);
    // Task 2: both said user_error, a failure confirmed. Tasks 0 and 1: one against one.
    const mid = await results(id, token);
    expect(mid.map((r) => r.state)).toEqual(['pending', 'pending', 'failed']);
    expect(mid[2]!.error?.kind).toBe('user_error');
    expect(mid[2]!.verification?.replicas.length).toBe(2);
    const c = await node(`vc-${crypto.randomUUID()}`);
    const third = await take(c);
    expect(third.map((t) => t.index)).toEqual([0, 1]);
    await answer(
      c,
      third.map((t) => ok(t)),
    );
    const done = await results(id, token);
    expect(done.map((r) => [r.state, r.output ?? r.error?.kind])).toEqual([
      ['succeeded', 2],
      ['succeeded', 4],
      ['failed', 'user_error'],
    ]);
    expect(done[0]!.verification!.replicas.map((r) => r.agreed)).toEqual([false, true, true]);
    // The liar: caught (its streak reset), its score lower than an honest node's.
    const caught = await verdictOf(liar, true);
    expect(caught.disagreed).toBeGreaterThanOrEqual(1);
    expect(caught.streak).toBe(0);
    expect((await status(id, token)).state).toBe('failed');
  });

  test('behavior: nodes linked to one wallet give one vote; a second answer from it is refused', async () => {
    const { id, token } = await newJob({ redundancy: 2, inputs: [1] });
    const w1 = await node(`vw1-${crypto.randomUUID()}`, { wallet: 1 });
    const [t] = await take(w1);
    await answer(w1, [ok(t!)]);
    // Another node of the same wallet is not leased the task; an anonymous node is.
    w1.send({ type: 'lease.request', credit: 8 });
    const w2 = await node(`vw2-${crypto.randomUUID()}`, { wallet: 1 });
    w2.send({ type: 'lease.request', credit: 8 });
    const n = await node(`vn-${crypto.randomUUID()}`);
    const [u] = await take(n);
    await leasedNothing(w2);
    // It links to that wallet while holding the lease: its answer is the wallet's second.
    n.send({
      type: 'node.owner',
      owner: await linkNodeWithPrivateKey({
        url: ORIGIN,
        peerId: n.identity.peerId.toString(),
        privateKey: DEV_PRIVATE_KEYS[1]!,
      }),
    });
    await n.next(isStanding);
    const ack = await answer(n, [ok(u!)]);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored).toEqual([
      { jobId: id, index: 0, reason: expect.stringMatching(/^a second answer from wallet:0x[0-9a-f]{40}/) },
    ]);
    expect(ack.standing?.reputation.rejected).toBe(1);
    const [r] = await results(id, token);
    expect(r!.state).toBe('pending');
    expect(r!.verification).toBeUndefined();
  });

  test("behavior: under an explicit redundancy the owner's own node is one identity, not the judge", async () => {
    const { id, token } = await newJob({ redundancy: 2, inputs: [1] });
    const mine = await node(`vom-${crypto.randomUUID()}`, { wallet: 0 });
    const [t] = await take(mine);
    await answer(mine, [ok(t!)]);
    const [r] = await results(id, token);
    expect([r!.state, r!.waiting]).toEqual(['pending', expect.stringMatching(/needs 2 in agreement/)]);
    const other = await node(`vot-${crypto.randomUUID()}`);
    const [u] = await take(other);
    await answer(other, [ok(u!)]);
    const [done] = await results(id, token);
    expect([done!.state, done!.output, done!.verification?.how]).toEqual(['succeeded', 2, 'quorum']);
  });

  test('behavior: replicas of a JS task come from one fingerprint class', async () => {
    const { id, token } = await newJob({ redundancy: 2, inputs: [1] });
    const x1 = await node(`vx1-${crypto.randomUUID()}`, { fingerprint: fingerprint('a') });
    const [t] = await take(x1);
    await answer(x1, [ok(t!)]);
    // The waiting reason names the class another replica must come from.
    expect((await results(id, token))[0]!.waiting).toMatch(
      new RegExp(`waiting for another identity of runtime class ${fingerprint('a').class} `),
    );
    const y = await node(`vy-${crypto.randomUUID()}`, { fingerprint: fingerprint('b') });
    y.send({ type: 'lease.request', credit: 8 });
    const x2 = await node(`vx2-${crypto.randomUUID()}`, { fingerprint: fingerprint('a') });
    const [u] = await take(x2);
    await leasedNothing(y);
    await answer(x2, [ok(u!)]);
    const [r] = await results(id, token);
    expect(r!.state).toBe('succeeded');
    expect(r!.verification?.fingerprintClass).toBe(fingerprint('a').class);
  });
  test('error: a tie waits; a replica for a task the node does not hold and a result after the quorum closed are refused, counted against the node, and change nothing', async () => {
    const { id, token } = await newJob({ redundancy: 2, inputs: [1, 2] });
    const a = await node(`vta-${crypto.randomUUID()}`);
    const [a0, a1] = await take(a);
    await answer(a, [ok(a0!, 3), ok(a1!)]);
    const b = await node(`vtb-${crypto.randomUUID()}`);
    const [b0, b1] = await take(b);
    await answer(b, [ok(b0!), ok(b1!)]);
    // Task 0: one answer against one, a tie that waits for a third identity; task 1: decided.
    const tie = await results(id, token);
    expect(tie.map((r) => [r.state, r.output])).toEqual([
      ['pending', undefined],
      ['succeeded', 4],
    ]);
    expect(tie[0]!.waiting).toMatch(/^verifying: 2 replicas/);
    // A answers task 1 again, another output, for the lease it reported already: not held.
    const again = await answer(a, [ok(a1!, 99)]);
    expect(again.ignored).toEqual([{ jobId: id, index: 1, reason: 'lease is not held by this node' }]);
    expect(again.standing?.reputation).toMatchObject({ accepted: 2, late: 1 });
    // C leases task 0 and goes quiet; its lease expires, and D's answer closes the quorum.
    const c = await node(`vtc-${crypto.randomUUID()}`);
    const { task: c0, checks: cChecks } = await takeIndex(c, 0);
    await runInDurableObject(room(id), (_instance, state) => {
      state.storage.sql.exec('UPDATE leases SET expires_at = 0 WHERE lease_id = ?', c0!.leaseId);
    });
    await runDurableObjectAlarm(room(id));
    const d = await node(`vtd-${crypto.randomUUID()}`);
    const { task: d0 } = await takeIndex(d, 0);
    expect((await answer(d, [ok(d0!)])).accepted).toBe(1);
    // C's late answer (a wrong one) is refused and counted as late (the hub may have heard of the
    // expiry already, or the room refuses it).
    const late = await answer(c, [ok(c0!, 5)]);
    expect(late.ignored).toEqual([
      {
        jobId: id,
        index: 0,
        reason: expect.stringMatching(/^lease is (not held by this node|no longer valid)$/),
      },
    ]);
    expect(late.standing?.reputation).toMatchObject({ accepted: cChecks, late: 1 });
    const done = await results(id, token);
    expect(done.map((r) => [r.state, r.output])).toEqual([
      ['succeeded', 2],
      ['succeeded', 4],
    ]);
    expect(done[0]!.verification!.replicas.map((r) => [r.identity, r.agreed])).toEqual([
      [`peer:${a.identity.peerId}`, false],
      [`peer:${b.identity.peerId}`, true],
      [`peer:${d.identity.peerId}`, true],
    ]);
    expect(done[1]!.verification!.replicas.length).toBe(2);
    expect((await status(id, token)).state).toBe('succeeded');
  });
});

describe('adaptive trust (the default)', () => {
  test("default: anonymous nodes never decide alone; the owner's own node does", async () => {
    // `trust: undefined`: the API's default policy (the helper otherwise asks for redundancy 1).
    const { id, token } = await newJob({ trust: undefined, inputs: [1, 2] });
    const anon = await node(`vq-${crypto.randomUUID()}`);
    const [t0] = await take(anon, 1);
    await answer(anon, [ok(t0!)]);
    const [r0] = await results(id, token);
    expect(r0!.state).toBe('pending');
    expect(r0!.waiting).toMatch(/verifying: 1 replica, confidence 0\.800 of 0\.98 needed/);
    expect((await status(id, token)).verification).toEqual({ kind: 'adaptive', trust: 0.98 });
    const mine = await node(`vo-${crypto.randomUUID()}`, { wallet: 0 });
    const tasks = await take(mine);
    expect(tasks.map((t) => t.index).sort()).toEqual([0, 1]);
    await answer(mine, [ok(tasks[0]!), fail(tasks[1]!)]);
    const done = await results(id, token);
    expect(done.map((r) => [r.state, r.verification?.how])).toEqual([
      ['succeeded', 'trusted'],
      ['failed', 'trusted'],
    ]);
  });

  test("behavior: the owner's own node settles a JS task first answered in another runtime class", async () => {
    // A tab (one class) and the developer's headless node (another), as with npm run dev.
    const { id, token } = await newJob({ trust: undefined, inputs: [1] });
    const tab = await node(`vtab-${crypto.randomUUID()}`, { fingerprint: fingerprint('c') });
    const [t] = await take(tab);
    await answer(tab, [ok(t!)]);
    expect((await results(id, token))[0]!.waiting).toMatch(/of runtime class c{16} /);
    const mine = await node(`vmine-${crypto.randomUUID()}`, { wallet: 0, fingerprint: fingerprint('d') });
    const [u] = await take(mine);
    expect(u!.index).toBe(0);
    await answer(mine, [ok(u!)]);
    const [r] = await results(id, token);
    expect([r!.state, r!.output, r!.verification?.how]).toEqual(['succeeded', 2, 'trusted']);
  });

  test('behavior: a credible node is spot-checked; caught lying, its streak resets and what it decided alone is verified again', async () => {
    const vetId = `vv-${crypto.randomUUID()}`;
    await credible(vetId, 12); // credibility 0.985, spot-checked about 6 times in 10
    const inputs = Array.from({ length: 30 }, (_, i) => i);
    const { id, token } = await newJob({ trust: undefined, inputs });
    const vet = await node(vetId);
    const tasks = await take(vet);
    expect(tasks.length).toBe(30);
    await answer(
      vet,
      tasks.map((t) => ok(t, (t.input as number) * 2 + 1)),
    );
    const after = await results(id, token);
    const solo = after.filter((r) => r.state === 'succeeded');
    const checked = after.filter((r) => r.state === 'pending');
    expect(solo.length).toBeGreaterThan(0);
    expect(checked.length).toBeGreaterThan(0);
    expect(solo.every((r) => r.verification?.how === 'credible')).toBe(true);
    expect(checked.every((r) => /spot check/.test(r.waiting ?? ''))).toBe(true);
    // Honest newcomers check them and disagree; under dispute the veteran weighs as a newcomer,
    // so four agreeing ones outvote it, and it is caught.
    /**
     * Four new honest nodes, one after another, each answering whatever it is leased until it has
     * answered every task of `indices` that is not final yet (a lease may also hold known-answer
     * checks, and tasks sent back meanwhile).
     */
    async function fourHonest(indices: number[]): Promise<NodeSocket[]> {
      const out: NodeSocket[] = [];
      for (let k = 0; k < 4; k++) {
        const honest = await node(`vh${k}-${crypto.randomUUID()}`);
        const seen = new Set<number>();
        const left = async () => {
          const now = await results(id, token);
          return indices.filter((i) => !seen.has(i) && !['succeeded', 'failed'].includes(now[i]!.state));
        };
        // A new node's lease window is small: it takes them in rounds.
        while ((await left()).length) {
          const spot = await take(honest);
          for (const t of spot) seen.add(t.index);
          await answer(
            honest,
            spot.map((t) => ok(t)),
          );
        }
        out.push(honest);
      }
      return out;
    }
    const firstFour = await fourHonest(checked.map((r) => r.index));
    const reputation = await verdictOf(vet, true);
    expect(reputation.streak).toBe(0);
    expect(reputation.disagreed).toBeGreaterThan(0);
    // No wrong output stands: the spot-checked tasks have the right one, and every task the
    // veteran decided alone is being verified again.
    const again = await results(id, token);
    for (const r of checked) {
      expect([again[r.index]!.state, again[r.index]!.output]).toEqual(['succeeded', r.index * 2]);
      expect(again[r.index]!.verification?.spotCheck).toBe(true);
    }
    for (const r of solo) {
      // Back in the queue (and maybe leased already to an honest node that still asked for work).
      expect(['pending', 'leased']).toContain(again[r.index]!.state);
      expect(again[r.index]!.output).toBeUndefined();
      expect(again[r.index]!.verification).toBeUndefined();
    }
    expect((await status(id, token)).state).toBe('running');
    // Four other honest nodes (the first four gone, their leases back) verify them again: the
    // veteran's lone answer is outvoted, and each record says it was verified again.
    for (const n of firstFour) n.close();
    await fourHonest(solo.map((r) => r.index));
    const final = await results(id, token);
    for (const r of solo) {
      const f = final[r.index]!;
      expect([f.state, f.output, f.verification?.reverified, f.verification?.how]).toEqual([
        'succeeded',
        r.index * 2,
        true,
        'quorum',
      ]);
      expect(f.verification?.replicas[0]).toMatchObject({ nodeId: vetId, agreed: false, credibility: 0.8 });
    }
    expect(final.every((r) => r.verification?.how !== 'credible')).toBe(true);
    expect((await status(id, token)).state).toBe('succeeded');
  });
});

describe('known-answer checks', () => {
  test('behavior: tasks already decided are leased again among real ones; a right answer builds a record, a wrong one resets it, and the result stands', async () => {
    const inputs = Array.from({ length: 200 }, (_, i) => i);
    const { id, token } = await newJob({ redundancy: 2, inputs });
    // Two nodes decide tasks 0-63 (nothing is decided yet, so nothing is planted in their leases).
    for (const name of ['ka', 'kb']) {
      const nodeId = `${name}-${crypto.randomUUID()}`;
      await establish(nodeId); // a wide lease window, no verification record
      const n = await node(nodeId);
      const tasks = await take(n, 64);
      expect(tasks.map((t) => t.index)).toEqual(inputs.slice(0, 64));
      await answer(
        n,
        tasks.map((t) => ok(t)),
      );
    }
    const decided = await results(id, token);
    expect(
      decided.slice(0, 64).every((r) => r.state === 'succeeded' && r.verification?.how === 'quorum'),
    ).toBe(true);

    /** A new node's lease of the rest: about one slot in ten is a check (an index below 64). */
    async function leaseWithChecks(nodeId: string) {
      await establish(nodeId);
      const n = await node(nodeId);
      const tasks = await take(n, 136); // P(no check among 136 slots) = 0.9^136, about 6e-7
      const checks = tasks.filter((t) => t.index < 64);
      const real = tasks.filter((t) => t.index >= 64);
      return { n, tasks, checks, real };
    }
    const c = await leaseWithChecks(`kc-${crypto.randomUUID()}`);
    expect(c.checks.length).toBeGreaterThan(0);
    expect(c.tasks.length).toBe(136);
    // A check looks like any other task of the lease.
    const shape = (t: LeasedTask) => Object.keys(t).sort().join();
    expect(new Set(c.tasks.map(shape)).size).toBe(1);
    expect(c.checks.every((t) => t.jobId === id && t.input === t.index)).toBe(true);
    const cAck = await answer(
      c.n,
      c.tasks.map((t) => ok(t)),
    );
    expect(cAck.accepted).toBe(136);
    expect(cAck.ignored).toEqual([]);
    const passed = await verdictOf(c.n);
    expect(passed).toMatchObject({ knownPassed: c.checks.length, knownFailed: 0, disagreed: 0 });

    // A liar answers the checks wrong (and real tasks right): caught, its record reset.
    const d = await leaseWithChecks(`kd-${crypto.randomUUID()}`);
    expect(d.checks.length).toBeGreaterThan(0);
    const dAck = await answer(d.n, [...d.real.map((t) => ok(t)), ...d.checks.map((t) => ok(t, 999))]);
    expect(dAck.accepted).toBe(d.tasks.length); // the ack does not tell which tasks were checks
    const failed = await verdictOf(d.n, true);
    expect(failed.knownFailed).toBe(d.checks.length);
    expect(failed.streak).toBe(0);
    // The decided results are as they were.
    const after = await results(id, token);
    expect(after.slice(0, 64).map((r) => [r.state, r.output, r.verification?.replicas.length])).toEqual(
      decided.slice(0, 64).map((r) => ['succeeded', r.index * 2, 2]),
    );
  });
});
