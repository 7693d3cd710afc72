import {
  CircuitManifest,
  frameBudget,
  type HelloProof,
  HubToNode,
  type JsonValue,
  type LeasedTask,
  leaseTiming,
  limits,
  MESH_PROTOCOL,
  type NodeKind,
  type NodeOwnerLink,
  type NodeStanding,
  type NodeToHub,
  type PeerHint,
  type RuntimeFingerprint,
  signHelloProof,
  type TaskOutcome,
} from '../../../protocol/index.ts';
import { CodeCache } from './code-cache.ts';
import type { ExecResult, Executor } from './executor.ts';
import type { NodeIdentity } from './identity.ts';
import { type DataPlane, InputBlobError, IPFS_INPUT_PREFIX } from './p2p/data-plane.ts';
import { outcomeReceipt, signResults } from './sign-outcome.ts';

export type NodeEvent =
  | { type: 'connected'; nodeId: string }
  | { type: 'disconnected'; code: number; reason: string; retryInMs: number }
  | { type: 'task.finished'; task: LeasedTask; result: ExecResult }
  | { type: 'revoked'; count: number; reason: string }
  | { type: 'ignored'; count: number; reasons: string[] }
  | { type: 'hub.error'; message: string }
  | { type: 'standing'; standing: NodeStanding }
  | { type: 'paused'; reasons: PauseReason[] };

/** Why a node is not taking work: asked by its user, its tab is hidden, the machine runs on battery. */
export type PauseReason = 'user' | 'hidden' | 'battery';

/** A task the node is running now. */
export interface CurrentTask {
  jobId: string;
  index: number;
  runtime: LeasedTask['runtime'];
  /** `performance.now()` when it started. */
  startedAt: number;
}

export interface ComputeNodeOptions {
  /** Base URL of the API, e.g. `http://127.0.0.1:8787`. */
  api: string;
  executor: Executor;
  nodeId: string;
  /** The node's key (see `loadOrCreateIdentity`): its peer id goes in `node.hello`, and it signs every result. */
  identity: NodeIdentity;
  kind: NodeKind;
  name?: string;
  version: string;
  /**
   * The node's libp2p peer and block exchange: code and `ipfs://` inputs then come from peers that
   * hold them (or the origin), and the hub learns where to find this node. Without it, code comes
   * from the origin and `ipfs://` inputs fail.
   */
  dataPlane?: DataPlane;
  /** This node relays for others (announced in `node.hello`). */
  relay?: boolean;
  /** What the node's sandboxes compute with (see `computeFingerprint`), sent in `node.hello`. */
  fingerprint?: RuntimeFingerprint;
  /**
   * Share of each sandbox slot's time to use, 0.05–1 (default 1): after a task that kept a slot
   * busy for t ms, the slot rests t·(1/share − 1) ms before its next task. See `setCpuShare`.
   */
  cpuShare?: number;
  /** A wallet's signed link (see `protocol/node-link.ts`): the node's work counts for that wallet. */
  owner?: NodeOwnerLink;
  onEvent?: (event: NodeEvent) => void;
  /** Injected for tests and hosts without globals; defaults to the global ones. */
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
}

/** Results wait at most this long for company before they are sent, so that trivial tasks report in batches. */
const FLUSH_DELAY_MS = 25;
/** ...or until this many are waiting. */
const FLUSH_AT = 256;
/** A rest at least this long, with every slot resting, gives the queued tasks back. */
const LONG_REST_MS = 5_000;
/** A node keeps enough tasks queued to stay busy for about this long without asking. */
const TARGET_QUEUE_MS = 250;
/** More of one job queued than this per slot (at its measured task time) goes back to the hub. */
const SHED_AFTER_MS = 1_000;
/**
 * A job whose tasks take under this long each is quick: a node hands the executor up to
 * `Executor.batch` of its tasks per slot, which a process sandbox runs in one message.
 */
const QUICK_TASK_MS = 2;
/**
 * A task not started when its lease's deadline is nearer than its time limit, a heartbeat and this
 * margin goes back to the hub (`lease.return`, no attempt counted) rather than risk running past
 * the deadline, where it would count as lost against this node.
 */
const DEADLINE_MARGIN_MS = 2_000;
/** When the node wants work, its results (which carry the request) wait at most this long for company. */
const FLUSH_SOON_MS = 8;
/**
 * While the node has tasks running or queued, its results frames go at most this often, however
 * quickly tasks finish (a job's first result and a full frame excepted): the control plane's cost
 * is mostly per frame. Frames every ~25 ms held a 10,000-task job to 2,200 tasks/s on the 2-core
 * machine, with workerd's one thread busy; at 20 frames a second it ran at 3,200.
 */
