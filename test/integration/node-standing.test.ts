import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterEach, describe, expect, onTestFinished, test, vi } from 'vitest';
import { Account } from '../../durable-objects/account.ts';
import { account } from '../../durable-objects/stubs.ts';
import {
  AccountWork,
  HELLO_PROOF_MAX_SKEW_MS,
  type HubToNode,
  HubToWatcher,
  type LeasedTask,
  MESH_PROTOCOL,
  NODE_LINK_TTL_MS,
  type NodeInfo,
  type NodeOwnerLink,
  NodeStanding,
  type NodeToHub,
  nodeLinkMessage,
  type ResultsPage,
  signHelloProof,
  type WatcherToHub,
} from '../../protocol/index.ts';
import {
  api,
  HOST,
  helloProof,
  hubOf,
  NodeSocket,
  newIdentity,
  ORIGIN,
  signIn,
  submit,
  TestSocket,
  type Unsigned,
  watch,
} from './helpers.ts';

// The hub's side of a node's standing: reputation counters per node id (accepted, rejected,
// late, lost) kept across reconnects (on the node's shard), the wallet link checked at hello and
// on `node.owner`, work credited to the wallet's Account, and leases given back unstarted
// (`lease.return`). Node ids are unique per test: the hub shards are shared.

type Welcome = Extract<HubToNode, { type: 'hub.welcome' }>;
type Leased = Extract<HubToNode, { type: 'task.leased' }>;
type Ack = Extract<HubToNode, { type: 'results.ack' }>;
type Standing = Extract<HubToNode, { type: 'node.standing' }>;
type Revoked = Extract<HubToNode, { type: 'lease.revoked' }>;
type ErrorFrame = Extract<HubToNode, { type: 'error' }>;
type Hello = Extract<NodeToHub, { type: 'node.hello' }>;
/** A hello as a test writes it: possibly without the key fields the schema requires. */
type HelloFields = Omit<Hello, 'peerId' | 'proof'> & Partial<Pick<Hello, 'peerId' | 'proof'>>;
const isLeased = (m: HubToNode): m is Leased => m.type === 'task.leased';
const isAck = (m: HubToNode): m is Ack => m.type === 'results.ack';
const isStanding = (m: HubToNode): m is Standing => m.type === 'node.standing';
const isRevoked = (m: HubToNode): m is Revoked => m.type === 'lease.revoked';
const isError = (m: HubToNode): m is ErrorFrame => m.type === 'error';

/** The host the tests' requests go to: the domain a link must name. */
const DOMAIN = new URL(ORIGIN).host;

const sockets: { close(): void }[] = [];
const jobs: { id: string; token: string }[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const { id, token } of jobs.splice(0)) await api(`/jobs/${id}/cancel`, { method: 'POST', token });
});

const fresh = {
  reputation: {
    score: 0.5,
    accepted: 0,
    rejected: 0,
    late: 0,
    lost: 0,
    agreed: 0,
    disagreed: 0,
    streak: 0,
    knownPassed: 0,
    knownFailed: 0,
    credibility: 0.8,
  },
  work: { tasks: 0, cpuMs: 0 },
};
const score = (c: { accepted: number; rejected: number; late: number; lost: number }) =>
  (c.accepted + 1) / (c.accepted + 5 * c.rejected + c.lost + c.late / 4 + 2);

/** Connect a fake node and return it with its welcome (`hello` overrides fields of the hello). */
async function connect(
  nodeId: string,
  options: { identity?: Awaited<ReturnType<typeof newIdentity>>; hello?: Partial<Hello> } = {},
): Promise<{ s: NodeSocket; welcome: Welcome }> {
  const res = await api(`/mesh/connect?node=${encodeURIComponent(nodeId)}`, {
    headers: { upgrade: 'websocket' },
  });
  if (!res.webSocket) throw new Error(`no websocket: ${res.status}`);
  const identity = options.identity ?? (await newIdentity());
  const s = new NodeSocket(res.webSocket, identity);
  sockets.push(s);
  s.send({
    type: 'node.hello',
    protocol: MESH_PROTOCOL,
    nodeId,
    kind: 'headless',
    runtimes: ['js'],
    capacity: 4,
    version: 'test',
    peerId: identity.peerId.toString(),
    proof: await helloProof(identity),
    ...options.hello,
  });
  const welcome = await s.next((m): m is Welcome => m.type === 'hub.welcome');
  NodeStanding.parse(welcome.standing);
  return { s, welcome };
}

const uniqueId = (name: string) => `${name}-${crypto.randomUUID()}`;

/** A wallet (a fresh key) and a link it signed for `peerId`. */
async function link(
  peerId: string,
  options: { domain?: string; issuedAt?: Date; signer?: `0x${string}` } = {},
): Promise<{ address: `0x${string}`; link: NodeOwnerLink }> {
  const wallet = privateKeyToAccount(generatePrivateKey());
  const message = nodeLinkMessage({
    peerId,
    address: wallet.address,
    domain: options.domain ?? DOMAIN,
    uri: ORIGIN,
    chainId: 10143,
    nonce: crypto.randomUUID().replaceAll('-', ''),
    ...(options.issuedAt ? { issuedAt: options.issuedAt } : {}),
  });
  const signer = options.signer ? privateKeyToAccount(options.signer) : wallet;
  return {
    address: wallet.address.toLowerCase() as `0x${string}`,
    link: { message, signature: await signer.signMessage({ message }) },
  };
}

