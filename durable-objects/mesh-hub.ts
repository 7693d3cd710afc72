import { DurableObject } from 'cloudflare:workers';
import {
  describeIssues,
  type HubToNode,
  type HubToWatcher,
  leaseTiming,
  limits,
  MESH_PROTOCOL,
  NODES_PER_FRAME,
  type NodeInfo,
  type NodeKind,
  type NodeLocation,
  NodeToHub,
  type Runtime,
  type RuntimeFingerprint,
  type TaskOutcome,
  WatcherToHub,
} from '../protocol/index.ts';
import { broadcast } from './broadcast.ts';
import type { ReportResult } from './job-room.ts';
import { verifyNodeLink } from './node-link-verifier.ts';
import { NodeStandings } from './node-standings.ts';
import { PeerRegistry } from './peer-registry.ts';
import { checkHelloProof, ed25519PublicKey } from './receipt-verifier.ts';
import { account, type DoEnv, jobRoom } from './stubs.ts';

/** What the hub remembers of one connected node; kept as the socket's attachment so it survives hibernation. */
interface NodeSession {
  nodeId?: string;
  kind?: NodeKind;
  name?: string;
  runtimes: Runtime[];
  capacity: number;
  version?: string;
  fingerprint?: RuntimeFingerprint;
  /** The libp2p Ed25519 peer id whose key signs the node's receipts (checked at hello). */
  peerId?: string;
  /** The wallet its accepted work is credited to (a verified link, lowercase); none when anonymous. */
  owner?: string;
  /** The host the node connected to: a wallet link must be for this domain. */
  host?: string;
  connectedAt: number;
  lastSeenAt: number;
  location: NodeLocation;
  /** Tasks the node has asked for and not yet been given. */
  credit: number;
  /** Leases the node holds, per job: which rooms to tell when it goes away. */
  holdings: Record<string, number>;
}

interface AvailableJob {
  jobId: string;
  runtime: Runtime;
  since: number;
  /** Nodes that hold this code are preferred for the job (no fetch, compiled module cached). */
  codeCid?: string;
}

/** The prefix of a task input that names a blob (see `protocol/job.ts`). */
const IPFS_PREFIX = 'ipfs://';

/** Socket tags: compute nodes (`/mesh/connect`) and node-map watchers (`/nodes/events`). */
const NODE = 'node';
const WATCHER = 'watcher';
/** Watchers get at most one `nodes.updated` frame per this many ms, with every change since the last. */
const WATCH_THROTTLE_MS = 250;

const send = (ws: WebSocket, message: HubToNode) => {
  try {
    ws.send(JSON.stringify(message));
    return true;
  } catch {
    return false;
  }
};

/**
 * Node registry and dispatch for one shard of compute nodes.
 *
 * Nodes hold one hibernatable WebSocket here. A node says hello (runtimes, capacity, and maybe a
 * wallet link), then asks for work with credits; the hub leases batches from the JobRooms of
 * available jobs (round robin, preferring jobs the node is already warm for) and pushes them to
 * the node. Results come back here in batches and go to their rooms; what the rooms make of them
 * counts towards the node's standing (`NodeStandings`), and accepted work of a linked node is
 * credited to its wallet's Account. A paused node gives unstarted leases back (`lease.return`).
 * When a node's socket closes, its leases are released at once so that nothing waits for a lease
 * to time out; they count against it as lost.
 *
 * The node map watches here too, on sockets tagged `watcher` (nodes' are tagged `node`): a
 * snapshot of the nodes when it connects, then the nodes that joined, changed (running count,
 * peers, holds) or left, coalesced into at most one frame per `WATCH_THROTTLE_MS`.
 */
export class MeshHub extends DurableObject<DoEnv> {
  #jobs = new Map<string, AvailableJob>();
  #cursor = 0;
  #dispatching = false;
  #again = false;
  readonly #peers: PeerRegistry;
  readonly #standings: NodeStandings;
  /** Nodes that joined, changed or left since the watchers' last frame. */
  readonly #changed = new Set<string>();
  #watchTimer: ReturnType<typeof setTimeout> | undefined;
  #lastWatchFrame = 0;
  /** Node sockets whose close (or error) is being handled: no longer listed or dispatched to. */
  readonly #closing = new WeakSet<WebSocket>();