const BUSY_FRAME_GAP_MS = 50;
/** The node's own frame rate and burst: a share of what the hub accepts (`frameBudget`). */
const PACE_PER_SECOND = frameBudget.framesPerSecond * frameBudget.nodeShare;
const PACE_BURST = frameBudget.frameBurst * frameBudget.nodeShare;

/**
 * The compute node's lease loop, shared by the headless node and the browser tab: one WebSocket
 * to the hub, credit-based leasing (ask for as many tasks as keep the executor busy for about
 * `TARGET_QUEUE_MS`), results sent in batches, heartbeats for held leases, and reconnection with
 * exponential backoff. Nothing here touches Node or DOM APIs; the host injects the executor.
 */
export class ComputeNode {
  readonly #o: ComputeNodeOptions;
  readonly #code: CodeCache;
  #ws: WebSocket | undefined;
  #connected = false;
  #stopped = false;
  #attempt = 0;
  #heartbeatMs = 5000;
  /** How long a lease lives unless extended (the hub's word, in its welcome). */
  #leaseTtlMs: number = leaseTiming.leaseTtlMs;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #reconnect: ReturnType<typeof setTimeout> | undefined;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** When `#flushTimer` fires (performance.now() time). */
  #flushDue = 0;
  /**
   * Frames this node may send now: its own pacing at `frameBudget.nodeShare` of the hub's budget.
   * Results and lease requests wait for it (and batch meanwhile); a frame over the hub's budget
   * would be refused and its results lost.
   */
  #tokens = PACE_BURST;
  /** When the last results frame went, and whether the next may not wait for it (a job's first result). */
  #lastResultsAt = Number.NEGATIVE_INFINITY;
  #urgent = false;
  #tokensAt = performance.now();
  /** The loop sending result frames, while it runs. */
  #flushing: Promise<void> | undefined;
  #flushAgain = false;
  /** Leased and not yet started. */
  readonly #queue: LeasedTask[] = [];
  /** Each held task's lease deadline on this node's clock (performance.now() time). */
  readonly #due = new WeakMap<LeasedTask, number>();
  /** Running, by lease id (until its result is signed). */
  readonly #running = new Map<string, { task: LeasedTask; abort: AbortController; startedAt: number }>();
  /** Of those, how many have finished executing and are being signed: their sandbox slots are free. */
  #signing = 0;
  /** Finished and not yet sent (kept across reconnects: the room decides whether they still count). */
  readonly #outbox: TaskOutcome[] = [];
  /**
   * Result frames sent and not yet acknowledged, oldest first (the hub acks each frame, in order).
   * After a reconnect they are sent again: a frame lost with the old socket would otherwise leave
   * its tasks leased until their leases expire. Resending is safe: the room ignores duplicates.
   */
  readonly #unacked: TaskOutcome[][] = [];
  /** Tasks asked for and not yet received. */
  #granted = 0;
  /** Moving average of task time, for the size of the lease window. */
  #avgTaskMs = 50;
  /** Task time of recent jobs here (a moving average after the first, cold, task). */
  readonly #jobMs = new Map<string, { n: number; ms: number }>();
  /** `cpuMs`: task time, as the sandbox measured it, of tasks whose results were sent (the CPU time given). */
  readonly stats = { completed: 0, failed: 0, revoked: 0, connects: 0, returned: 0, cpuMs: 0 };
  #cpuShare: number;
  /** Slots resting after a task (throttling), with the timers that free them. */
  readonly #rests = new Set<ReturnType<typeof setTimeout>>();
  /** Of those, rests of at least LONG_REST_MS. */
  #longRests = 0;
  readonly #pauses = new Set<PauseReason>();
  #owner: NodeOwnerLink | undefined;
  #standing: NodeStanding | undefined;
  /** The hub's hints: peers holding a blob, by root CID (from `task.leased`). */
  readonly #providers = new Map<string, PeerHint[]>();
  #idle: (() => void)[] = [];

  constructor(options: ComputeNodeOptions) {
    this.#o = options;
    this.#cpuShare = clampShare(options.cpuShare ?? 1);
    this.#owner = options.owner;
    const dataPlane = options.dataPlane;
    this.#code = new CodeCache(
      options.api,
      options.fetch ?? ((...a) => fetch(...a)),
      64,
      dataPlane ? (cid) => dataPlane.blob(cid, this.#providers.get(cid)) : undefined,
    );
    dataPlane?.attach((update) => this.#send({ type: 'node.mesh', ...update }));
  }

  get connected(): boolean {
    return this.#connected;
  }

  get running(): number {
    return this.#running.size;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** The tasks running now, oldest first. */
  get current(): CurrentTask[] {
    return [...this.#running.values()].map(({ task, startedAt }) => ({
      jobId: task.jobId,
      index: task.index,
      runtime: task.runtime,
      startedAt,
    }));
  }