async function newJob(inputs: number[]): Promise<{ id: string; token: string }> {
  const token = await signIn();
  const id = await submit(token, { inputs });
  jobs.push({ id, token });
  return { id, token };
}

/** Lease `count` tasks of `jobId`, in index order. */
async function take(s: NodeSocket, jobId: string, count: number): Promise<LeasedTask[]> {
  s.send({ type: 'lease.request', credit: count });
  const got: LeasedTask[] = [];
  while (got.length < count) got.push(...(await s.next(isLeased)).tasks.filter((t) => t.jobId === jobId));
  return got.sort((a, b) => a.index - b.index);
}

/** Node `nodeId`, linked to a new wallet, connected, holding `count` leases of `jobId`. */
async function linkedNode(nodeId: string, jobId: string, count: number) {
  const identity = await newIdentity();
  const { address, link: owner } = await link(identity.peerId.toString());
  const { s } = await connect(nodeId, { identity, hello: { owner } });
  return { address, s, tasks: await take(s, jobId, count) };
}

const ok = (t: LeasedTask, durationMs = 1): Unsigned => ({
  ok: true,
  jobId: t.jobId,
  index: t.index,
  leaseId: t.leaseId,
  output: (t.input as number) * 2,
  logs: '',
  durationMs,
});

/** Report outcomes with receipts, signed as a batch, and return the acknowledgement, its standing checked against the schema. */
async function report(s: NodeSocket, outcomes: Unsigned[]): Promise<Ack> {
  await s.report(outcomes);
  const ack = await s.next(isAck);
  NodeStanding.parse(ack.standing);
  return ack;
}

const results = async (id: string, token: string) =>
  (await (await api(`/jobs/${id}/results`, { token })).json()) as ResultsPage;

const listed = async (nodeId: string) =>
  ((await (await api('/nodes')).json()) as { nodes: NodeInfo[] }).nodes.find((n) => n.nodeId === nodeId);

/** What `GET /nodes` says of the node, polled: the shards are read at most once a second. */
const eventuallyListed = (nodeId: string) => expect.poll(() => listed(nodeId), { timeout: 5000 });

const room = (jobId: string) => env.JOB_ROOM.get(env.JOB_ROOM.idFromName(jobId));

async function accountWork(address: string): Promise<AccountWork> {
  const res = await api(`/accounts/${address}`);
  expect(res.status).toBe(200);
  return AccountWork.parse(await res.json());
}