  constructor(ctx: DurableObjectState, env: DoEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, runtime TEXT NOT NULL, since INTEGER NOT NULL);
    `);
    try {
      ctx.storage.sql.exec('ALTER TABLE jobs ADD COLUMN code_cid TEXT');
    } catch {
      // already there
    }
    for (const row of ctx.storage.sql
      .exec<{ job_id: string; runtime: Runtime; since: number; code_cid: string | null }>(
        'SELECT job_id, runtime, since, code_cid FROM jobs ORDER BY since',
      )
      .toArray()) {
      this.#jobs.set(row.job_id, {
        jobId: row.job_id,
        runtime: row.runtime,
        since: row.since,
        ...(row.code_cid ? { codeCid: row.code_cid } : {}),
      });
    }
    this.#peers = new PeerRegistry(ctx.storage.sql);
    this.#standings = new NodeStandings(ctx.storage.sql);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
    const connected = new Set<string>();
    for (const ws of ctx.getWebSockets(NODE)) {
      const nodeId = (ws.deserializeAttachment() as NodeSession | null)?.nodeId;
      if (nodeId) connected.add(nodeId);
    }
    this.#peers.retain(connected);
  }

  // ---- called by JobRooms ----------------------------------------------------------------------

  /** A job has runnable tasks. */
  async jobAvailable(jobId: string, runtime: Runtime, codeCid?: string): Promise<void> {
    if (!this.#jobs.has(jobId)) {
      const job: AvailableJob = { jobId, runtime, since: Date.now(), ...(codeCid ? { codeCid } : {}) };
      this.#jobs.set(jobId, job);
      this.ctx.storage.sql.exec(
        'INSERT OR REPLACE INTO jobs (job_id, runtime, since, code_cid) VALUES (?, ?, ?, ?)',
        jobId,
        runtime,
        job.since,
        codeCid ?? null,
      );
    }
    this.#scheduleDispatch();
  }

  /** A job finished or was cancelled: stop dispatching it and revoke its outstanding leases. */
  async jobGone(
    jobId: string,
    revoked: { nodeId: string; leaseId: string }[],
    reason: string,
  ): Promise<void> {
    this.#forget(jobId);
    if (!revoked.length) return;
    const byNode = Map.groupBy(revoked, (r) => r.nodeId);
    for (const [ws, session] of this.#sessions()) {
      const leases = session.nodeId ? byNode.get(session.nodeId) : undefined;
      if (!leases || !session.nodeId) continue;
      send(ws, { type: 'lease.revoked', leases: leases.map((l) => ({ jobId, leaseId: l.leaseId })), reason });
      delete session.holdings[jobId];
      ws.serializeAttachment(session);
      this.#touch(session.nodeId);
    }
  }

  /** Why a job's pending tasks are waiting, from what the hub sees of the nodes. */
  explain(runtime: Runtime): string {
    const nodes = [...this.#sessions()].map(([, s]) => s).filter((s) => s.nodeId);
    if (!nodes.length) return 'no compute node is connected';
    const capable = nodes.filter((s) => s.runtimes.includes(runtime));
    if (!capable.length) return `no connected node supports runtime '${runtime}'`;
    if (capable.every((s) => s.credit === 0)) {
      return `all ${capable.length} node${capable.length === 1 ? '' : 's'} that run '${runtime}' are busy`;
    }
    return 'being dispatched to a node';
  }

  /** Connected nodes, for `GET /api/v1/nodes`. */
  listNodes(): NodeInfo[] {
    const out: NodeInfo[] = [];
    for (const [, s] of this.#sessions()) {
      const info = this.#infoOf(s);
      if (info) out.push(info);
    }
    return out;
  }

  // ---- sockets -----------------------------------------------------------------------------------

  /**
   * `GET /api/v1/mesh/connect`, forwarded by the Worker with the node's approximate location, or
   * `GET /api/v1/nodes/events` (a node-map watcher), told apart by the path.
   */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      return new Response('expected a WebSocket upgrade', { status: 426 });
    }
    if (new URL(request.url).pathname.endsWith('/nodes/events')) return this.#watch();
    let location: NodeLocation = {};
    try {
      location = JSON.parse(request.headers.get('x-mm-location') ?? '{}') as NodeLocation;
    } catch {
      // no location is fine
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [NODE]);
    const now = Date.now();
    const session: NodeSession = {
      runtimes: [],
      capacity: 0,
      // The Worker forwards the node's own request, so this is the host the node dialed.
      host: new URL(request.url).host,
      connectedAt: now,
      lastSeenAt: now,
      location,
      credit: 0,
      holdings: {},
    };
    server.serializeAttachment(session);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    if (this.#isWatcher(ws)) return this.#onWatcherMessage(ws, data);
    try {
      await this.#onMessage(ws, data);
    } catch (err) {
      // A failure behind a frame (a room unreachable, say) is reported, never a dropped socket:
      // the node keeps its leases and the rooms' alarms settle whatever was not recorded.
      console.error('hub: frame failed', err);
      send(ws, {
        type: 'error',
        code: 'internal',
        message: `the hub could not process the frame: ${(err as Error).message}`,
      });
    }
  }

  async #onMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const session = ws.deserializeAttachment() as NodeSession;
    const size = typeof data === 'string' ? data.length : data.byteLength;
    if (size > limits.maxFrameBytes) {
      return this.#reject(ws, `frame of ${size} bytes is over the limit of ${limits.maxFrameBytes}`);
    }
    if (typeof data !== 'string') return this.#reject(ws, 'frames must be JSON text');
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return this.#reject(ws, 'frame is not valid JSON');
    }
    const parsed = NodeToHub.safeParse(json);
    if (!parsed.success) return this.#reject(ws, describeIssues(parsed.error).message);
    const msg = parsed.data;
    session.lastSeenAt = Date.now();

    if (msg.type === 'node.hello') {
      const major = (p: string) => p.split('/').at(-1)?.split('.')[0];
      if (major(msg.protocol) !== major(MESH_PROTOCOL)) {
        send(ws, {
          type: 'error',
          code: 'bad_message',
          message: `protocol ${msg.protocol} is not supported; this hub speaks ${MESH_PROTOCOL}`,
        });
        ws.close(1008, 'unsupported protocol version');
        return;
      }
      // A peer id that names no Ed25519 key could never sign a receipt: refuse it now rather
      // than ignore every result the node sends.
      const key = msg.peerId === undefined ? undefined : ed25519PublicKey(msg.peerId);
      if (key instanceof Error) return this.#refuse(ws, key.message, 'invalid peer id');
      // The node must hold the key it names (signed for this host, lately): else it could say
      // hello as another node, and that node's standing would answer for what it does.
      if (msg.peerId !== undefined) {
        const refused = await checkHelloProof(msg.peerId, msg.proof, {
          host: session.host ?? '',
          now: Date.now(),
        });
        if (refused) return this.#refuse(ws, refused.message, 'no proof of key');
      }
      // Our nodes' ids default to their peer ids: such an id is only that key's to use.
      if (msg.nodeId !== msg.peerId && !(ed25519PublicKey(msg.nodeId) instanceof Error)) {
        return this.#refuse(
          ws,
          `node id ${msg.nodeId} is a peer id: only that peer may use it (say hello with it as peerId, with its proof)`,
          'node id of another peer',
        );
      }
      // A refused link does not refuse the node: it works anonymously and is told why.
      const link = msg.owner
        ? await verifyNodeLink(msg.owner, { peerId: msg.peerId, domain: session.host })
        : undefined;
      const owner = link && 'address' in link ? link.address : undefined;
      // The socket may have closed while the proof and link were checked: its close found no node
      // to release, so it must not be registered now.
      if (ws.readyState !== WebSocket.OPEN || this.#closing.has(ws)) return;
      // No await from here to the binding: two hellos for one node id cannot both pass the check.
      const taken = this.#standings.claim(msg.nodeId, msg.peerId);
      if (taken) return this.#refuse(ws, taken.message, 'node id of another peer');
      Object.assign(session, {
        nodeId: msg.nodeId,
        kind: msg.kind,
        name: msg.name,
        runtimes: msg.runtimes,
        capacity: msg.capacity,
        version: msg.version,
        fingerprint: msg.fingerprint,
        peerId: msg.peerId,
        owner,
      });
      ws.serializeAttachment(session);
      this.#standings.setOwner(msg.nodeId, owner ?? null, link && 'error' in link ? link.error : null);
      if (msg.peerId && msg.multiaddrs) {
        this.#peers.join(msg.nodeId, {
          peerId: msg.peerId,
          kind: msg.kind,
          relay: msg.relay ?? false,
          multiaddrs: msg.multiaddrs,
          location: session.location,
        });
      }
      send(ws, {
        type: 'hub.welcome',
        nodeId: msg.nodeId,
        heartbeatMs: leaseTiming.heartbeatMs,
        leaseTtlMs: leaseTiming.leaseTtlMs,
        peers: this.#peers.relaysFor(msg.nodeId),
        standing: this.#standings.get(msg.nodeId),
      });
      if (msg.relay) this.#relaysChanged(ws);
      this.#touch(msg.nodeId);
      return;
    }
    if (!session.nodeId) return this.#reject(ws, 'send node.hello first');
    const nodeId = session.nodeId;

    switch (msg.type) {
      case 'node.mesh': {
        const wasRelay = this.#peers.isRelay(nodeId);
        if (!this.#peers.update(nodeId, msg)) {
          return this.#reject(ws, 'node.mesh needs a peer: say hello with peerId and multiaddrs first');
        }
        if (msg.multiaddrs && wasRelay) this.#relaysChanged(ws);
        this.#touch(nodeId);
        return;
      }
      case 'node.owner': {
        // Unlinking always works; a refused new link leaves the previous owner in place.
        const link = msg.owner
          ? await verifyNodeLink(msg.owner, { peerId: session.peerId, domain: session.host })
          : undefined;
        const current = ws.deserializeAttachment() as NodeSession;
        current.lastSeenAt = session.lastSeenAt;
        if (!link || 'address' in link) current.owner = link?.address;
        ws.serializeAttachment(current);
        this.#standings.setOwner(nodeId, current.owner ?? null, link && 'error' in link ? link.error : null);
        send(ws, { type: 'node.standing', standing: this.#standings.get(nodeId) });
        this.#touch(nodeId);
        return;
      }
      case 'lease.return': {
        const byJob = Map.groupBy(msg.leases, (l) => l.jobId);
        const returned = await Promise.all(
          [...byJob].map(async ([jobId, leases]) => ({
            jobId,
            count: await jobRoom(this.env, jobId).returnLeases(
              nodeId,
              leases.map((l) => l.leaseId),
            ),
          })),
        );
        const current = ws.deserializeAttachment() as NodeSession;
        current.lastSeenAt = session.lastSeenAt;
        for (const { jobId, count } of returned) this.#release(current, jobId, count);
        ws.serializeAttachment(current);
        this.#touch(nodeId);
        // The rooms said `jobAvailable`; the tasks go to whoever has credit, now.
        this.#scheduleDispatch();
        return;
      }
      case 'lease.request':
        session.credit = Math.min(session.credit + msg.credit, limits.maxLeaseBatch * 4);
        ws.serializeAttachment(session);
        this.#scheduleDispatch();
        return;
      case 'node.heartbeat': {
        ws.serializeAttachment(session);
        const byJob = Map.groupBy(msg.leases, (l) => l.jobId);
        await Promise.all(
          [...byJob].map(([jobId, leases]) =>
            jobRoom(this.env, jobId).extend(
              nodeId,
              leases.map((l) => l.leaseId),
            ),
          ),
        );
        return;
      }
      case 'task.results': {
        const byJob = Map.groupBy(msg.results, (r) => r.jobId);
        // The room checks each receipt against the key and fingerprint class this node said hello with.
        const signer = {
          ...(session.peerId ? { peerId: session.peerId } : {}),
          ...(session.fingerprint ? { fingerprintClass: session.fingerprint.class } : {}),
        };
        const reports = await Promise.all(
          [...byJob].map(async ([jobId, outcomes]) => {
            const report = await jobRoom(this.env, jobId).report(nodeId, outcomes as TaskOutcome[], signer);
            return { jobId, report };
          }),
        );
        // The socket's attachment may have changed while we awaited (credits, revocations): re-read it.
        const current = ws.deserializeAttachment() as NodeSession;
        current.lastSeenAt = session.lastSeenAt;
        // A rejected result leaves its lease open (a good receipt may follow); the others end it.
        for (const { jobId, report } of reports) this.#release(current, jobId, report.accepted + report.late);
        current.credit = Math.min(current.credit + msg.credit, limits.maxLeaseBatch * 4);
        ws.serializeAttachment(current);
        const sum = (f: (r: ReportResult) => number) => reports.reduce((a, r) => a + f(r.report), 0);
        const accepted = sum((r) => r.accepted);
        const cpuMs = sum((r) => r.cpuMs);
        this.#standings.count(nodeId, {
          accepted,
          rejected: sum((r) => r.rejected),
          late: sum((r) => r.late),
          cpuMs,
        });
        if (current.owner && accepted > 0) this.#credit(current.owner, nodeId, accepted, cpuMs);
        this.#touch(nodeId);
        send(ws, {
          type: 'results.ack',
          accepted,
          ignored: reports.flatMap((r) => r.report.ignored),
          standing: this.#standings.get(nodeId),
        });
        this.#scheduleDispatch();
        return;
      }
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    if (!this.#isWatcher(ws))
      await this.#dropped(ws, `node disconnected (${code}${reason ? ` ${reason}` : ''})`);
    try {
      ws.close(code === 1005 ? 1000 : code, 'bye');
    } catch {
      // already closed
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    if (!this.#isWatcher(ws)) await this.#dropped(ws, 'node connection failed');
  }

  // ---- internals ---------------------------------------------------------------------------------

  *#sessions(): Generator<[WebSocket, NodeSession]> {
    for (const ws of this.ctx.getWebSockets(NODE)) {
      if (ws.readyState !== WebSocket.OPEN || this.#closing.has(ws)) continue;
      yield [ws, ws.deserializeAttachment() as NodeSession];
    }
  }

  #reject(ws: WebSocket, message: string): void {
    send(ws, { type: 'error', code: 'bad_message', message });
  }

  /** Refuse a hello: say why, and close (1008) before the node is registered. */
  #refuse(ws: WebSocket, message: string, closeReason: string): void {
    send(ws, { type: 'error', code: 'bad_message', message });
    ws.close(1008, closeReason);
  }

  /** `count` of the node's leases in `jobId` ended (results, returns): it holds that many fewer. */
  #release(session: NodeSession, jobId: string, count: number): void {
    if (count <= 0) return;
    const left = (session.holdings[jobId] ?? 0) - count;
    if (left > 0) session.holdings[jobId] = left;
    else delete session.holdings[jobId];
  }

  /** Count accepted work for the node's wallet, after the ack rather than before it. */
  #credit(owner: string, nodeId: string, tasks: number, cpuMs: number): void {
    this.ctx.waitUntil(
      account(this.env, owner)
        .creditWork(nodeId, tasks, cpuMs)
        .catch((err: unknown) => console.error(`hub: crediting ${owner} for ${nodeId} failed`, err)),
    );
  }

  #forget(jobId: string) {
    if (this.#jobs.delete(jobId)) this.ctx.storage.sql.exec('DELETE FROM jobs WHERE job_id = ?', jobId);
  }

  /** Release everything a departed node held, unless the same node is connected on another socket. */
  async #dropped(ws: WebSocket, reason: string): Promise<void> {
    this.#closing.add(ws);
    const session = ws.deserializeAttachment() as NodeSession | null;
    if (!session?.nodeId) return;
    const nodeId = session.nodeId;
    this.#touch(nodeId);
    const stillHere = this.ctx
      .getWebSockets(NODE)
      .some(
        (other) =>
          other !== ws &&
          other.readyState === WebSocket.OPEN &&
          !this.#closing.has(other) &&
          (other.deserializeAttachment() as NodeSession | null)?.nodeId === nodeId,
      );
    if (stillHere) return;
    const wasRelay = this.#peers.isRelay(nodeId);
    this.#peers.leave(nodeId);
    if (wasRelay) this.#relaysChanged(ws);
    const released = await Promise.all(
      Object.keys(session.holdings).map((jobId) => jobRoom(this.env, jobId).releaseNode(nodeId, reason)),
    );
    this.#standings.count(nodeId, { lost: released.reduce((a, n) => a + n, 0) });
  }

  #scheduleDispatch(): void {
    if (this.#dispatching) {
      this.#again = true;
      return;
    }
    this.#dispatching = true;
    this.ctx.waitUntil(
      this.#dispatch().finally(() => {
        this.#dispatching = false;
      }),
    );
  }

  /**
   * Hand out work until no node with credit can take anything. One loop at a time; a request
   * that arrives meanwhile sets `#again` so the loop runs once more instead of racing it.
   */
  async #dispatch(): Promise<void> {
    do {
      this.#again = false;
      for (const [ws, first] of this.#sessions()) {
        let session = first;
        if (!session.nodeId || session.credit <= 0) continue;
        const nodeId = session.nodeId;
        for (const job of this.#candidates(session)) {
          if (session.credit <= 0) break;
          const result = await jobRoom(this.env, job.jobId).lease(
            nodeId,
            Math.min(session.credit, limits.maxLeaseBatch),
          );
          // Nothing more to lease right now: the job leaves the queue until its room says otherwise.
          if (!result.more) this.#forget(job.jobId);
          if (!result.tasks.length) continue;
          const blobs = blobsOf(job, result.tasks);
          const providers = this.#peers.providers(blobs, nodeId);
          this.#peers.fetching(nodeId, blobs);
          const frame: HubToNode = {
            type: 'task.leased',
            tasks: result.tasks,
            ...(Object.keys(providers).length ? { providers } : {}),
          };
          if (ws.readyState !== WebSocket.OPEN || !send(ws, frame)) {
            const released = await jobRoom(this.env, job.jobId).releaseNode(
              nodeId,
              'node disconnected before receiving its lease',
            );
            // Leases it never received are not its fault; the ones it held in that job are lost.
            this.#standings.count(nodeId, { lost: Math.max(0, released - result.tasks.length) });
            break;
          }
          session = ws.deserializeAttachment() as NodeSession;
          session.credit = Math.max(0, session.credit - result.tasks.length);
          session.holdings[job.jobId] = (session.holdings[job.jobId] ?? 0) + result.tasks.length;
          ws.serializeAttachment(session);
          this.#touch(nodeId);
          if (result.more) this.#again = true;
        }
      }
    } while (this.#again);
  }

