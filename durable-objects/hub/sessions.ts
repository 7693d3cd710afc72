import type {
  NodeInfo,
  NodeKind,
  NodeLocation,
  NodeReputation,
  Runtime,
  RuntimeFingerprint,
} from '../../protocol/index.ts';
import { migrate } from '../migrations.ts';
import type { Voter } from '../rpc.ts';
import { FrameBudget, isEstablished, leaseWindow } from './admission.ts';

/** Socket tag of compute nodes (`/mesh/connect`). */
export const NODE_TAG = 'node';

/** What a node said in its hello, as the hub keeps it. */
export interface NodeHello {
  nodeId: string;
  kind: NodeKind;
  name?: string;
  runtimes: Runtime[];
  capacity: number;
  version: string;
  fingerprint?: RuntimeFingerprint;
  peerId: string;
  /** The wallet its accepted work is credited to (a verified link, lowercase). */
  owner?: string;
}

/**
 * What survives hibernation of one node socket, as its attachment (at most 2 KiB): where it came
 * from, what it said, and the work it asked for and has not got. What it holds is in SQLite
 * (`held`), which has no size limit.
 */
export interface NodeAttachment {
  connectedAt: number;
  /** The host the node dialed: hello proofs and wallet links must be for it. */
  host: string;
  location: NodeLocation;
  /** The node id the Worker routed this socket by (`?node=`): the hello must name it. */
  routedAs: string;
  hello?: NodeHello;
  credit: number;
}

/** One node socket, in memory: its attachment, the leases it holds, its budget and window. */
export class Session {
  readonly ws: WebSocket;
  a: NodeAttachment;
  /** Leases it holds: lease id → job id. */
  readonly held = new Map<string, string>();
  /** How many of them per job. */
  readonly byJob = new Map<string, number>();
  lastSeenAt: number;
  readonly budget: FrameBudget;
  /** How many leases it may hold (from its standing; see `leaseWindow`). */
  window = 1;
  /** Its lost leases count against their tasks (see `isEstablished`). */
  established = false;
  /** Agreements of its answers with accepted results since its last mismatch (verification). */
  streak = 0;
  /** The key of its peer id, imported once for all its batches of receipts. */
  key: CryptoKey | undefined;
  /** Closed or closing: no longer dispatched to or listed. */
  closing = false;

  constructor(ws: WebSocket, a: NodeAttachment, now: number) {
    this.ws = ws;
    this.a = a;
    this.lastSeenAt = now;
    this.budget = new FrameBudget(now);
  }

  get nodeId(): string | undefined {
    return this.a.hello?.nodeId;
  }

  /** Tasks it may be leased now: what it asked for, within its window. */
  get spare(): number {
    return this.a.hello ? Math.max(0, Math.min(this.a.credit, this.window - this.held.size)) : 0;
  }

  save(): void {
    this.ws.serializeAttachment(this.a);
  }

  setStanding(r: NodeReputation): void {
    this.window = leaseWindow(r);
    this.established = isEstablished(r);
    this.streak = r.streak ?? 0;
  }

  /** Who it votes as in verified jobs: its wallet when linked (one vote for all its nodes), else its key. */
  get voter(): Voter {
    const h = this.a.hello!;
    const voter: Voter = {
      identity: h.owner ? `wallet:${h.owner}` : `peer:${h.peerId}`,
      peerId: h.peerId,
      streak: this.streak,
    };
    if (h.owner) voter.wallet = h.owner;
    if (h.fingerprint) voter.fingerprintClass = h.fingerprint.class;
    return voter;
  }

  /** `NodeInfo` for `GET /nodes` and the node map (without the peer registry's parts). */
  info(reputation: number): NodeInfo | undefined {
    const h = this.a.hello;
    if (!h) return undefined;
    const info: NodeInfo = {
      nodeId: h.nodeId,
      kind: h.kind,
      runtimes: h.runtimes,
      capacity: h.capacity,
      running: this.held.size,
      connectedAt: this.a.connectedAt,
      lastSeenAt: this.lastSeenAt,
      location: this.a.location,
      peerId: h.peerId,
      reputation,
    };
    if (h.name) info.name = h.name;
    if (h.fingerprint) info.fingerprint = h.fingerprint;
    if (h.owner) info.owner = h.owner;
    return info;
  }
}

/**
 * The hub's node sockets, in memory, rebuilt from the sockets' attachments and the `held` table
 * when the object wakes from hibernation. One session per node id: a node that connects again
 * takes over its leases from its previous socket, which is closed.
 */
export class Sessions {
  readonly #ctx: DurableObjectState;
  readonly #byWs = new Map<WebSocket, Session>();
  readonly #byNode = new Map<string, Session>();