  /** What the hub last said of this node: reputation, the wallet its work counts for. */
  get standing(): NodeStanding | undefined {
    return this.#standing;
  }

  get cpuShare(): number {
    return this.#cpuShare;
  }

  /** Why the node takes no work now (empty when it does). */
  get pausedFor(): PauseReason[] {
    return [...this.#pauses];
  }

  /**
   * Use this share of each slot's time (0.05–1). Throttling is by task: a slot that ran a task
   * for t ms rests t·(1/share − 1) ms, so over a run the slots are busy `share` of the time; a
   * single long task still runs at full speed (a Web Worker cannot be suspended from outside),
   * and its slot then rests in proportion. Resting slots are freed at once when the share changes.
   */
  setCpuShare(share: number): void {
    this.#cpuShare = clampShare(share);
    for (const timer of this.#rests) clearTimeout(timer);
    this.#rests.clear();
    this.#longRests = 0;
    this.#pump();
    this.#askForWork();
  }

  /**
   * Pause (`on`) or resume for a reason; the node takes no work while any reason holds. Pausing
   * gives queued tasks back to the hub at once (`lease.return`, no attempt counted) and lets
   * running ones finish, so nothing waits for a paused node.
   */
  setPaused(reason: PauseReason, on: boolean): void {
    const before = this.#pauses.size;
    if (on) this.#pauses.add(reason);
    else this.#pauses.delete(reason);
    if (before === this.#pauses.size) return;
    this.#o.onEvent?.({ type: 'paused', reasons: this.pausedFor });
    if (this.#pauses.size) this.#returnQueued();
    else {
      this.#pump();
      this.#askForWork();
    }
  }

  /** Link the node to a wallet (a new signed link) or make it anonymous (`null`); the hub answers with the standing. */
  setOwner(owner: NodeOwnerLink | null): void {
    this.#owner = owner ?? undefined;
    this.#send({ type: 'node.owner', owner });
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  /** Stop taking work, let running tasks finish (up to `graceMs`), send their results, close. */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnect);
    // Queued tasks go back now rather than when the socket closes (that would count as leases lost).
    this.#returnQueued();
    this.#queue.length = 0;
    for (const timer of this.#rests) clearTimeout(timer);
    this.#rests.clear();
    this.#longRests = 0;
    if (this.#running.size && this.#connected) {
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        new Promise((resolve) => setTimeout(resolve, graceMs)),
      ]);
    }
    for (const { abort } of this.#running.values()) abort.abort();
    this.#flush();
    await this.#flushing;
    clearInterval(this.#heartbeat);
    this.#ws?.close(1000, 'node stopping');
  }

  // ---- connection ---------------------------------------------------------------------------------

  #connect(): void {
    const Ws = this.#o.WebSocket ?? WebSocket;
    const url = new URL('/api/v1/mesh/connect', this.#o.api);
    // The node id picks the hub shard; the hello must name the same one.
    url.searchParams.set('node', this.#o.nodeId);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new Ws(url);
    this.#ws = ws;
    ws.addEventListener('open', async () => {
      const peerId = this.#o.identity.peerId.toString();
      // Proof that we hold the key of `peerId`, for the host we connect to (the hub checks both).
      let proof: HelloProof;
      try {
        proof = await signHelloProof({ peerId, host: new URL(this.#o.api).host }, (bytes) =>
          this.#o.identity.sign(bytes),
        );
      } catch (err) {
        this.#o.onEvent?.({ type: 'hub.error', message: `cannot sign hello: ${(err as Error).message}` });
        ws.close(1000, 'cannot sign hello');
        return;
      }
      if (ws !== this.#ws) return;
      this.#send({
        type: 'node.hello',
        protocol: MESH_PROTOCOL,
        nodeId: this.#o.nodeId,
        kind: this.#o.kind,
        ...(this.#o.name ? { name: this.#o.name } : {}),
        runtimes: [...this.#o.executor.runtimes],
        capacity: this.#o.executor.capacity,
        version: this.#o.version,
        ...(this.#o.fingerprint ? { fingerprint: this.#o.fingerprint } : {}),
        peerId,
        proof,
        ...(this.#o.dataPlane ? { multiaddrs: this.#o.dataPlane.snapshot().multiaddrs } : {}),
        ...(this.#o.relay ? { relay: true } : {}),
        ...(this.#owner ? { owner: this.#owner } : {}),
      });
    });
    ws.addEventListener('message', (e) => this.#onMessage(e.data));
    ws.addEventListener('close', (e) => this.#onClose(ws, e.code, e.reason));
    ws.addEventListener('error', () => {
      // A close event always follows; reconnection is handled there.
    });
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    this.#connected = false;
    this.#granted = 0;
    this.#outbox.unshift(...this.#unacked.flat());
    this.#unacked.length = 0;
    clearInterval(this.#heartbeat);
    if (this.#stopped) return;
    const base = Math.min(250 * 2 ** this.#attempt, 10_000);
    const retryInMs = Math.round(base / 2 + Math.random() * (base / 2));
    this.#attempt++;
    this.#o.onEvent?.({ type: 'disconnected', code, reason, retryInMs });
    this.#reconnect = setTimeout(() => this.#connect(), retryInMs);
  }

  #onMessage(data: unknown): void {
    let msg: HubToNode;
    try {
      const parsed = HubToNode.safeParse(JSON.parse(String(data)));
      if (!parsed.success) throw new Error(parsed.error.message);
      msg = parsed.data;
    } catch (err) {
      this.#o.onEvent?.({
        type: 'hub.error',
        message: `undecodable frame from hub: ${(err as Error).message}`,
      });
      return;
    }
    switch (msg.type) {
      case 'hub.welcome':
        this.#connected = true;
        this.#attempt = 0;
        this.stats.connects++;
        this.#heartbeatMs = msg.heartbeatMs;
        this.#leaseTtlMs = msg.leaseTtlMs;
        if (this.#o.dataPlane) {
          // The hub forgot what we held and who we are connected to: tell it again, then meet the mesh.
          const { holds, peers } = this.#o.dataPlane.snapshot();
          if (holds.length || peers.length)
            this.#send({
              type: 'node.mesh',
              ...(holds.length ? { holds: { add: holds } } : {}),
              ...(peers.length ? { peers } : {}),
            });
          this.#o.dataPlane.meet(msg.peers ?? []);
        }
        clearInterval(this.#heartbeat);
        this.#heartbeat = setInterval(() => this.#sendHeartbeat(), this.#heartbeatMs);
        // Name what we hold from before a reconnect (the hub revokes what it released when the old
        // socket closed), report what finished meanwhile, ask for work.
        this.#sendHeartbeat();
        // Paused while away: what is still queued goes back (the hub may have released it already).
        if (this.#pauses.size) this.#returnQueued();
        this.#flush();
        this.#askForWork();
        this.#o.onEvent?.({ type: 'connected', nodeId: msg.nodeId });
        if (msg.standing) this.#setStanding(msg.standing);
        return;
      case 'node.standing':
        this.#setStanding(msg.standing);
        return;
      case 'mesh.peers':
        this.#o.dataPlane?.meet(msg.peers);
        return;
      case 'task.leased':
        for (const [cid, hints] of Object.entries(msg.providers ?? {})) {
          this.#providers.delete(cid);
          this.#providers.set(cid, hints);
          if (this.#providers.size > 1024) this.#providers.delete(this.#providers.keys().next().value!);
        }
        this.#granted = Math.max(0, this.#granted - msg.tasks.length);
        // The deadline as a time left (the hub's clock may differ from ours): the lease was made
        // `leaseTtlMs` before `expiresAt`.
        for (const t of msg.tasks) {
          this.#due.set(t, performance.now() + t.deadline - t.expiresAt + this.#leaseTtlMs);
        }
        this.#queue.push(...msg.tasks);
        // Credit asked for before a pause may still be granted: give it straight back.
        if (this.#pauses.size || this.#stopped || this.#restingLong()) this.#returnQueued();
        this.#pump();
        return;
      case 'lease.revoked': {
        const ids = new Set(msg.leases.map((l) => l.leaseId));
        let count = 0;
        for (let i = this.#queue.length - 1; i >= 0; i--) {
          if (ids.has(this.#queue[i]!.leaseId)) {
            this.#queue.splice(i, 1);
            count++;
          }
        }
        for (const id of ids) {
          const run = this.#running.get(id);
          if (run) {
            run.abort.abort();
            count++;
          }
        }
        this.stats.revoked += count;
        // Leases that finished here before the hub's word arrived are no news.
        if (count) this.#o.onEvent?.({ type: 'revoked', count, reason: msg.reason });
        this.#askForWork();
        return;
      }
      case 'results.ack':
        this.#unacked.shift();
        if (msg.standing) this.#setStanding(msg.standing);
        if (msg.ignored.length) {
          this.#o.onEvent?.({
            type: 'ignored',
            count: msg.ignored.length,
            reasons: msg.ignored.map((i) => i.reason),
          });
        }
        return;
      case 'error':
        this.#o.onEvent?.({ type: 'hub.error', message: `${msg.code}: ${msg.message}` });
        return;
    }
  }

  #send(message: NodeToHub): boolean {
    const ws = this.#ws;
    if (ws?.readyState !== 1) return false;
    ws.send(JSON.stringify(message));
    // Every frame counts against the pace; only results and lease requests wait for it (`#paceWait`).
    this.#refill();
    this.#tokens -= 1;
    return true;
  }

  #refill(): number {
    const now = performance.now();
    this.#tokens = Math.min(PACE_BURST, this.#tokens + ((now - this.#tokensAt) / 1000) * PACE_PER_SECOND);
    this.#tokensAt = now;
    return this.#tokens;
  }

  /** Milliseconds until the pace allows the next results or lease-request frame; 0: now. */
  #paceWait(): number {
    const tokens = this.#refill();
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / PACE_PER_SECOND) * 1000);
  }

  /** Flush (and so ask for work) in `ms`, unless a flush is due sooner. */
  #flushIn(ms: number): void {
    const due = performance.now() + ms;
    if (this.#flushTimer && this.#flushDue <= due) return;
    clearTimeout(this.#flushTimer);
    this.#flushDue = due;
    this.#flushTimer = setTimeout(() => {
      // Fired: no timer is pending any more. (Left set while a flush loop runs, it made every later
      // `#flushIn` believe a flush was due, and results waited for the next direct flush.)
      this.#flushTimer = undefined;
      this.#flush();
    }, ms);
  }

  #setStanding(standing: NodeStanding): void {
    this.#standing = standing;
    this.#o.onEvent?.({ type: 'standing', standing });
  }

  /**
   * After a task of `jobId` took `cycleMs`: its job's estimate, the window's, and the queue's
   * surplus of that job. Leased when tasks looked quicker, the queue may hold more of a job than the slots can start
   * within about TARGET_QUEUE_MS: give the surplus back (`lease.return`, no attempt counted), so
   * nodes with free slots run it now instead of it waiting here.
   */
  #learn(jobId: string, cycleMs: number): boolean {
    const seen = this.#jobMs.get(jobId);
    // A job's first task here may have fetched and compiled its code: it says little.
    if (!seen) {
      this.#jobMs.set(jobId, { n: 1, ms: cycleMs });
      if (this.#jobMs.size > 64) this.#jobMs.delete(this.#jobMs.keys().next().value!);
      return true;
    }
    seen.ms = seen.n === 1 ? cycleMs : seen.ms * 0.7 + cycleMs * 0.3;
    seen.n++;
    this.#shedSurplus(jobId, seen.ms);
    return false;
  }

  #shedSurplus(jobId: string, taskMs: number): void {
    if (!this.#connected) return;
    const capacity = this.#o.executor.capacity;
    // What waits: in the queue, and handed ahead to the executor (a quick job's batches). Only a
    // clear misfit (more than SHED_AFTER_MS of the job queued per slot), not the noise of a few
    // slow tasks among quick ones; first by a cheap bound (this runs after every task).
    const ahead = Math.max(0, this.#running.size - capacity);
    const bound = this.#queue.filter((t) => t.jobId === jobId).length + ahead;
    if ((bound * taskMs) / capacity <= SHED_AFTER_MS) return;
    const unstarted = this.#unstarted().filter((t) => t.jobId === jobId);
    const queued = unstarted.length;
    if ((queued * taskMs) / capacity <= SHED_AFTER_MS) return;
    // The window was sized for quicker tasks: it is this job's from now on (it shrinks back
    // gradually as quick tasks come again), so the node does not ask for the surplus again.
    this.#avgTaskMs = Math.max(this.#avgTaskMs, taskMs);
    const keep = this.#window();
    const surplus = queued - keep;
    if (surplus < 1) return;
    this.#giveBack(unstarted.slice(-surplus));
  }

  /** Tasks held and not started: handed to the executor and waiting there, then the queue's. */
  #unstarted(): LeasedTask[] {
    const executor = this.#o.executor;
    const waiting = executor.waiting
      ? [...this.#running.values()].filter((r) => executor.waiting!(r.abort.signal)).map((r) => r.task)
      : [];
    return [...waiting, ...this.#queue];
  }

  /**
   * Give unstarted tasks back to the hub (`lease.return`, no attempt counted): out of the queue,
   * or aborted in the executor, where they wait (which costs nothing). Only what went out leaves
   * (a socket that cannot send keeps them here).
   */
  #giveBack(tasks: LeasedTask[]): void {
    if (!tasks.length || !this.#connected) return;
    const back = new Set<LeasedTask>();
    for (let i = 0; i < tasks.length; i += limits.maxHeldLeases) {
      const part = tasks.slice(i, i + limits.maxHeldLeases);
      const leases = part.map((t) => ({ jobId: t.jobId, leaseId: t.leaseId }));
      if (!this.#send({ type: 'lease.return', leases })) break;
      for (const t of part) back.add(t);
    }
    if (!back.size) return;
    this.#queue.splice(0, this.#queue.length, ...this.#queue.filter((t) => !back.has(t)));
    for (const t of back) this.#running.get(t.leaseId)?.abort.abort();
    this.stats.returned += back.size;
  }

  /** Give every unstarted task back (pausing, stopping, a long rest). */
  #returnQueued(): void {
    this.#giveBack(this.#unstarted());
  }

  /**
   * Give back the unstarted tasks that could no longer finish before their lease's deadline if
   * they started at the next heartbeat: a quick job that turned slow leaves the tasks handed
   * ahead of its slots waiting behind tasks that now take their whole time limit.
   */
  #returnLate(): void {
    const now = performance.now();
    this.#giveBack(
      this.#unstarted().filter(
        (t) =>
          (this.#due.get(t) ?? Number.POSITIVE_INFINITY) - now <
          t.timeoutMs + this.#heartbeatMs + DEADLINE_MARGIN_MS,
      ),
    );
  }

  #sendHeartbeat(): void {
    this.#returnLate();
    // Everything whose lease we still need: queued, running, and finished but not yet acknowledged.
    // Not those just given back (aborted in the executor, leaving #running a moment later).
    const leases = [
      ...this.#queue,
      ...[...this.#running.values()].filter((r) => !r.abort.signal.aborted).map((r) => r.task),
      ...this.#outbox,
      ...this.#unacked.flat(),
    ].map((t) => ({ jobId: t.jobId, leaseId: t.leaseId }));
    if (leases.length) this.#send({ type: 'node.heartbeat', leases });
    // Results waiting with no flush on the way (which nothing should leave, but whose leases the
    // heartbeat would keep alive until their deadline) go out now.
    if (this.#outbox.length && !this.#flushing && this.#flushTimer === undefined) this.#flush();
  }

  // ---- work ------------------------------------------------------------------------------------------

  /** How many tasks to hold (queued + running): enough to stay busy for about TARGET_QUEUE_MS. */
  #window(): number {
    const capacity = this.#o.executor.capacity;
    const perSlot = Math.ceil(TARGET_QUEUE_MS / Math.max(this.#avgTaskMs, 0.05));
    return Math.max(capacity * 2, Math.min(capacity * perSlot, limits.maxLeaseBatch));
  }

  /**
   * Credit to ask for now. Asking only once holdings fall to half the window, and then for the
   * whole gap, keeps lease frames large (hundreds of trivial tasks) instead of topping up one
   * finished task at a time: the control plane's cost is per frame, not per task.
   */
  #wanted(): number {
    if (this.#stopped || !this.#connected || this.#pauses.size || this.#restingLong()) return 0;
    const window = this.#window();
    const held = this.#queue.length + this.#running.size + this.#granted;
    return held > window / 2 ? 0 : window - held;
  }

  #askForWork(): void {
    const credit = this.#wanted();
    if (credit <= 0) return;
    // Over the pace, the request waits for the next flush (which ends by asking again).
    const wait = this.#paceWait();
    if (wait > 0) {
      this.#flushIn(wait);
      return;
    }
    if (this.#send({ type: 'lease.request', credit })) this.#granted += credit;
  }

  #pump(): void {
    if (this.#pauses.size) return;
    const { capacity } = this.#o.executor;
    // A throttled node (cpu share under 1) rests between tasks: one per slot, never a batch ahead.
    const batch = this.#cpuShare < 1 ? 1 : (this.#o.executor.batch ?? 1);
    while (this.#queue.length) {
      const busy = this.#running.size - this.#signing + this.#rests.size;
      // Beyond one task per slot only for a quick JS job's tasks, which the executor runs in
      // batches (see `Executor.batch`).
      if (busy >= capacity && (busy >= capacity * batch || !this.#quick(this.#queue[0]!))) break;
      const task = this.#queue.shift()!;
      const abort = new AbortController();
      this.#running.set(task.leaseId, { task, abort, startedAt: performance.now() });
      void this.#run(task, abort.signal);
    }
  }

  /** A JS task of a job whose tasks here took under `QUICK_TASK_MS` each (after its first). */
  #quick(task: LeasedTask): boolean {
    if (task.runtime !== 'js') return false;
    const seen = this.#jobMs.get(task.jobId);
    return seen !== undefined && seen.n >= 2 && seen.ms < QUICK_TASK_MS;
  }

  /** The task's input, with an `ipfs://` blob fetched through the data plane. */
  #resolveInput(task: LeasedTask, signal: AbortSignal): Promise<JsonValue> | JsonValue {
    const { input } = task;
    if (typeof input !== 'string' || !input.startsWith(IPFS_INPUT_PREFIX)) return input;
    if (!this.#o.dataPlane) throw new Error('this node has no data plane to fetch ipfs:// inputs with');
    const cid = input.slice(IPFS_INPUT_PREFIX.length);
    return this.#o.dataPlane.resolveInput(input, this.#providers.get(cid), signal);
  }

  /**
   * A `circom` job's circuit: the manifest (the job's code) names its witness calculator and
   * proving key by CID, fetched and hash-checked like code (and cached with it).
   */
  async #circuit(manifestText: string): Promise<{ wasm: Uint8Array; zkey: Uint8Array }> {
    let manifest: CircuitManifest;
    try {
      manifest = CircuitManifest.parse(JSON.parse(manifestText));
    } catch (error) {
      throw new InputBlobError(`the job's circuit manifest is invalid: ${(error as Error).message}`);
    }
    const [wasm, zkey] = await Promise.all([this.#code.get(manifest.wasm), this.#code.get(manifest.zkey)]);
    return { wasm: wasm.bytes, zkey: zkey.bytes };
  }

  async #run(task: LeasedTask, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    let result: ExecResult;
    /** How long the task held a sandbox slot (fetching code and input holds none). */
    let busyMs = 0;
    try {
      const blob = await this.#code.get(task.codeCid);
      const input = await this.#resolveInput(task, signal);
      const circuit = task.runtime === 'circom' ? await this.#circuit(blob.text) : undefined;
      const execStart = performance.now();
      result = await this.#o.executor
        .run(
          {
            runtime: task.runtime,
            code: task.runtime === 'wasm' ? blob.bytes : blob.text,
            codeCid: task.codeCid,
            input,
            timeoutMs: task.timeoutMs,
            memoryMb: task.memoryMb,
            seed: task.seed,
            clock: task.clock,
            jobId: task.jobId,
            ...(circuit ? { circuit } : {}),
          },
          signal,
        )
        .finally(() => {
          busyMs = performance.now() - execStart;
        });
    } catch (err) {
      result = {
        ok: false,
        error:
          err instanceof InputBlobError
            ? { kind: 'user_error', message: err.message }
            : { kind: 'node_error', message: `node could not run the task: ${(err as Error).message}` },
        logs: '',
        durationMs: 0,
      };
    }
    // A slot's cycle is its task and its rest: the lease window is sized by both (and a job's
    // own cycle decides whether its queued surplus goes back, see `#shedSurplus`). A task handed
    // to the executor beyond its slots waited there: what counts is the time it held a slot.
    const waitedMs = result.slotMs !== undefined && result.slotMs < busyMs ? busyMs - result.slotMs : 0;
    busyMs -= waitedMs;
    const cycleMs = (performance.now() - started - waitedMs) / this.#cpuShare;
    // An aborted task (revoked, or given back unstarted) says nothing of the job's task time.
    if (!signal.aborted) this.#avgTaskMs = this.#avgTaskMs * 0.9 + cycleMs * 0.1;
    const firstOfJob = !signal.aborted && this.#learn(task.jobId, cycleMs);
    // Rest by the slot's wall time (a cold start uses CPU too), at most the task's time limit (a
    // tab the browser froze mid-task would otherwise rest for as long as it slept).
    const restMs = Math.min(busyMs, task.timeoutMs) * (1 / this.#cpuShare - 1);
    let outcome: TaskOutcome | undefined;
    if (!signal.aborted) {
      const done = result.ok
        ? ({ ok: true, output: result.output, ...(result.proof ? { proof: result.proof } : {}) } as const)
        : ({ ok: false, error: result.error } as const);
      // The sandbox slot is free: the next task starts while this outcome's receipt is hashed.
      // The task stays in #running meanwhile, so heartbeats, revocation and stop() still see it.
      // A throttled slot rests first.
      this.#signing++;
      this.#rest(restMs);
      this.#pump();
      const receipt = await outcomeReceipt(task, done);
      this.#signing--;
      outcome = {
        ...done,
        jobId: task.jobId,
        index: task.index,
        leaseId: task.leaseId,
        logs: result.logs,
        durationMs: result.durationMs,
        receipt,
      };
    }
    this.#running.delete(task.leaseId);
    if (outcome && !signal.aborted) {
      if (result.ok) this.stats.completed++;
      else this.stats.failed++;
      this.stats.cpuMs += result.durationMs;
      this.#outbox.push(outcome);
      this.#o.onEvent?.({ type: 'task.finished', task, result });
      // A job's first result here goes at once: its submitter sees progress without waiting
      // for a batch (one more frame per job and node).
      if (firstOfJob) {
        this.#urgent = true;
        this.#flush();
      } else this.#scheduleFlush();
    }
    this.#pump();
    if (!this.#running.size && !this.#queue.length) {
      for (const resolve of this.#idle.splice(0)) resolve();
      this.#flush();
    }
  }

  /** Keep one slot free of work for `ms` (throttling). */
  #rest(ms: number): void {
    if (ms < 1 || this.#stopped) return;
    const long = ms >= LONG_REST_MS;
    const timer = setTimeout(() => {
      this.#rests.delete(timer);
      if (long) this.#longRests--;
      this.#pump();
      this.#askForWork();
    }, ms);
    this.#rests.add(timer);
    // A long rest (a long task at a small share) would keep queued tasks from nodes that are free:
    // when every slot is in one, give them back and ask for none; a waking slot asks again.
    if (long) this.#longRests++;
    if (this.#restingLong()) this.#returnQueued();
  }

  #restingLong(): boolean {
    return this.#longRests >= this.#o.executor.capacity;
  }

  #scheduleFlush(): void {
    const idle = !this.#queue.length && this.#running.size === 0;
    const wanted = this.#wanted() > 0;
    // Flush now when there is nothing left to run, the frame is full, or the node wants work and
    // is about to run dry. Wanting work with some queued, the frame waits a few ms for company:
    // the node asks at half its window, with about TARGET_QUEUE_MS / 2 of work still queued, and
    // the control plane's cost is per frame (frames of one or two results halved its throughput).
    if (
      idle ||
      this.#outbox.length >= FLUSH_AT ||
      (wanted && this.#queue.length <= this.#o.executor.capacity)
    ) {
      this.#flush();
      return;
    }
    this.#flushIn(wanted ? FLUSH_SOON_MS : FLUSH_DELAY_MS);
  }

  /**
   * Send finished results, each frame signed once, with a request for as much new work as they
   * free up. Signing is asynchronous, so frames go out one after another from a single loop (the
   * hub acknowledges them in order).
   */
  #flush(): void {
    // While a flush runs, a timer it set (to wait for the pace) stays: cleared here, the results
    // it waited for had nothing left to send them.
    if (this.#flushing) {
      this.#flushAgain = true;
      return;
    }
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#flushing = this.#flushLoop().finally(() => {
      this.#flushing = undefined;
      // A flush asked for after the loop's last look for more (results that finished as it
      // ended) runs now; left for a later task, the last results of a node's work stayed in the
      // outbox, their leases kept alive by heartbeats until their deadline.
      if (this.#flushAgain && this.#flushTimer === undefined) this.#flush();
    });
  }

  async #flushLoop(): Promise<void> {
    do {
      this.#flushAgain = false;
      while (this.#outbox.length && this.#connected) {
        // Busy, results wait for company until BUSY_FRAME_GAP_MS after the last frame.
        const busy = this.#running.size > 0 || this.#queue.length > 0;
        const gap = this.#lastResultsAt + BUSY_FRAME_GAP_MS - performance.now();
        if (busy && gap > 0 && !this.#urgent && !this.#stopped && this.#outbox.length < FLUSH_AT) {
          this.#flushIn(gap);
          return;
        }
        // Over the pace, results wait (and gather more company) until a frame may go.
        const wait = this.#paceWait();
        if (wait > 0) {
          this.#flushIn(wait);
          return;
        }
        const results = this.#outbox.splice(0, limits.maxResultBatch);
        let signature: string;
        try {
          signature = await signResults(this.#o.identity, results, this.#o.fingerprint?.class);
        } catch (err) {
          // Without a signature nothing counts: keep them for the next try, and say why.
          this.#outbox.unshift(...results);
          this.#o.onEvent?.({ type: 'hub.error', message: `cannot sign results: ${(err as Error).message}` });
          return;
        }
        const credit = Math.min(this.#wanted(), limits.maxHeldLeases);
        if (!this.#connected || !this.#send({ type: 'task.results', results, credit, signature })) {
          this.#outbox.unshift(...results);
          return;
        }
        this.#unacked.push(results);
        this.#granted += credit;
        this.#lastResultsAt = performance.now();
        this.#urgent = false;
      }
    } while (this.#flushAgain);
    if (!this.#outbox.length) this.#askForWork();
  }
}

function clampShare(share: number): number {
  if (!Number.isFinite(share)) throw new RangeError(`cpu share must be a number, not ${share}`);
  return Math.min(1, Math.max(0.05, share));
}