  /** Jobs this node can run: the ones it is warm for first, then the others in round-robin order. */
  #candidates(session: NodeSession): AvailableJob[] {
    const jobs = [...this.#jobs.values()].filter((j) => session.runtimes.includes(j.runtime));
    if (!jobs.length) return jobs;
    this.#cursor = (this.#cursor + 1) % jobs.length;
    const rotated = [...jobs.slice(this.#cursor), ...jobs.slice(0, this.#cursor)];
    const nodeId = session.nodeId ?? '';
    const isWarm = (j: AvailableJob) =>
      Boolean(session.holdings[j.jobId]) || (j.codeCid !== undefined && this.#peers.holds(nodeId, j.codeCid));
    const warm = rotated.filter(isWarm);
    const cold = rotated.filter((j) => !isWarm(j));
    return [...warm, ...cold];
  }

  // ---- the node map's watchers -------------------------------------------------------------------

  /** What `GET /nodes` and the watchers see of one node (undefined before its hello). */
  #infoOf(s: NodeSession): NodeInfo | undefined {
    if (!s.nodeId || !s.kind) return undefined;
    const info: NodeInfo = {
      nodeId: s.nodeId,
      kind: s.kind,
      runtimes: s.runtimes,
      capacity: s.capacity,
      running: Object.values(s.holdings).reduce((a, b) => a + b, 0),
      connectedAt: s.connectedAt,
      lastSeenAt: s.lastSeenAt,
      location: s.location,
    };
    if (s.name) info.name = s.name;
    if (s.fingerprint) info.fingerprint = s.fingerprint;
    if (s.peerId) info.peerId = s.peerId;
    info.reputation = this.#standings.score(s.nodeId);
    if (s.owner) info.owner = s.owner;
    const peer = this.#peers.describe(s.nodeId);
    if (peer) {
      info.multiaddrs = peer.multiaddrs;
      info.relay = peer.relay;
      info.holds = this.#peers.holdCount(s.nodeId);
      info.peers = peer.peers;
    }
    return info;
  }

  /** The latest info per node id (a node that reconnected may briefly have two sockets). */
  #infoByNode(): Map<string, NodeInfo> {
    const out = new Map<string, NodeInfo>();
    for (const [, s] of this.#sessions()) {
      const info = this.#infoOf(s);
      if (info) out.set(info.nodeId, info);
    }
    return out;
  }

  #isWatcher(ws: WebSocket): boolean {
    return this.ctx.getTags(ws).includes(WATCHER);
  }

