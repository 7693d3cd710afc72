import { runInDurableObject } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { afterEach } from 'vitest';
import { identityFromKey, type NodeIdentity } from '../../browser-node/src/core/identity.ts';
import { outcomeReceipt, signResults } from '../../browser-node/src/core/sign-outcome.ts';
import { linkNodeWithPrivateKey } from '../../client/node-link.ts';
import {
  createApiKey,
  DEV_PRIVATE_KEYS,
  type FetchLike,
  signInWithPrivateKey,
} from '../../client/sign-in.ts';
import { hubShards, shardOf } from '../../durable-objects/stubs.ts';
import {
  type HelloProof,
  type HubToNode,
  type JobSpecInput,
  type JsonValue,
  type LeasedTask,
  MESH_PROTOCOL,
  type NodeToHub,
  type RoomToWatcher,
  type RuntimeFingerprint,
  signHelloProof,
  type TaskOutcome,
} from '../../protocol/index.ts';

export const ORIGIN = 'http://mesh.test';

/** Call the Worker in-process, as a client on the network would. */
export const call: FetchLike = (input, init) =>
  exports.default.fetch(new Request(new URL(input, ORIGIN), init));

export function api(path: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  if (typeof init.body === 'string' && !headers.has('content-type'))
    headers.set('content-type', 'application/json');
  return call(`${ORIGIN}/api/v1${path}`, { ...init, headers });
}

export async function signIn(which = 0): Promise<string> {
  const session = await signInWithPrivateKey({
    url: ORIGIN,
    privateKey: DEV_PRIVATE_KEYS[which]!,
    fetch: call,
  });
  return session.token;
}

export async function apiKey(which = 0): Promise<string> {
  return (await createApiKey({ url: ORIGIN, privateKey: DEV_PRIVATE_KEYS[which]!, fetch: call })).key;
}

