import { generateKeyPair } from '@libp2p/crypto/keys';
import { identityFromKey, type NodeIdentity } from '../browser-node/src/core/identity.ts';
import { outcomeReceipt, signResults } from '../browser-node/src/core/sign-outcome.ts';
import { linkNodeWithPrivateKey } from '../client/node-link.ts';
import {
  HubToNode,
  type LeasedTask,
  MESH_PROTOCOL,
  type NodeOwnerLink,
  type NodeToHub,
  signHelloProof,
  type TaskOutcome,
} from '../protocol/index.ts';

/**
 * A compute node that runs nothing: it answers every `task.leased` frame at once with
 * `answer(task)` as the output, with receipts and one batch signature as a real node makes them,
 * and asks for as many tasks again as it reports. What remains is the control plane's cost: the
 * Worker, the hub, the room and the WebSockets. Used by `bench dispatch`, `bench hub` and
 * `bench/profile-dispatch.ts`. Frames are decoded with the protocol's schema and handled one at a
 * time; it records when it saw each job's first lease, sent its results, and got them acknowledged.
 */
export class NoopNode {
  readonly firstLease = new Map<string, number>();
  readonly resultSent = new Map<string, number>();
  readonly acked = new Map<string, number>();
  readonly frames = { leased: 0, tasks: 0, results: 0, acks: 0, accepted: 0, ignored: 0 };
  readonly errors: string[] = [];
  lastAckAt = 0;
  readonly identity: NodeIdentity;
  readonly nodeId: string;
  readonly #answer: (task: LeasedTask) => number;
  #ws!: WebSocket;
  #inbox: { at: number; msg: HubToNode }[] = [];
  #wake: (() => void) | undefined;
  #sentFrames: string[][] = [];
  #waiters: (() => void)[] = [];

  private constructor(identity: NodeIdentity, answer: (task: LeasedTask) => number) {
    this.identity = identity;
    this.nodeId = identity.peerId.toString();
    this.#answer = answer;
  }

  /** Connect to `api`, say hello (with a new key), and ask for `credit` tasks. */
  static async connect(
    api: string,
    options: {
      credit: number;
      capacity?: number;
      answer?: (task: LeasedTask) => number;
      /**
       * Link the node to this wallet (its private key), as `npm run dev`'s node is linked to the
       * development wallet: the wallet's own jobs then take its word alone (adaptive policy).
       * Without it the node is anonymous and its answers go through verification.
       */
      ownerKey?: `0x${string}`;
    },
  ): Promise<NoopNode> {
    const node = new NoopNode(
      identityFromKey(await generateKeyPair('Ed25519')),
      options.answer ?? ((t) => (t.input as number) * 2),
    );
    const owner = options.ownerKey
      ? await linkNodeWithPrivateKey({ url: api, peerId: node.nodeId, privateKey: options.ownerKey })
      : undefined;
    await node.#open(api, options.credit, options.capacity ?? 2, owner);
    return node;
  }

  async #open(api: string, credit: number, capacity: number, owner?: NodeOwnerLink): Promise<void> {
    const url = new URL('/api/v1/mesh/connect', api);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('node', this.nodeId);
    this.#ws = new WebSocket(url);
    this.#ws.addEventListener('message', (e) => {
      this.#inbox.push({ at: performance.now(), msg: HubToNode.parse(JSON.parse(String(e.data))) });
      this.#wake?.();
    });
    await new Promise((r) => this.#ws.addEventListener('open', r));
    this.#send({
      type: 'node.hello',
      protocol: MESH_PROTOCOL,
      nodeId: this.nodeId,
      kind: 'headless',
      runtimes: ['js'],
      capacity,
      version: 'bench',
      peerId: this.nodeId,
      proof: await signHelloProof({ peerId: this.nodeId, host: new URL(api).host }, (b) =>
        this.identity.sign(b),
      ),
      ...(owner ? { owner } : {}),
    });
    const first = await this.#next();
    if (first.msg.type !== 'hub.welcome')
      throw new Error(`expected hub.welcome, got ${JSON.stringify(first.msg)}`);
    if (owner && !first.msg.standing?.owner)
      throw new Error(
        `the owner link was refused: ${first.msg.standing?.ownerError ?? 'no owner in the welcome'}`,
      );
    this.#send({ type: 'lease.request', credit });
    void this.#loop();
  }

  #send(m: NodeToHub) {
    this.#ws.send(JSON.stringify(m));
  }

  async #next() {
    while (!this.#inbox.length) await new Promise<void>((r) => (this.#wake = r));
    return this.#inbox.shift()!;
  }

  /** Resolves once `n` results in total have been acknowledged as accepted. */
  acceptedAtLeast(n: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.frames.accepted >= n) resolve();
        else this.#waiters.push(check);
      };
      check();
    });
  }

  async #loop() {
    for (;;) {
      const { at, msg } = await this.#next();
      if (msg.type === 'task.leased') {
        this.frames.leased++;
        this.frames.tasks += msg.tasks.length;
        for (const t of msg.tasks) if (!this.firstLease.has(t.jobId)) this.firstLease.set(t.jobId, at);
        const results = await Promise.all(
          msg.tasks.map(async (t): Promise<TaskOutcome> => {
            const output = this.#answer(t);
            return {
              ok: true,
              jobId: t.jobId,
              index: t.index,
              leaseId: t.leaseId,
              output,
              logs: '',
              durationMs: 0,
              receipt: await outcomeReceipt(t, { ok: true, output }),
            };
          }),
        );
        const signature = await signResults(this.identity, results);
        this.#send({ type: 'task.results', results, credit: msg.tasks.length, signature });
        const sent = performance.now();
        const jobs = [...new Set(msg.tasks.map((t) => t.jobId))];
        for (const j of jobs) this.resultSent.set(j, sent);
        this.#sentFrames.push(jobs);
        this.frames.results++;
      } else if (msg.type === 'results.ack') {
        this.frames.acks++;
        this.lastAckAt = at;
        this.frames.accepted += msg.accepted;
        this.frames.ignored += msg.ignored.length;
        if (msg.ignored.length) this.errors.push(`results not counted: ${msg.ignored[0]!.reason}`);
        for (const j of this.#sentFrames.shift() ?? []) this.acked.set(j, at);
        for (const w of this.#waiters.splice(0)) w();
      } else if (msg.type === 'error') {
        this.errors.push(`hub error: ${msg.code}: ${msg.message}`);
      }
    }
  }

  close() {
    this.#ws.close();
  }
}