/** Poll until `check` holds (credits reach the Account after the ack). */
async function eventually<T>(read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const NOT_HELD = 'lease is not held by this node';

describe('node standing', () => {
  test('default: a new node is welcomed with a fresh standing (score ½, nothing counted, no owner)', async () => {
    const nodeId = uniqueId('standing-new');
    const { welcome } = await connect(nodeId);
    expect(welcome.standing).toEqual(fresh);
    await eventuallyListed(nodeId).toMatchObject({ reputation: 0.5 });
    expect(await listed(nodeId)).not.toHaveProperty('owner');
  });

  test('behavior: accepted results raise accepted, work and score, and every ack carries the standing', async () => {
    const { id } = await newJob([1, 2, 3]);
    const nodeId = uniqueId('standing-accepted');
    const { s } = await connect(nodeId);
    const [t0, t1, t2] = await take(s, id, 3);
    const first = await report(s, [ok(t0!, 5), ok(t1!, 7)]);
    expect(first.accepted).toBe(2);
    expect(first.standing).toEqual({
      reputation: {
        score: 3 / 4,
        accepted: 2,
        rejected: 0,
        late: 0,
        lost: 0,
        agreed: 0,
        disagreed: 0,
        streak: 0,
        knownPassed: 0,
        knownFailed: 0,
        credibility: 0.8,
      },
      work: { tasks: 2, cpuMs: 12 },
    });
    const second = await report(s, [ok(t2!, 1)]);
    expect(second.standing?.reputation).toEqual({
      score: 4 / 5,
      accepted: 3,
      rejected: 0,
      late: 0,
      lost: 0,
      agreed: 0,
      disagreed: 0,
      streak: 0,
      knownPassed: 0,
      knownFailed: 0,
      credibility: 0.8,
    });
    expect(second.standing?.work).toEqual({ tasks: 3, cpuMs: 13 });
    await eventuallyListed(nodeId).toMatchObject({ reputation: 4 / 5 });
  });

  test('behavior: a task that fails on its own counts as accepted (the node did its job)', async () => {
    const { id } = await newJob([1]);
    const { s } = await connect(uniqueId('standing-user-error'));
    const [t] = await take(s, id, 1);
    const { output: _, ...rest } = ok(t!) as Extract<Unsigned, { ok: true }>;
    const ack = await report(s, [{ ...rest, ok: false, error: { kind: 'user_error', message: 'no' } }]);
    expect(ack.standing?.reputation).toMatchObject({ accepted: 1, rejected: 0 });
  });

  test('behavior: a result without a good receipt (a frame signed by another key, a claim the room refutes) counts as rejected', async () => {
    const { id } = await newJob([1, 2]);
    const { s } = await connect(uniqueId('standing-rejected'));
    const [t0, t1] = await take(s, id, 2);
    // A frame signed by another key: every result of it is rejected.
    s.send(await s.resultsFrame([ok(t0!), ok(t1!)], { as: await newIdentity() }));
    const forged = await s.next(isAck);
    expect(forged.accepted).toBe(0);
    const badSignature = `the frame's signature does not verify for peer ${s.identity.peerId} over these receipts`;
    expect(forged.ignored.map((i) => i.reason)).toEqual([badSignature, badSignature]);
    expect(forged.standing?.reputation).toEqual({
      score: score({ accepted: 0, rejected: 2, late: 0, lost: 0 }),
      accepted: 0,
      rejected: 2,
      late: 0,
      lost: 0,
      agreed: 0,
      disagreed: 0,
      streak: 0,
      knownPassed: 0,
      knownFailed: 0,
      credibility: 0.8,
    });
    // A well-signed receipt over another input than the room's.
    const ack = await report(s, [await s.withReceipt(ok(t0!), { input: 42 })]);
    expect(ack.ignored.map((i) => i.reason)).toEqual([
      expect.stringMatching(/^receipt is for another input/),
    ]);
    expect(ack.standing?.reputation).toMatchObject({ accepted: 0, rejected: 3 });
    // The leases stay open: good receipts still count.
    expect((await report(s, [ok(t0!), ok(t1!)])).standing?.reputation).toMatchObject({
      accepted: 2,
      rejected: 3,
    });
  });

  test('behavior: a result for a lease that is gone (expired, cancelled job, duplicate, unknown job) counts as late', async () => {
    const { id, token } = await newJob([1, 2, 3]);
    const { s } = await connect(uniqueId('standing-late'));
    const [t0, t1, t2] = await take(s, id, 3);
    expect((await report(s, [ok(t0!)])).accepted).toBe(1);
    // t2's lease expires in its room (the hub still counts it as held): the room says it is late.
    await runInDurableObject(room(id), (_instance, state) => {
      state.storage.sql.exec('UPDATE leases SET expires_at = 0 WHERE lease_id = ?', t2!.leaseId);
    });
    await runDurableObjectAlarm(room(id));
    const expired = await report(s, [ok(t2!)]);
    expect(expired.ignored.map((i) => i.reason)).toEqual(['lease is no longer valid']);
    expect(expired.standing?.reputation).toMatchObject({ accepted: 1, late: 1 });
    // Cancelling revokes t1; the hub then drops results naming leases the node does not hold
    // (revoked, already reported, or of a job it never had) without asking any room.
    await api(`/jobs/${id}/cancel`, { method: 'POST', token });
    expect((await s.next(isRevoked)).leases).toEqual([{ jobId: id, leaseId: t1!.leaseId }]);
    const ack = await report(s, [ok(t0!), ok(t1!), { ...ok(t1!), jobId: crypto.randomUUID() }]);
    expect(ack.ignored.map((i) => i.reason)).toEqual([NOT_HELD, NOT_HELD, NOT_HELD]);
    expect(ack.standing?.reputation).toEqual({
      score: score({ accepted: 1, rejected: 0, late: 4, lost: 0 }),
      accepted: 1,
      rejected: 0,
      late: 4,
      lost: 0,
      agreed: 0,
      disagreed: 0,
      streak: 0,
      knownPassed: 0,
      knownFailed: 0,
      credibility: 0.8,
    });
  });

  test('behavior: leases held when the node goes away count as lost (not as attempts); the counters outlive the socket', async () => {
    const { id, token } = await newJob([1, 2, 3]);
    const nodeId = uniqueId('standing-lost');
    const identity = await newIdentity();
    const first = await connect(nodeId, { identity });
    const [t0] = await take(first.s, id, 3);
    expect((await report(first.s, [ok(t0!, 4)])).accepted).toBe(1);
    first.s.close();
    // Its two other tasks go back at once; a new node's lost lease does not use up an attempt.
    const page = await eventually(
      () => results(id, token),
      (p) => p.results.filter((r) => r.state === 'pending').length === 2,
    );
    expect(page.results.slice(1)).toMatchObject([
      { state: 'pending', attempts: 0, lost: 1 },
      { state: 'pending', attempts: 0, lost: 1 },
    ]);
    const again = await eventually(
      async () => {
        const c = await connect(nodeId, { identity });
        c.s.close();
        return c.welcome.standing;
      },
      (standing) => standing?.reputation.lost === 2,
    );
    expect(again).toEqual({
      reputation: {
        score: score({ accepted: 1, rejected: 0, late: 0, lost: 2 }),
        accepted: 1,
        rejected: 0,
        late: 0,
        lost: 2,
        agreed: 0,
        disagreed: 0,
        streak: 0,
        knownPassed: 0,
        knownFailed: 0,
        credibility: 0.8,
      },
      work: { tasks: 1, cpuMs: 4 },
    });
  });

  test('behavior: a valid link makes the wallet the owner, and accepted work is credited to it', async () => {
    const { id } = await newJob([1, 2, 3]);
    const nodeId = uniqueId('standing-linked');
    const identity = await newIdentity();
    const { address, link: owner } = await link(identity.peerId.toString());
    const { s, welcome } = await connect(nodeId, { identity, hello: { owner } });
    expect(welcome.standing).toEqual({ ...fresh, owner: address });
    await eventuallyListed(nodeId).toMatchObject({ owner: address });

    const [t0, t1, t2] = await take(s, id, 3);
    expect((await report(s, [ok(t0!, 7), ok(t1!, 9)])).standing).toMatchObject({
      owner: address,
      work: { tasks: 2, cpuMs: 16 },
    });
    // A rejected result (its frame signed by another key) is not credited.
    s.send(await s.resultsFrame([ok(t2!)], { as: await newIdentity() }));
    expect((await s.next(isAck)).accepted).toBe(0);

    // An address with nothing yet has zeros; the address is read in any case.
    const nobody = privateKeyToAccount(generatePrivateKey()).address;
    expect((await accountWork(nobody)).work).toEqual({ tasks: 0, cpuMs: 0, nodes: [] });
    const credited = await eventually(
      () => accountWork(`0x${address.slice(2).toUpperCase()}`),
      (a) => a.work.tasks === 2,
    );
    expect(credited).toEqual({
      address,
      work: { tasks: 2, cpuMs: 16, nodes: [{ nodeId, tasks: 2, cpuMs: 16, lastAt: expect.any(Number) }] },
    });
  });

  test("behavior: a linked node's work of many frames within a second reaches its wallet's Account in one call", async () => {
    const { id } = await newJob([1, 2, 3, 4, 5, 6]);
    const nodeId = uniqueId('standing-batched');
    // Count the hub's calls to Account.creditWork.
    const credit = vi.spyOn(Account.prototype, 'creditWork');
    onTestFinished(() => credit.mockRestore());
    const { address, s, tasks } = await linkedNode(nodeId, id, 6);
    // Six frames, one result each, sent back to back.
    for (const [i, t] of tasks.entries()) await s.report([ok(t, i + 1)]);
    for (let i = 0; i < 6; i++) expect((await s.next(isAck)).accepted).toBe(1);
    const credited = await eventually(
      () => accountWork(address),
      (a) => a.work.tasks === 6,
      15_000,
    );
    expect(credited.work).toMatchObject({ tasks: 6, cpuMs: 21 });
    // Six acks, but the credits were added up in the hub: one call when the frames are settled
    // within a second (a loaded machine may take longer: three at most), never one per frame.
    const calls = credit.mock.calls.filter(([node]) => node === nodeId);
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls.length).toBeLessThanOrEqual(3);
    expect(calls.reduce((n, [, tasks]) => n + tasks, 0)).toBe(6);
  });

  test("behavior: a linked node's credited work is stored until its wallet has it; a hub that stopped before sends it when it wakes, a batch the wallet has already counted is not counted again", async () => {
    const { id } = await newJob([1, 2, 3]);
    const nodeId = uniqueId('standing-due');
    const { address, s, tasks } = await linkedNode(nodeId, id, 3);
    expect(
      (
        await report(
          s,
          tasks.map((t, i) => ok(t, i + 2)),
        )
      ).accepted,
    ).toBe(3);
    await eventually(
      () => accountWork(address),
      (a) => a.work.tasks === 3,
      15_000,
    );
    // What an instance evicted or redeployed before its calls were answered leaves behind: an
    // open row, and a batch the wallet's Account had already counted when the hub stopped. (The
    // test pool's eviction keeps the old instance's timers, so the rows are written here.)
    await account(env, address).creditWork(nodeId, 1, 1, 'hub-0-counted-before-the-hub-stopped');
    const hub = hubOf(nodeId);
    await runInDurableObject(hub, (_i, state) => {
      expect(state.storage.sql.exec('SELECT * FROM credits_due WHERE node_id = ?', nodeId).toArray()).toEqual(
        [],
      );
      state.storage.sql.exec(
        `INSERT INTO credits_due (owner, node_id, batch, tasks, cpu_ms) VALUES (?, ?, '', 5, 40), (?, ?, ?, 1, 1)`,
        address,
        nodeId,
        address,
        nodeId,
        'hub-0-counted-before-the-hub-stopped',
      );
    });
    await evictDurableObject(hub);
    // The next frame of the node wakes the hub, which finds the work due and sends it, once.
    s.send({ type: 'node.heartbeat', leases: [] });
    const credited = await eventually(
      () => accountWork(address),
      (a) => a.work.tasks === 9,
      15_000,
    );
    expect(credited.work).toMatchObject({ tasks: 9, cpuMs: 50 });
    const left = async () =>
      runInDurableObject(hub, (_i, state) =>
        state.storage.sql.exec('SELECT * FROM credits_due WHERE node_id = ?', nodeId).toArray(),
      );
    await eventually(left, (rows) => rows.length === 0, 15_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await accountWork(address)).work).toMatchObject({ tasks: 9, cpuMs: 50 });
  });

  test("behavior: a call to the wallet's Account that fails is made again with the same batch, and the work is counted once", async () => {
    const { id } = await newJob([1, 2, 3]);
    const nodeId = uniqueId('standing-retried');
    const creditWork = Account.prototype.creditWork;
    let failures = 0;
    const credit = vi.spyOn(Account.prototype, 'creditWork').mockImplementation(function (
      this: Account,
      node,
      tasks,
      cpuMs,
      batch,
    ) {
      if (node === nodeId && failures++ === 0) throw new Error('the Account is unavailable (test)');
      return creditWork.call(this, node, tasks, cpuMs, batch);
    });
    onTestFinished(() => credit.mockRestore());
    const { address, s, tasks } = await linkedNode(nodeId, id, 3);
    expect(
      (
        await report(
          s,
          tasks.map((t) => ok(t, 5)),
        )
      ).accepted,
    ).toBe(3);
    const credited = await eventually(
      () => accountWork(address),
      (a) => a.work.tasks === 3,
      15_000,
    );
    expect(credited.work).toMatchObject({ tasks: 3, cpuMs: 15 });
    const calls = credit.mock.calls.filter(([node]) => node === nodeId);
    expect(calls.length).toBe(2);
    expect(calls[1]).toEqual(calls[0]);
    expect(calls[0]![3]).toMatch(/^hub-\d+-/);
  });

  test('error: a refused link leaves the node connected and anonymous, and says why', async () => {
    const identity = await newIdentity();
    const peerId = identity.peerId.toString();
    const other = (await newIdentity()).peerId.toString();
    const cases: [string, NodeOwnerLink, RegExp][] = [
      ['peer', (await link(other)).link, /^the link does not name this node \(12D3KooW/],
      [
        'domain',
        (await link(peerId, { domain: 'other.test' })).link,
        /^the link is for other\.test, not mesh\.test$/,
      ],
      [
        'expired',
        (await link(peerId, { issuedAt: new Date(Date.now() - NODE_LINK_TTL_MS - 60_000) })).link,
        /^the link has expired or is not valid yet; sign a new one$/,
      ],
      [
        'signer',
        (await link(peerId, { signer: generatePrivateKey() })).link,
        /^the link is not signed by 0x[0-9a-f]{40}$/,
      ],
    ];
    const connected: { name: string; nodeId: string; s: NodeSocket }[] = [];
    for (const [name, owner, reason] of cases) {
      const nodeId = uniqueId(`standing-refused-${name}`);
      const { s, welcome } = await connect(nodeId, { identity, hello: { owner } });
      expect(welcome.standing?.ownerError, name).toMatch(reason);
      expect(welcome.standing, name).not.toHaveProperty('owner');
      connected.push({ name, nodeId, s });
    }
    const nodes = async () => ((await (await api('/nodes')).json()) as { nodes: NodeInfo[] }).nodes;
    await expect
      .poll(async () => (await nodes()).map((n) => n.nodeId), { timeout: 5000 })
      .toEqual(expect.arrayContaining(connected.map((c) => c.nodeId)));
    const list = await nodes();
    for (const { name, nodeId, s } of connected) {
      expect(
        list.find((n) => n.nodeId === nodeId),
        name,
      ).not.toHaveProperty('owner');
      expect(s.ws.readyState, name).toBe(WebSocket.OPEN);
    }
  });

  test('behavior: node.owner links, a refused link keeps the owner, null unlinks; only linked work is credited', async () => {
    const { id } = await newJob([1, 2, 3, 4]);
    const nodeId = uniqueId('standing-owner');
    const identity = await newIdentity();
    const { s } = await connect(nodeId, { identity });
    const res = await api('/nodes/events', { headers: { upgrade: 'websocket' } });
    const w = new TestSocket<HubToWatcher, WatcherToHub>(res.webSocket!);
    sockets.push(w);
    const { address, link: owner } = await link(identity.peerId.toString());
    const [t0, t1, t2, t3] = await take(s, id, 4);

    s.send({ type: 'node.owner', owner });
    expect((await s.next(isStanding)).standing).toEqual({ ...fresh, owner: address });
    // The node map sees the owner.
    await w.next(
      (m) =>
        HubToWatcher.parse(m).type === 'nodes.updated' &&
        m.type === 'nodes.updated' &&
        m.nodes.some((n) => n.nodeId === nodeId && n.owner === address),
    );
    expect((await report(s, [ok(t0!, 3)])).standing?.owner).toBe(address);

    s.send({
      type: 'node.owner',
      owner: (await link(identity.peerId.toString(), { domain: 'x.test' })).link,
    });
    const refused = (await s.next(isStanding)).standing;
    expect(refused.owner).toBe(address);
    expect(refused.ownerError).toMatch(/^the link is for x\.test/);

    s.send({ type: 'node.owner', owner: null });
    const unlinked = (await s.next(isStanding)).standing;
    expect(unlinked).not.toHaveProperty('owner');
    expect(unlinked).not.toHaveProperty('ownerError');
    await eventuallyListed(nodeId).not.toHaveProperty('owner');
    expect((await report(s, [ok(t1!, 5)])).standing).not.toHaveProperty('owner');

    s.send({ type: 'node.owner', owner });
    await s.next(isStanding);
    await report(s, [ok(t2!, 11), ok(t3!, 13)]);
    const credited = await eventually(
      () => accountWork(address),
      (a) => a.work.tasks >= 3,
    );
    await new Promise((r) => setTimeout(r, 200));
    // The result reported while anonymous (5 ms) is not the wallet's.
    expect((await accountWork(address)).work).toEqual(credited.work);
    expect(credited.work).toMatchObject({ tasks: 3, cpuMs: 27 });
  });

  test('behavior: lease.return puts tasks back at once without counting an attempt or a loss; another node gets them', async () => {
    const { id, token } = await newJob([1, 2, 3]);
    const watcher = await watch(id, token);
    sockets.push(watcher);
    const a = await connect(uniqueId('standing-return-a'));
    const [t0, t1, t2] = await take(a.s, id, 3);
    const b = await connect(uniqueId('standing-return-b'));
    b.s.send({ type: 'lease.request', credit: 4 });

    a.s.send({
      type: 'lease.return',
      leases: [t1!, t2!].map((t) => ({ jobId: t.jobId, leaseId: t.leaseId })),
    });
    // Back to pending with no attempt counted and no retry delay, then leased to b at once.
    const back = await watcher.next(
      (m) => m.type === 'tasks.updated' && m.updates.some((u) => u.state === 'pending'),
    );
    expect(back.type === 'tasks.updated' && back.updates).toEqual([
      { index: 1, state: 'pending', attempt: 0, reason: 'returned unstarted by its node' },
      { index: 2, state: 'pending', attempt: 0, reason: 'returned unstarted by its node' },
    ]);
    const got: LeasedTask[] = [];
    while (got.length < 2) got.push(...(await b.s.next(isLeased)).tasks.filter((t) => t.jobId === id));
    // Each is the task's second lease (the number receipts sign); neither used up an attempt.
    expect(got.map((t) => [t.index, t.attempt]).sort()).toEqual([
      [1, 2],
      [2, 2],
    ]);
    const page = await results(id, token);
    expect(page.results.map((r) => [r.state, r.attempts, r.lost])).toEqual([
      ['leased', 0, undefined],
      ['leased', 0, undefined],
      ['leased', 0, undefined],
    ]);

    // A result for a returned lease is late (a no longer holds it); the lease it kept still counts; nothing was lost.
    const ack = await report(a.s, [ok(t0!), ok(t1!)]);
    expect(ack.ignored.map((i) => i.reason)).toEqual([NOT_HELD]);
    expect(ack.standing?.reputation).toMatchObject({ accepted: 1, late: 1, lost: 0 });
  });

  test('behavior: a returned lease waits as pending when nobody else has credit', async () => {
    const { id, token } = await newJob([1]);
    const nodeId = uniqueId('standing-return-pending');
    const { s } = await connect(nodeId);
    const [t] = await take(s, id, 1);
    await eventuallyListed(nodeId).toMatchObject({ running: 1 });
    s.send({ type: 'lease.return', leases: [{ jobId: id, leaseId: t!.leaseId }] });
    const page = await eventually(
      () => results(id, token),
      (p) => p.results[0]?.state === 'pending',
    );
    expect(page.results[0]).toMatchObject({ state: 'pending', attempts: 0 });
    expect(page.results[0]).not.toHaveProperty('lost');
    expect(page.results[0]?.waiting).not.toMatch(/^back in the queue/);
    await eventuallyListed(nodeId).toMatchObject({ running: 0 });
    // Asking again gets it back, as its second lease; still no attempt counted.
    const [again] = await take(s, id, 1);
    expect(again).toMatchObject({ index: 0, attempt: 2 });
    expect((await results(id, token)).results[0]).toMatchObject({ state: 'leased', attempts: 0 });
  });

  test("error: returning another node's lease does nothing, and no room hears of it", async () => {
    const { id, token } = await newJob([1]);
    const a = await connect(uniqueId('standing-return-owner'));
    const [t] = await take(a.s, id, 1);
    const b = await connect(uniqueId('standing-return-thief'));
    b.s.send({
      type: 'lease.return',
      leases: [
        { jobId: id, leaseId: t!.leaseId },
        { jobId: id, leaseId: crypto.randomUUID() },
      ],
    });
    expect(await b.s.next(isError)).toEqual({
      type: 'error',
      code: 'bad_message',
      message: '2 of the leases named are not held by this node; ignored',
    });
    expect((await results(id, token)).results[0]).toMatchObject({
      state: 'leased',
      attempts: 0,
      nodeId: expect.stringMatching(/^standing-return-owner-/),
    });
    expect((await report(a.s, [ok(t!)])).accepted).toBe(1);
  });

  test('error: GET /accounts/{address} refuses what is not an address; the route is in the OpenAPI document', async () => {
    const res = await api('/accounts/0x1234');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
    const doc = (await (await api('/openapi.json')).json()) as {
      paths: Record<string, { get?: { parameters?: { name: string; in: string }[] } }>;
    };
    expect(doc.paths['/api/v1/accounts/{address}']?.get?.parameters).toEqual([
      expect.objectContaining({ name: 'address', in: 'path' }),
    ]);
  });
});