export async function submit(token: string, spec: Partial<JobSpecInput>): Promise<string> {
  const res = await api('/jobs', {
    method: 'POST',
    token,
    body: JSON.stringify({
      runtime: 'js',
      source: 'export default (x) => x * 2',
      inputs: [1, 2, 3],
      // These tests' nodes are anonymous; the control-plane tests take one node's word
      // (verification has its own tests, which say their policy).
      ...('trust' in spec || 'redundancy' in spec ? {} : { redundancy: 1 }),
      ...spec,
    }),
  });
  const body = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`submit failed: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

/** A WebSocket client inside workerd, with a queue of decoded messages and a wait helper. */
export class TestSocket<In, Out> {
  readonly messages: In[] = [];
  #waiters: (() => void)[] = [];
  readonly ws: WebSocket;
  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.accept();
    ws.addEventListener('message', (e) => {
      this.messages.push(JSON.parse(e.data as string) as In);
      for (const w of this.#waiters.splice(0)) w();
    });
  }
  send(message: Out | string) {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }
  /** Wait for the first message (after `from`) that matches, or fail after `timeoutMs`. */
  async next<T extends In>(match: (m: In) => m is T, timeoutMs?: number): Promise<T>;
  async next(match: (m: In) => boolean, timeoutMs?: number): Promise<In>;
  async next(match: (m: In) => boolean, timeoutMs = 5000): Promise<In> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(match);
      if (i >= 0) return this.messages.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.messages).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, left);
      });
    }
  }
  close() {
    this.ws.close(1000, 'done');
  }
}

/** A new Ed25519 node identity, as `loadOrCreateIdentity` would create on first start. */
export async function newIdentity(): Promise<NodeIdentity> {
  return identityFromKey(await generateKeyPair('Ed25519'));
}

/** The host the test nodes connect to: what their hello proofs are signed for. */
export const HOST = new URL(ORIGIN).host;

/**
 * The `proof` of a hello with `identity`'s peer id, as a real node signs it on connecting to
 * `ORIGIN` (`host` and `at` override what is signed, for the refusal tests).
 */
export function helloProof(
  identity: NodeIdentity,
  options: { host?: string; at?: number } = {},
): Promise<HelloProof> {
  const fields = { peerId: identity.peerId.toString(), host: options.host ?? HOST };
  return signHelloProof(options.at === undefined ? fields : { ...fields, at: options.at }, (b) =>
    identity.sign(b),
  );
}

/** An outcome before its receipt is attached (what a test writes). */
export type Unsigned = TaskOutcome extends infer O
  ? O extends TaskOutcome
    ? Omit<O, 'receipt'>
    : never
  : never;

/**
 * A fake compute node's socket. It remembers the tasks it was leased, so it can report outcomes
 * for them with receipts and a batch signature as a real node does (`report`).
 */
export class NodeSocket extends TestSocket<HubToNode, NodeToHub> {
  readonly identity: NodeIdentity;
  readonly fingerprintClass: string | undefined;
  readonly #leased = new Map<string, LeasedTask>();
  /** The hub's welcome, once `connectNode` has had it. */
  welcome: Extract<HubToNode, { type: 'hub.welcome' }> | undefined;
  constructor(ws: WebSocket, identity: NodeIdentity, fingerprintClass?: string) {
    super(ws);
    this.identity = identity;
    this.fingerprintClass = fingerprintClass;
    ws.addEventListener('message', (e) => {
      const m = JSON.parse(e.data as string) as HubToNode;
      if (m.type === 'task.leased') for (const t of m.tasks) this.#leased.set(t.leaseId, t);
    });
  }
  /**
   * The outcome with its receipt fields, as a real node computes them for the task it was leased
   * (`task` overrides what the receipt names). An outcome for a lease this socket never received
   * names a made-up code and input.
   */
  async withReceipt(outcome: Unsigned | TaskOutcome, task?: Partial<LeasedTask>): Promise<TaskOutcome> {
    const leased = { ...(this.#leased.get(outcome.leaseId) ?? FOREIGN_TASK), ...task };
    const done = outcome.ok
      ? ({ ok: true, output: outcome.output } as const)
      : ({ ok: false, error: outcome.error } as const);
    return { ...outcome, receipt: await outcomeReceipt(leased, done) } as TaskOutcome;
  }
  /** The frame of these outcomes, with receipts, signed as a batch (`as` signs with another identity). */
  async resultsFrame(
    outcomes: (Unsigned | TaskOutcome)[],
    options: { credit?: number; as?: NodeIdentity; fingerprintClass?: string } = {},
  ): Promise<Extract<NodeToHub, { type: 'task.results' }>> {
    const results = await Promise.all(outcomes.map((o) => ('receipt' in o ? o : this.withReceipt(o))));
    const signature = await signResults(
      options.as ?? this.identity,
      results,
      options.fingerprintClass ?? this.fingerprintClass,
    );
    return { type: 'task.results', results, credit: options.credit ?? 0, signature };
  }
  /** Send `task.results` with every outcome's receipt, signed as one batch. */
  async report(outcomes: (Unsigned | TaskOutcome)[], credit = 0): Promise<void> {
    this.send(await this.resultsFrame(outcomes, { credit }));
  }
}

/** What a receipt names for a lease the socket never received. */
const FOREIGN_TASK = {
  attempt: 1,
  codeCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
  input: null,
} as const;

export type WatchSocket = TestSocket<RoomToWatcher, { type: 'ping' }>;

export async function connectNode(
  nodeId: string,
  options: {
    capacity?: number;
    runtimes?: ('js' | 'python')[];
    fingerprint?: RuntimeFingerprint;
    identity?: NodeIdentity;
    kind?: 'headless' | 'browser';
    /** libp2p addresses: with them (and a peer id) the node has a peer in the hub's registry. */
    multiaddrs?: string[];
    relay?: boolean;
    /** Cloudflare's request metadata (`request.cf`), e.g. the location the node connects from. */
    cf?: Record<string, unknown>;
    /** Link the node to this development wallet (`DEV_PRIVATE_KEYS[n]`) at hello. */
    wallet?: number;
  } = {},
): Promise<NodeSocket> {
  const res = await api(`/mesh/connect?node=${encodeURIComponent(nodeId)}`, {
    headers: { upgrade: 'websocket' },
    ...(options.cf ? ({ cf: options.cf } as RequestInit) : {}),
  });
  if (!res.webSocket) throw new Error(`no websocket: ${res.status}`);
  const identity = options.identity ?? (await newIdentity());
  const socket = new NodeSocket(res.webSocket, identity, options.fingerprint?.class);
  socket.send({
    type: 'node.hello',
    protocol: MESH_PROTOCOL,
    nodeId,
    kind: options.kind ?? 'headless',
    runtimes: options.runtimes ?? ['js'],
    capacity: options.capacity ?? 4,
    version: 'test',
    ...(options.fingerprint ? { fingerprint: options.fingerprint } : {}),
    peerId: identity.peerId.toString(),
    proof: await helloProof(identity),
    ...(options.multiaddrs ? { multiaddrs: options.multiaddrs } : {}),
    ...(options.relay ? { relay: true } : {}),
    ...(options.wallet === undefined
      ? {}
      : {
          owner: await linkNodeWithPrivateKey({
            url: ORIGIN,
            peerId: identity.peerId.toString(),
            privateKey: DEV_PRIVATE_KEYS[options.wallet]!,
          }),
        }),
  });
  socket.welcome = (await socket.next((m) => m.type === 'hub.welcome')) as Extract<
    HubToNode,
    { type: 'hub.welcome' }
  >;
  return socket;
}

export async function watch(jobId: string, token: string): Promise<WatchSocket> {
  const res = await api(`/jobs/${jobId}/events?token=${encodeURIComponent(token)}`, {
    headers: { upgrade: 'websocket' },
  });
  if (!res.webSocket) throw new Error(`no websocket: ${res.status} ${await res.text()}`);
  return new TestSocket<RoomToWatcher, { type: 'ping' }>(res.webSocket);
}

/** The hub shard a node id lands on, as a Durable Object stub (for `runInDurableObject`). */
export function hubOf(nodeId: string) {
  return env.MESH_HUB.get(env.MESH_HUB.idFromName(`hub-${shardOf(env, nodeId)}`));
}

/**
 * Give a node id a record of `accepted` accepted results on its shard, before it connects, as
 * if it had worked for a while: it is then established (its lost leases count) and its lease
 * window is wide.
 */
export async function establish(nodeId: string, accepted = 1000): Promise<void> {
  await runInDurableObject(hubOf(nodeId), (_instance, state) => {
    state.storage.sql.exec(
      `INSERT INTO standings (node_id, accepted, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (node_id) DO UPDATE SET accepted = excluded.accepted`,
      nodeId,
      accepted,
      Date.now(),
    );
  });
}

/** Give a node id a verification record: `streak` agreements since its last mismatch. */
export async function credible(nodeId: string, streak: number): Promise<void> {
  await runInDurableObject(hubOf(nodeId), (_instance, state) => {
    state.storage.sql.exec(
      `INSERT INTO standings (node_id, accepted, agreed, streak, updated_at) VALUES (?, 1000, ?, ?, ?)
       ON CONFLICT (node_id) DO UPDATE SET agreed = excluded.agreed, streak = excluded.streak`,
      nodeId,
      streak,
      streak,
      Date.now(),
    );
  });
}

/**
 * A unique node id (`<prefix>-<uuid>`) that lands on hub shard `shard`, for tests that need nodes
 * on the same shard, or on different ones.
 */
export function nodeIdOnShard(prefix: string, shard: number): string {
  if (shard >= hubShards(env)) throw new RangeError(`there are ${hubShards(env)} shards; no shard ${shard}`);
  for (;;) {
    const id = `${prefix}-${crypto.randomUUID()}`;
    if (shardOf(env, id) === shard) return id;
  }
}

/** A type guard for hub frames of one type, for `NodeSocket.next`. */
export const isFrame =
  <T extends HubToNode['type']>(type: T) =>
  (m: HubToNode): m is Extract<HubToNode, { type: T }> =>
    m.type === type;
export const isLeased = isFrame('task.leased');
export const isAck = isFrame('results.ack');
export const isRevoked = isFrame('lease.revoked');
export const isError = isFrame('error');
export const isWelcome = isFrame('hub.welcome');

/** A successful outcome for a leased task (by default twice its numeric input). */
export const ok = (t: LeasedTask, output: JsonValue = (t.input as number) * 2): Unsigned => ({
  ok: true,
  jobId: t.jobId,
  index: t.index,
  leaseId: t.leaseId,
  output,
  logs: '',
  durationMs: 1,
});

/**
 * Jobs and node sockets of a test file that are cancelled and closed after each test (the shards
 * and rooms are shared by every test): `newJob` submits as a signed-in wallet, `node` connects.
 */
export function perTest() {
  const sockets: { close(): void }[] = [];
  const jobs: { id: string; token: string }[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) {
      try {
        s.close();
      } catch {
        // closed by the hub already
      }
    }
    for (const { id, token } of jobs.splice(0)) await api(`/jobs/${id}/cancel`, { method: 'POST', token });
  });
  return {
    sockets,
    async newJob(spec: Parameters<typeof submit>[1]) {
      const token = await signIn();
      const id = await submit(token, spec);
      jobs.push({ id, token });
      return { id, token };
    },
    async node(id: string, options?: Parameters<typeof connectNode>[1]) {
      const s = await connectNode(id, options);
      sockets.push(s);
      return s;
    },
  };
}
