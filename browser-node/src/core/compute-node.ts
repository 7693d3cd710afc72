import {
  HubToNode,
  type JsonValue,
  type LeasedTask,
  limits,
  MESH_PROTOCOL,
  type NodeKind,
  type NodeToHub,
  type PeerHint,
  type RuntimeFingerprint,
  type TaskOutcome,
} from '../../../protocol/index.ts';
import { CodeCache } from './code-cache.ts';
import type { ExecResult, Executor } from './executor.ts';
import type { NodeIdentity } from './identity.ts';
import { type DataPlane, InputBlobError, IPFS_INPUT_PREFIX } from './p2p/data-plane.ts';
import { signOutcome } from './sign-outcome.ts';

export type NodeEvent =
  | { type: 'connected'; nodeId: string }
  | { type: 'disconnected'; code: number; reason: string; retryInMs: number }
  | { type: 'task.finished'; task: LeasedTask; result: ExecResult }
  | { type: 'revoked'; count: number; reason: string }
  | { type: 'ignored'; count: number; reasons: string[] }
  | { type: 'hub.error'; message: string };

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
  onEvent?: (event: NodeEvent) => void;
  /** Injected for tests and hosts without globals; defaults to the global ones. */
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
}

/** Results wait at most this long for company before they are sent, so that trivial tasks report in batches. */
const FLUSH_DELAY_MS = 25;
/** ...or until this many are waiting. */
const FLUSH_AT = 256;
/** A node keeps enough tasks queued to stay busy for about this long without asking. */
const TARGET_QUEUE_MS = 250;

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
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #reconnect: ReturnType<typeof setTimeout> | undefined;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** Leased and not yet started. */
  readonly #queue: LeasedTask[] = [];
  /** Running, by lease id (until its result is signed). */
  readonly #running = new Map<string, { task: LeasedTask; abort: AbortController }>();
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
  readonly stats = { completed: 0, failed: 0, revoked: 0, connects: 0 };
  /** The hub's hints: peers holding a blob, by root CID (from `task.leased`). */
  readonly #providers = new Map<string, PeerHint[]>();
  #idle: (() => void)[] = [];

  constructor(options: ComputeNodeOptions) {
    this.#o = options;
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

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  /** Stop taking work, let running tasks finish (up to `graceMs`), send their results, close. */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnect);
    this.#queue.length = 0;
    if (this.#running.size && this.#connected) {
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        new Promise((resolve) => setTimeout(resolve, graceMs)),
      ]);
    }
    for (const { abort } of this.#running.values()) abort.abort();
    this.#flush();
    clearInterval(this.#heartbeat);
    this.#ws?.close(1000, 'node stopping');
  }

  // ---- connection ---------------------------------------------------------------------------------

  #connect(): void {
    const Ws = this.#o.WebSocket ?? WebSocket;
    const url = new URL('/api/v1/mesh/connect', this.#o.api);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new Ws(url);
    this.#ws = ws;
    ws.addEventListener('open', () => {
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
        peerId: this.#o.identity.peerId.toString(),
        ...(this.#o.dataPlane ? { multiaddrs: this.#o.dataPlane.snapshot().multiaddrs } : {}),
        ...(this.#o.relay ? { relay: true } : {}),
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
        // Reclaim what we hold from before a reconnect, report what finished meanwhile, ask for work.
        this.#sendHeartbeat();
        this.#flush();
        this.#askForWork();
        this.#o.onEvent?.({ type: 'connected', nodeId: msg.nodeId });
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
        this.#queue.push(...msg.tasks);
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
        this.#o.onEvent?.({ type: 'revoked', count, reason: msg.reason });
        this.#askForWork();
        return;
      }
      case 'results.ack':
        this.#unacked.shift();
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
    return true;
  }

  #sendHeartbeat(): void {
    // Everything whose lease we still need: queued, running, and finished but not yet acknowledged.
    const leases = [
      ...this.#queue,
      ...[...this.#running.values()].map((r) => r.task),
      ...this.#outbox,
      ...this.#unacked.flat(),
    ].map((t) => ({ jobId: t.jobId, leaseId: t.leaseId }));
    if (leases.length) this.#send({ type: 'node.heartbeat', leases });
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
    if (this.#stopped || !this.#connected) return 0;
    const window = this.#window();
    const held = this.#queue.length + this.#running.size + this.#granted;
    return held > window / 2 ? 0 : window - held;
  }

  #askForWork(): void {
    const credit = this.#wanted();
    if (credit > 0 && this.#send({ type: 'lease.request', credit })) this.#granted += credit;
  }

  #pump(): void {
    while (this.#running.size - this.#signing < this.#o.executor.capacity && this.#queue.length) {
      const task = this.#queue.shift()!;
      const abort = new AbortController();
      this.#running.set(task.leaseId, { task, abort });
      void this.#run(task, abort.signal);
    }
  }

  /** The task's input, with an `ipfs://` blob fetched through the data plane. */
  #resolveInput(task: LeasedTask, signal: AbortSignal): Promise<JsonValue> | JsonValue {
    const { input } = task;
    if (typeof input !== 'string' || !input.startsWith(IPFS_INPUT_PREFIX)) return input;
    if (!this.#o.dataPlane) throw new Error('this node has no data plane to fetch ipfs:// inputs with');
    const cid = input.slice(IPFS_INPUT_PREFIX.length);
    return this.#o.dataPlane.resolveInput(input, this.#providers.get(cid), signal);
  }

  async #run(task: LeasedTask, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    let result: ExecResult;
    try {
      const blob = await this.#code.get(task.codeCid);
      const input = await this.#resolveInput(task, signal);
      result = await this.#o.executor.run(
        {
          runtime: task.runtime,
          code: task.runtime === 'wasm' ? blob.bytes : blob.text,
          codeCid: task.codeCid,
          input,
          timeoutMs: task.timeoutMs,
          memoryMb: task.memoryMb,
          seed: task.seed,
          clock: task.clock,
        },
        signal,
      );
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
    this.#avgTaskMs = this.#avgTaskMs * 0.9 + (performance.now() - started) * 0.1;
    let outcome: TaskOutcome | undefined;
    if (!signal.aborted) {
      const base = { jobId: task.jobId, index: task.index, leaseId: task.leaseId, logs: result.logs };
      outcome = result.ok
        ? { ...base, ok: true, output: result.output, durationMs: result.durationMs }
        : { ...base, ok: false, error: result.error, durationMs: result.durationMs };
      // The sandbox slot is free: the next task starts while this result is signed. The task stays
      // in #running meanwhile, so heartbeats, revocation and stop() still see it. Should signing
      // ever fail, the outcome goes unsigned: the room does not count it, says why, and the task
      // runs again elsewhere when its lease expires.
      this.#signing++;
      this.#pump();
      const receipt = await signOutcome(this.#o.identity, task, outcome, this.#o.fingerprint?.class).catch(
        () => undefined,
      );
      this.#signing--;
      if (receipt) outcome.receipt = receipt;
    }
    this.#running.delete(task.leaseId);
    if (outcome && !signal.aborted) {
      if (result.ok) this.stats.completed++;
      else this.stats.failed++;
      this.#outbox.push(outcome);
      this.#o.onEvent?.({ type: 'task.finished', task, result });
      this.#scheduleFlush();
    }
    this.#pump();
    if (!this.#running.size && !this.#queue.length) {
      for (const resolve of this.#idle.splice(0)) resolve();
      this.#flush();
    }
  }

  #scheduleFlush(): void {
    const idle = !this.#queue.length && this.#running.size === 0;
    if (this.#outbox.length >= FLUSH_AT || idle || this.#wanted() > 0) {
      this.#flush();
      return;
    }
    this.#flushTimer ??= setTimeout(() => this.#flush(), FLUSH_DELAY_MS);
  }

  /** Send finished results with a request for as much new work as they free up. */
  #flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    while (this.#outbox.length && this.#connected) {
      const results = this.#outbox.slice(0, limits.maxResultBatch);
      const credit = Math.min(this.#wanted(), limits.maxLeaseBatch * 4);
      if (!this.#send({ type: 'task.results', results, credit })) return;
      this.#outbox.splice(0, results.length);
      this.#unacked.push(results);
      this.#granted += credit;
    }
    if (!this.#outbox.length) this.#askForWork();
  }
}