/** A socket to the hub, routed as `routedAs`, with what the hub sends and how it closed. */
async function open(routedAs: string) {
  const res = await api(`/mesh/connect?node=${encodeURIComponent(routedAs)}`, {
    headers: { upgrade: 'websocket' },
  });
  const ws = res.webSocket!;
  ws.accept();
  const got: HubToNode[] = [];
  let close: { code: number; reason: string } | undefined;
  let wake = () => {};
  const changed = () => new Promise<void>((resolve) => (wake = resolve));
  ws.addEventListener('close', (e) => {
    close = { code: e.code, reason: e.reason };
    wake();
  });
  ws.addEventListener('message', (e) => {
    got.push(JSON.parse(e.data as string) as HubToNode);
    wake();
  });
  sockets.push({
    close: () => {
      if (close === undefined) ws.close(1000, 'done');
    },
  });
  /** Wait until `done` holds of what arrived, or fail after `timeoutMs`. */
  const until = async (done: () => boolean, timeoutMs = 8000) => {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(got)}, close ${JSON.stringify(close)}`);
      await Promise.race([changed(), new Promise((r) => setTimeout(r, left))]);
    }
  };
  return { ws, got, close: () => close, until };
}

/**
 * Say `hello` on a new socket (routed by its node id unless `routedAs` says otherwise) and
 * collect what the hub answers until it closes or welcomes.
 */
async function hello(
  h: HelloFields,
  routedAs = h.nodeId,
): Promise<{ code: number | undefined; reason?: string; got: HubToNode[] }> {
  const socket = await open(routedAs);
  socket.ws.send(JSON.stringify(h));
  await socket.until(() => socket.close() !== undefined || socket.got.some((m) => m.type === 'hub.welcome'));
  const close = socket.close();
  return close
    ? { code: close.code, reason: close.reason, got: socket.got }
    : { code: undefined, got: socket.got };
}

const baseHello = (nodeId: string): HelloFields => ({
  type: 'node.hello',
  protocol: MESH_PROTOCOL,
  nodeId,
  kind: 'headless',
  runtimes: ['js'],
  capacity: 1,
  version: 'test',
});

/** The hello of `identity`, with its proof for this host. */
const signedHello = async (
  nodeId: string,
  identity: Awaited<ReturnType<typeof newIdentity>>,
): Promise<Hello> => ({
  ...baseHello(nodeId),
  peerId: identity.peerId.toString(),
  proof: await helloProof(identity),
});

const refusedWith = (message: string | RegExp, reason: string) => ({
  code: 1008,
  reason,
  got: [
    {
      type: 'error',
      code: 'bad_message',
      message: typeof message === 'string' ? message : expect.stringMatching(message),
    },
  ],
});

describe('proof of key at hello', () => {
  test('default: a hello with a valid proof is welcomed, and the node is listed with its peer id', async () => {
    const identity = await newIdentity();
    const nodeId = uniqueId('proof-ok');
    const { code, got } = await hello(await signedHello(nodeId, identity));
    expect(code).toBeUndefined();
    expect(got).toEqual([expect.objectContaining({ type: 'hub.welcome', nodeId, standing: fresh })]);
    await eventuallyListed(nodeId).toMatchObject({ peerId: identity.peerId.toString() });
    // Its own peer id as node id (what our nodes use by default) is welcomed too.
    const peerId = identity.peerId.toString();
    const own = await hello(await signedHello(peerId, identity));
    expect(own.got.map((m) => m.type)).toEqual(['hub.welcome']);
  });

  test('error: a hello without a proof, or without a peer id, is refused with the reason; a socket with no valid hello is closed after 5 s', async () => {
    const identity = await newIdentity();
    const nodeId = uniqueId('proof-missing');
    const socket = await open(nodeId);
    const started = Date.now();
    socket.ws.send(JSON.stringify({ ...baseHello(nodeId), peerId: identity.peerId.toString() }));
    socket.ws.send(JSON.stringify({ ...baseHello(nodeId), proof: await helloProof(identity) }));
    // Anonymous hellos are no more: both are malformed.
    await socket.until(() => socket.got.length === 2);
    expect(socket.got).toEqual([
      { type: 'error', code: 'bad_message', message: expect.stringMatching(/^proof: /) },
      { type: 'error', code: 'bad_message', message: expect.stringMatching(/^peerId: /) },
    ]);
    // The socket stays open for a valid hello, but not for ever.
    expect(socket.close()).toBeUndefined();
    await socket.until(() => socket.close() !== undefined);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
    expect(socket.close()).toEqual({ code: 1008, reason: 'no hello' });
    expect(socket.got[2]).toEqual({
      type: 'error',
      code: 'bad_message',
      message: 'no valid node.hello within 5 s: closing',
    });
    expect(socket.got.some((m) => m.type === 'hub.welcome')).toBe(false);
    expect(await listed(nodeId)).toBeUndefined();
  });

  test('error: a hello that names another node id than its connection was opened for is refused', async () => {
    const identity = await newIdentity();
    const nodeId = uniqueId('proof-routed');
    const routedAs = uniqueId('proof-routed-other');
    expect(await hello(await signedHello(nodeId, identity), routedAs)).toEqual(
      refusedWith(
        `node id ${nodeId} is not the node id this connection was opened for (${routedAs}): connect to /api/v1/mesh/connect?node=<your node id>`,
        'node id does not match the connection',
      ),
    );
    expect(await listed(nodeId)).toBeUndefined();
  });

  test('error: a proof by another key, for another host, or signed too long ago or too far ahead is refused', async () => {
    const identity = await newIdentity();
    const other = await newIdentity();
    const peerId = identity.peerId.toString();
    const notVerified = `the hello proof does not verify for peer ${peerId} connecting to ${HOST}`;
    const skewed = /more than 5 minutes from the hub's clock .*; check the node's clock$/;
    const cases: [string, Hello['proof'], string | RegExp][] = [
      ['other key', await signHelloProof({ peerId, host: HOST }, (b) => other.sign(b)), notVerified],
      ["another peer's own proof", await helloProof(other), notVerified],
      ['other host', await helloProof(identity, { host: 'other.test' }), notVerified],
      ['not a signature', { at: Date.now(), signature: 'A'.repeat(86) }, notVerified],
      ['too old', await helloProof(identity, { at: Date.now() - HELLO_PROOF_MAX_SKEW_MS - 60_000 }), skewed],
      ['too new', await helloProof(identity, { at: Date.now() + HELLO_PROOF_MAX_SKEW_MS + 60_000 }), skewed],
    ];
    for (const [name, proof, message] of cases) {
      const nodeId = uniqueId('proof-refused');
      expect(await hello({ ...baseHello(nodeId), peerId, proof }), name).toEqual(
        refusedWith(message, 'no proof of key'),
      );
      expect(await listed(nodeId), name).toBeUndefined();
    }
    // Within the window either way is fine (clocks differ a little).
    for (const at of [
      Date.now() - HELLO_PROOF_MAX_SKEW_MS + 30_000,
      Date.now() + HELLO_PROOF_MAX_SKEW_MS - 30_000,
    ]) {
      const ok = await hello({
        ...baseHello(uniqueId('proof-skew')),
        peerId,
        proof: await helloProof(identity, { at }),
      });
      expect(ok.got.map((m) => m.type)).toEqual(['hub.welcome']);
    }
  });

  test("error: another key (or none) cannot say hello as a known node id, so that node's standing and leases stay as they were", async () => {
    const { id, token } = await newJob([1, 2]);
    const nodeId = uniqueId('proof-victim');
    const victim = await newIdentity();
    const { s } = await connect(nodeId, { identity: victim });
    const [t0, t1] = await take(s, id, 2);
    expect((await report(s, [ok(t0!, 3)])).accepted).toBe(1);

    const thief = await newIdentity();
    const taken = `node id ${nodeId} belongs to another key (peer ${victim.peerId}): use that key, or another node id`;
    // A valid proof of its own key does not make the node id its.
    expect(await hello(await signedHello(nodeId, thief))).toEqual(
      refusedWith(taken, 'node id of another peer'),
    );
    // Nor does saying hello without a key: such a hello is malformed, and is not even considered.
    const keyless = await open(nodeId);
    keyless.ws.send(JSON.stringify(baseHello(nodeId)));
    await keyless.until(() => keyless.got.length > 0);
    expect(keyless.got).toEqual([
      { type: 'error', code: 'bad_message', message: expect.stringMatching(/peerId.*proof|proof.*peerId/) },
    ]);
    // The victim keeps its lease (nothing was released as lost) and its counters.
    expect((await results(id, token)).results[1]).toMatchObject({ state: 'leased', nodeId });
    expect(s.ws.readyState).toBe(WebSocket.OPEN);
    expect((await report(s, [ok(t1!, 5)])).standing?.reputation).toEqual({
      score: score({ accepted: 2, rejected: 0, late: 0, lost: 0 }),
      accepted: 2,
      rejected: 0,
      late: 0,
      lost: 0,
      agreed: 0,
      disagreed: 0,
      streak: 0,
      knownPassed: 0,
      knownFailed: 0,
      credibility: 0.8,
    });
    // After it has gone too, the id stays its key's: the thief is refused, the victim welcomed back.
    s.close();
    expect(await hello(await signedHello(nodeId, thief))).toEqual(
      refusedWith(taken, 'node id of another peer'),
    );
    const back = await connect(nodeId, { identity: victim });
    expect(back.welcome.standing?.reputation).toMatchObject({ accepted: 2, rejected: 0, lost: 0 });
  });

  test("error: a node id that is another peer's id is refused, even before that peer ever connected", async () => {
    const victimIdentity = await newIdentity();
    const victim = victimIdentity.peerId.toString();
    const thief = await newIdentity();
    expect(await hello(await signedHello(victim, thief))).toEqual(
      refusedWith(
        `node id ${victim} is a peer id: only that peer may use it (say hello with it as peerId, with its proof)`,
        'node id of another peer',
      ),
    );
    // Naming that peer id as its own does not help without its key.
    expect(
      await hello({
        ...baseHello(victim),
        peerId: victim,
        proof: await signHelloProof({ peerId: victim, host: HOST }, (b) => thief.sign(b)),
      }),
    ).toEqual(
      refusedWith(
        `the hello proof does not verify for peer ${victim} connecting to ${HOST}`,
        'no proof of key',
      ),
    );
    expect(await listed(victim)).toBeUndefined();
  });
});