  /** A new watcher: every node now, in frames of at most `NODES_PER_FRAME`. */
  #watch(): Response {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [WATCHER]);
    const nodes = [...this.#infoByNode().values()];
    const at = Date.now();
    const frames: HubToWatcher[] = [{ type: 'nodes.snapshot', nodes: nodes.slice(0, NODES_PER_FRAME), at }];
    for (let i = NODES_PER_FRAME; i < nodes.length; i += NODES_PER_FRAME)
      frames.push({ type: 'nodes.updated', nodes: nodes.slice(i, i + NODES_PER_FRAME), gone: [], at });
    for (const frame of frames) server.send(JSON.stringify(frame));
    return new Response(null, { status: 101, webSocket: client });
  }

  #onWatcherMessage(ws: WebSocket, data: string | ArrayBuffer): void {
    // Pings are answered by the auto-response without waking us; anything else is a mistake.
    let json: unknown;
    try {
      json = typeof data === 'string' ? JSON.parse(data) : undefined;
    } catch {
      json = undefined;
    }
    if (WatcherToHub.safeParse(json).success) return;
    const frame: HubToWatcher = {
      type: 'error',
      code: 'bad_message',
      message: 'watchers only send {"type":"ping"}; node events flow from the hub',
    };
    ws.send(JSON.stringify(frame));
  }

  /** Node `nodeId` joined, changed or left: tell the watchers, coalesced and throttled. */
  #touch(nodeId: string): void {
    if (!this.ctx.getWebSockets(WATCHER).length) return;
    this.#changed.add(nodeId);
    if (this.#watchTimer) return;
    const wait = Math.max(0, this.#lastWatchFrame + WATCH_THROTTLE_MS - Date.now());
    this.#watchTimer = setTimeout(() => this.#flushWatchers(), wait);
  }

  #flushWatchers(): void {
    this.#watchTimer = undefined;
    this.#lastWatchFrame = Date.now();
    const ids = [...this.#changed];
    this.#changed.clear();
    const watchers = this.ctx.getWebSockets(WATCHER);
    if (!ids.length || !watchers.length) return;
    const current = this.#infoByNode();
    const changed = ids.flatMap((id) => current.get(id) ?? []);
    const gone = ids.filter((id) => !current.has(id));
    const frames: HubToWatcher[] = [];
    for (let i = 0; i === 0 || i < changed.length; i += NODES_PER_FRAME) {
      frames.push({
        type: 'nodes.updated',
        nodes: changed.slice(i, i + NODES_PER_FRAME),
        gone: i === 0 ? gone : [],
        at: this.#lastWatchFrame,
      });
    }
    broadcast(
      watchers,
      frames.map((f) => JSON.stringify(f)),
    );
  }

  /** A relay came, went or moved: every other node gets its new list of relays. */
  #relaysChanged(except: WebSocket): void {
    for (const [ws, s] of this.#sessions()) {
      if (ws === except || !s.nodeId) continue;
      send(ws, { type: 'mesh.peers', peers: this.#peers.relaysFor(s.nodeId) });
    }
  }
}

/** The blobs a lease needs: the job's code and the tasks' `ipfs://` inputs. */
function blobsOf(job: AvailableJob, tasks: { input: unknown }[]): string[] {
  const cids = job.codeCid ? [job.codeCid] : [];
  for (const { input } of tasks) {
    if (typeof input === 'string' && input.startsWith(IPFS_PREFIX))
      cids.push(input.slice(IPFS_PREFIX.length));
  }
  return cids;
}