  constructor(ctx: DurableObjectState, now: number) {
    this.#ctx = ctx;
    migrate(ctx.storage, 'held', [
      (sql) =>
        sql.exec(`
          CREATE TABLE held (lease_id TEXT PRIMARY KEY, node_id TEXT NOT NULL, job_id TEXT NOT NULL);
          CREATE INDEX held_by_node ON held (node_id);
        `),
    ]);
    for (const ws of ctx.getWebSockets(NODE_TAG)) {
      const a = ws.deserializeAttachment() as NodeAttachment | null;
      if (!a || ws.readyState !== WebSocket.OPEN) continue;
      const session = new Session(ws, a, now);
      this.#byWs.set(ws, session);
      if (a.hello) this.#byNode.set(a.hello.nodeId, session);
    }
    for (const row of ctx.storage.sql
      .exec<{ lease_id: string; node_id: string; job_id: string }>(
        'SELECT lease_id, node_id, job_id FROM held',
      )
      .toArray()) {
      const session = this.#byNode.get(row.node_id);
      if (session) addHeld(session, row.lease_id, row.job_id);
    }
    // Leases of nodes that are gone (closed while the object was away) are the rooms' to expire.
    ctx.storage.sql.exec(
      'DELETE FROM held WHERE node_id NOT IN (SELECT value FROM json_each(?))',
      JSON.stringify([...this.#byNode.keys()]),
    );
  }

  /** A new socket. */
  add(ws: WebSocket, a: NodeAttachment, now: number): Session {
    const session = new Session(ws, a, now);
    this.#byWs.set(ws, session);
    return session;
  }

  get(ws: WebSocket): Session | undefined {
    return this.#byWs.get(ws);
  }

  byNode(nodeId: string): Session | undefined {
    const s = this.#byNode.get(nodeId);
    return s && !s.closing ? s : undefined;
  }

  /**
   * The session said hello as `nodeId`: it becomes that node's session. A previous session of
   * the same node (a reconnect whose old socket has not closed yet) hands it its leases and is
   * returned, for the caller to close.
   */
  bind(session: Session, nodeId: string): Session | undefined {
    const previous = this.#byNode.get(nodeId);
    this.#byNode.set(nodeId, session);
    if (!previous || previous === session) return undefined;
    for (const [leaseId, jobId] of previous.held) addHeld(session, leaseId, jobId);
    previous.held.clear();
    previous.byJob.clear();
    previous.closing = true;
    return previous;
  }

  /** The socket closed. Returns its session when it was its node's current one. */
  remove(ws: WebSocket): Session | undefined {
    const session = this.#byWs.get(ws);
    this.#byWs.delete(ws);
    if (!session) return undefined;
    session.closing = true;
    const nodeId = session.nodeId;
    if (!nodeId || this.#byNode.get(nodeId) !== session) return undefined;
    this.#byNode.delete(nodeId);
    this.#ctx.storage.sql.exec('DELETE FROM held WHERE node_id = ?', nodeId);
    return session;
  }

  /** Open sessions that said hello. */
  *nodes(): Generator<Session> {
    for (const s of this.#byNode.values()) if (!s.closing) yield s;
  }

  /** Open sockets that have not said hello, oldest first. */
  *unintroduced(): Generator<Session> {
    for (const s of this.#byWs.values()) if (!s.a.hello && !s.closing) yield s;
  }

  get size(): number {
    return this.#byNode.size;
  }

  /** `session` was leased these. */
  hold(session: Session, leases: { leaseId: string; jobId: string }[]): void {
    if (!leases.length || !session.nodeId) return;
    for (const l of leases) addHeld(session, l.leaseId, l.jobId);
    this.#ctx.storage.sql.exec(
      `INSERT OR REPLACE INTO held (lease_id, node_id, job_id)
       SELECT value ->> 0, ?, value ->> 1 FROM json_each(?)`,
      session.nodeId,
      JSON.stringify(leases.map((l) => [l.leaseId, l.jobId])),
    );
  }

  /** These leases of `session` ended (results, returns, expiry, revocation). */
  release(session: Session, leaseIds: Iterable<string>): void {
    const ids: string[] = [];
    for (const id of leaseIds) {
      const jobId = session.held.get(id);
      if (jobId === undefined) continue;
      session.held.delete(id);
      const left = (session.byJob.get(jobId) ?? 1) - 1;
      if (left > 0) session.byJob.set(jobId, left);
      else session.byJob.delete(jobId);
      ids.push(id);
    }
    if (ids.length) {
      this.#ctx.storage.sql.exec(
        'DELETE FROM held WHERE lease_id IN (SELECT value FROM json_each(?))',
        JSON.stringify(ids),
      );
    }
  }
}

function addHeld(session: Session, leaseId: string, jobId: string): void {
  if (session.held.has(leaseId)) return;
  session.held.set(leaseId, jobId);
  session.byJob.set(jobId, (session.byJob.get(jobId) ?? 0) + 1);
}
