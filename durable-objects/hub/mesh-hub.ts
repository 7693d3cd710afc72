import { DurableObject } from 'cloudflare:workers';
import {
  describeIssues,
  type ErrorCode,
  type HubToNode,
  type LeaseRef,
  leaseTiming,
  limits,
  type NodeInfo,
  type NodeLocation,
  NodeToHub,
  type PeerHint,
  type Runtime,
  receiptBatch,
  resultsReceiptFields,
  utf8Length,
} from '../../protocol/index.ts';
import type { DoEnv, HubSummary, MeshHubApi, ReportResult, SignedOutcome, Verdict } from '../rpc.ts';
import {
  acceptSocket,
  answerPings,
  closeSocket,
  echoClose,
  isUpgrade,
  sendJson,
  upgradeRequired,
} from '../sockets.ts';
import { allHubs, jobRoom, shardOf } from '../stubs.ts';
import { checkHello, checkLink, FrameBudget, HELLO_TIMEOUT_MS } from './admission.ts';
import { Dispatcher } from './dispatch.ts';
import { MapFeed } from './map-feed.ts';
import { NodeStandings } from './node-standings.ts';
import { PeerRegistry } from './peer-registry.ts';
import { peerKey, verifySignature } from './receipt-verifier.ts';
import { NODE_TAG, type NodeAttachment, type Session, Sessions } from './sessions.ts';
import { WalletCredits } from './wallet-credits.ts';

/** Standings are pruned at most this often. */
const PRUNE_EVERY_MS = 60 * 60_000;
/** A shard re-announces its relays to the others this often (a shard that restarted learns them again). */
const RELAYS_EVERY_MS = 60_000;

type Frame<T extends NodeToHub['type']> = Extract<NodeToHub, { type: T }>;

/**
 * Node registry and dispatch for one shard of compute nodes.
 *
 * Lifecycle of a node socket: the Worker routes `/mesh/connect?node=<id>` to the shard the node
 * id hashes to (`shardOf`); the socket must say a valid hello within `HELLO_TIMEOUT_MS`
 * (`admission.ts`: protocol, proof of key, the routed id), then asks for work with credit and
 * holds at most its lease window. Every frame is decoded with the protocol's schema and charged
 * to the socket's budget, and may name only leases (and so jobs) the socket holds: nothing a
 * node sends reaches a room it has no lease in. Results come in batches signed once; the hub
 * checks the batch signature and hands each room its part. When the socket closes, its leases go
 * back to their rooms at once.
 *
 * Parts: `Sessions` (the sockets, what each holds), `Dispatcher` (available jobs, leasing),
 * `NodeStandings` (each node's record), `PeerRegistry` (the data plane), `MapFeed` (the node
 * map's replicas), `WalletCredits` (linked nodes' work on its way to their wallets).
 */
export class MeshHub extends DurableObject<DoEnv> implements MeshHubApi {
  readonly #shard: number;
  readonly #sessions: Sessions;
  readonly #standings: NodeStandings;
  readonly #peers: PeerRegistry;
  readonly #dispatch: Dispatcher;
  readonly #map: MapFeed;
  #relaysTimer: ReturnType<typeof setTimeout> | undefined;
  #prunedAt = 0;
  #relaysAt = 0;
  readonly #credits: WalletCredits;

  constructor(ctx: DurableObjectState, env: DoEnv) {
    super(ctx, env);
    this.#shard = Number(/^hub-(\d+)$/.exec(ctx.id.name ?? '')?.[1] ?? 0);
    const now = Date.now();
    this.#sessions = new Sessions(ctx, now);
    this.#standings = new NodeStandings(ctx.storage);
    this.#peers = new PeerRegistry(ctx.storage);
    this.#dispatch = new Dispatcher(ctx, env, this.#shard, this.#sessions, this.#peers);
    this.#dispatch.onLeased = (nodeId) => this.#map.touch(nodeId);
    this.#map = new MapFeed(ctx, env, this.#shard, () => this.#infos());
    this.#credits = new WalletCredits(ctx, env, this.#shard);
    answerPings(ctx);
    const connected = new Set<string>();
    for (const s of this.#sessions.nodes()) {
      connected.add(s.nodeId!);
      s.setStanding(this.#standings.get(s.nodeId!).reputation);
    }
    this.#peers.retain(connected);
  }

  // ---- called by rooms, other shards, NodeMap replicas and the Worker --------------------------

  jobAvailable(job: { jobId: string; runtime: Runtime; codeCid: string }): void {
    this.#dispatch.add(job);
  }

  jobGone(jobId: string, revoked: { nodeId: string; leaseId: string }[], reason: string): void {
    this.#dispatch.forget(jobId);
    const byNode = Map.groupBy(revoked, (r) => r.nodeId);
    for (const s of this.#sessions.nodes()) {
      if (!s.byJob.has(jobId)) continue;
      // Whatever the room listed, the node holds nothing of a finished job any more.
      const held = [...s.held].filter(([, j]) => j === jobId).map(([leaseId]) => leaseId);
      if (!held.length) continue;
      this.#sessions.release(s, held);
      const leases = (byNode.get(s.nodeId!) ?? []).map((l) => ({ jobId, leaseId: l.leaseId }));
      if (leases.length) this.#send(s, { type: 'lease.revoked', leases, reason });
      this.#map.touch(s.nodeId!);
    }
    this.#dispatch.schedule();
  }

  summary(): HubSummary {
    const runtimes: HubSummary['runtimes'] = {};
    let nodes = 0;
    for (const s of this.#sessions.nodes()) {
      nodes++;
      for (const r of s.a.hello!.runtimes) {
        const entry = runtimes[r] ?? { nodes: 0, idle: 0 };
        runtimes[r] = entry;
        entry.nodes++;
        if (s.spare > 0) entry.idle++;
      }
    }
    return { shard: this.#shard, nodes, runtimes };
  }

  listNodes(): NodeInfo[] {
    return [...this.#infos().values()];
  }

  providers(
    cids: string[],
    asker?: { nodeId: string; since: Record<string, number> },
  ): Record<string, PeerHint[]> {
    return this.#peers.providers(cids.slice(0, 64), asker?.nodeId ?? '', Date.now(), asker?.since);
  }

  relaysChanged(shard: number, relays: PeerHint[]): void {
    if (shard === this.#shard) return;
    this.#peers.setRemoteRelays(shard, relays);
    for (const s of this.#sessions.nodes()) {
      this.#send(s, { type: 'mesh.peers', peers: this.#peers.relaysFor(s.nodeId!) });
    }
  }

  subscribeMap(replica: string, ttlMs: number): NodeInfo[] {
    return this.#map.subscribe(replica, ttlMs);
  }

  /**
   * Verification's verdicts on this shard's nodes. A node caught answering wrong starts again as
   * a new identity (its streak reset), and the results it alone decided lately are verified again.
   */
  async recordVerdicts(verdicts: Verdict[]): Promise<void> {
    const recheck: Promise<number>[] = [];
    for (const v of verdicts) {
      const caught = this.#standings.verdict(v);
      const session = this.#sessions.byNode(v.nodeId);
      if (session) {
        const standing = this.#standings.get(v.nodeId);
        session.setStanding(standing.reputation);
        this.#send(session, { type: 'node.standing', standing });
      }
      if (caught) {
        for (const [jobId, indices] of this.#standings.takeSolo(v.nodeId)) {
          recheck.push(jobRoom(this.env, jobId).reverify(v.nodeId, indices));
        }
      }
    }
    await Promise.allSettled(recheck);
  }

  // ---- sockets -----------------------------------------------------------------------------------

  /** `GET /api/v1/mesh/connect?node=<id>`, forwarded by the Worker with the node's approximate location. */
  override async fetch(request: Request): Promise<Response> {
    if (!isUpgrade(request)) return upgradeRequired();
    const url = new URL(request.url);
    const routedAs = url.searchParams.get('node') ?? '';
    // The Worker routes by the same hash, but a node id whose spelling decodes differently on the
    // way (an invalid percent-escape) could land here: a node id lives on one shard only.
    if (shardOf(this.env, routedAs) !== this.#shard) {
      return Response.json(
        {
          error: {
            code: 'bad_request',
            message: `node id ${JSON.stringify(routedAs)} does not belong to this shard`,
          },
        },
        { status: 400 },
      );
    }
    let location: NodeLocation = {};
    try {
      location = JSON.parse(request.headers.get('x-mm-location') ?? '{}') as NodeLocation;
    } catch {
      // no location is fine
    }
    const now = Date.now();
    const attachment: NodeAttachment = {
      connectedAt: now,
      // The Worker forwards the node's own request, so this is the host the node dialed.
      host: url.host,
      location,
      routedAs,
      credit: 0,
    };
    const response = acceptSocket(this.ctx, [NODE_TAG], {
      attachment,
      ready: (ws) => this.#sessions.add(ws, attachment, now),
    });
    await this.#arm(now + HELLO_TIMEOUT_MS);
    return response;
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const session = this.#sessions.get(ws);
    if (!session || session.closing) return;
    const now = Date.now();
    // In UTF-8 bytes, as sent.
    const size = typeof data === 'string' ? utf8Length(data) : data.byteLength;
    if (!session.budget.take(size, now)) {
      if (session.budget.refused >= FrameBudget.REFUSALS_BEFORE_CLOSE) {
        this.#error(session, 'rate_limited', 'too many frames: closing');
        session.closing = true;
        return this.#close(session, 1008, 'flooding');
      }
      return this.#error(
        session,
        'rate_limited',
        `frame refused: over ${FrameBudget.FRAMES_PER_SECOND} frames or ${FrameBudget.BYTES_PER_SECOND} bytes a second`,
      );
    }
    if (size > limits.maxFrameBytes) {
      return this.#error(
        session,
        'bad_message',
        `frame of ${size} bytes is over the limit of ${limits.maxFrameBytes}`,
      );
    }
    if (typeof data !== 'string') return this.#error(session, 'bad_message', 'frames must be JSON text');
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return this.#error(session, 'bad_message', 'frame is not valid JSON');
    }
    const parsed = NodeToHub.safeParse(json);
    if (!parsed.success) return this.#error(session, 'bad_message', describeIssues(parsed.error).message);
    const msg = parsed.data;
    session.lastSeenAt = now;
    try {
      if (msg.type === 'node.hello') return await this.#hello(session, msg);
      if (!session.a.hello) return this.#error(session, 'bad_message', 'send node.hello first');
      switch (msg.type) {
        case 'node.mesh':
          return this.#mesh(session, msg);
        case 'node.owner':
          return await this.#owner(session, msg);
        case 'lease.request':
          session.a.credit = Math.min(session.a.credit + msg.credit, limits.maxHeldLeases);
          session.save();
          this.#dispatch.schedule();
          return;
        case 'node.heartbeat':
          return await this.#heartbeat(session, msg);
        case 'lease.return':
          return await this.#return(session, msg);
        case 'task.results':
          return await this.#results(session, msg);
      }
    } catch (err) {
      // A failure behind a frame (a room unreachable, say) is reported, never a dropped socket:
      // the node keeps its leases and the rooms' alarms settle whatever was not recorded.
      console.error(`hub ${this.#shard}: ${msg.type} failed`, err);
      this.#error(session, 'internal', `the hub could not process ${msg.type}: ${(err as Error).message}`);
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    await this.#dropped(ws, `node disconnected (${code}${reason ? ` ${reason}` : ''})`);
    echoClose(ws, code);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.#dropped(ws, 'node connection failed');
  }

  /** Close sockets that said no hello in time; prune standings; re-announce relays. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const s of this.#sessions.unintroduced()) {
      const due = s.a.connectedAt + HELLO_TIMEOUT_MS;
      if (due <= now) {
        this.#error(s, 'bad_message', `no valid node.hello within ${HELLO_TIMEOUT_MS / 1000} s: closing`);
        this.#close(s, 1008, 'no hello');
      } else {
        next = Math.min(next, due);
      }
    }
    if (now - this.#prunedAt >= PRUNE_EVERY_MS) {
      this.#prunedAt = now;
      this.#standings.prune(new Set([...this.#sessions.nodes()].map((s) => s.nodeId!)), now);
    }
    if (this.#peers.localRelays().length && now - this.#relaysAt >= RELAYS_EVERY_MS) this.#announceRelays();
    if (this.#sessions.size) next = Math.min(next, now + Math.min(PRUNE_EVERY_MS, RELAYS_EVERY_MS));
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(next);
  }

  // ---- frames ------------------------------------------------------------------------------------

  async #hello(session: Session, msg: Frame<'node.hello'>): Promise<void> {
    if (session.a.hello)
      return this.#error(session, 'bad_message', 'node.hello was said already on this connection');
    const checked = await checkHello(msg, {
      host: session.a.host,
      routedAs: session.a.routedAs,
      now: Date.now(),
    });
    if ('refused' in checked) {
      this.#error(session, 'bad_message', checked.refused.message);
      return this.#close(session, 1008, checked.refused.closeReason);
    }
    const key = await peerKey(msg.peerId);
    // The socket may have closed while the proof and link were checked: it must not be registered now.
    if (session.closing || session.ws.readyState !== WebSocket.OPEN || key instanceof Error) return;
    // No await from here to the binding: two hellos for one node id cannot both pass the check.
    const taken = this.#standings.claim(msg.nodeId, msg.peerId);
    if (taken) {
      this.#error(session, 'bad_message', taken.message);
      return this.#close(session, 1008, 'node id of another peer');
    }
    session.key = key;
    session.a.hello = {
      nodeId: msg.nodeId,
      kind: msg.kind,
      runtimes: msg.runtimes,
      capacity: msg.capacity,
      version: msg.version,
      peerId: msg.peerId,
      ...(msg.name ? { name: msg.name } : {}),
      ...(msg.fingerprint ? { fingerprint: msg.fingerprint } : {}),
      ...(checked.owner ? { owner: checked.owner } : {}),
    };
    session.save();
    const previous = this.#sessions.bind(session, msg.nodeId);
    if (previous) this.#close(previous, 4000, 'replaced by a newer connection of the same node');
    this.#standings.setOwner(msg.nodeId, checked.owner ?? null, checked.ownerError ?? null);
    const standing = this.#standings.get(msg.nodeId);
    session.setStanding(standing.reputation);
    if (msg.multiaddrs) {
      this.#peers.join(msg.nodeId, {
        peerId: msg.peerId,
        kind: msg.kind,
        relay: msg.relay ?? false,
        multiaddrs: msg.multiaddrs,
        location: session.a.location,
      });
    }
    this.#send(session, {
      type: 'hub.welcome',
      nodeId: msg.nodeId,
      heartbeatMs: leaseTiming.heartbeatMs,
      leaseTtlMs: leaseTiming.leaseTtlMs,
      peers: this.#peers.relaysFor(msg.nodeId),
      standing,
    });
    if (msg.relay) this.#relaysChanged();
    this.#map.touch(msg.nodeId);
    await this.#arm(Date.now() + RELAYS_EVERY_MS);
  }

  #mesh(session: Session, msg: Frame<'node.mesh'>): void {
    const nodeId = session.nodeId!;
    const wasRelay = this.#peers.isRelay(nodeId);
    const applied = this.#peers.update(nodeId, msg);
    if (applied === 'no peer') {
      this.#error(session, 'bad_message', 'node.mesh needs a peer: say hello with multiaddrs first');
      return;
    }
    if (applied === 'too many holds') {
      this.#error(session, 'bad_message', 'node.mesh: announce at most 4096 blobs held; nothing was applied');
      return;
    }
    if (msg.multiaddrs && wasRelay) this.#relaysChanged();
    this.#map.touch(nodeId);
  }

  async #owner(session: Session, msg: Frame<'node.owner'>): Promise<void> {
    const hello = session.a.hello!;
    // Unlinking always works; a refused new link leaves the previous owner in place.
    const link = msg.owner ? await checkLink(msg.owner, hello.peerId, session.a.host) : {};
    if (session.closing) return;
    if (!msg.owner) delete hello.owner;
    else if (link.owner) hello.owner = link.owner;
    session.save();
    this.#standings.setOwner(hello.nodeId, hello.owner ?? null, link.ownerError ?? null);
    this.#send(session, { type: 'node.standing', standing: this.#standings.get(hello.nodeId) });
    this.#map.touch(hello.nodeId);
  }

  /** Leases of the frame that the node holds, by job; the others are counted, never passed on. */
  #heldOnly(session: Session, leases: LeaseRef[]): { byJob: Map<string, string[]>; foreign: LeaseRef[] } {
    const byJob = new Map<string, string[]>();
    const foreign: LeaseRef[] = [];
    for (const l of leases) {
      if (session.held.get(l.leaseId) !== l.jobId) {
        foreign.push(l);
        continue;
      }
      const list = byJob.get(l.jobId);
      if (list) list.push(l.leaseId);
      else byJob.set(l.jobId, [l.leaseId]);
    }
    return { byJob, foreign };
  }

  async #heartbeat(session: Session, msg: Frame<'node.heartbeat'>): Promise<void> {
    const { byJob, foreign } = this.#heldOnly(session, msg.leases);
    // Typically leases from before a reconnect, released when the old socket closed: the node
    // drops them (their tasks run elsewhere). Nothing reaches a room.
    if (foreign.length) {
      this.#send(session, {
        type: 'lease.revoked',
        leases: foreign,
        reason:
          'lease is not held by this connection (released when a previous one closed, or never leased to it)',
      });
    }
    const gone = (
      await Promise.all(
        [...byJob].map(async ([jobId, ids]) =>
          (
            await jobRoom(this.env, jobId).extend(session.nodeId!, ids)
          ).gone.map((leaseId) => ({ jobId, leaseId })),
        ),
      )
    ).flat();
    if (!gone.length) return;
    // A lease the node let lapse (past its deadline, or expired for want of heartbeats) counts
    // against it as lost, like one dropped with its socket: its window shrinks.
    this.#standings.count(session.nodeId!, { lost: gone.length });
    this.#sessions.release(
      session,
      gone.map((g) => g.leaseId),
    );
    this.#send(session, {
      type: 'lease.revoked',
      leases: gone,
      reason: 'lease expired or reached its deadline; the task runs elsewhere',
    });
    this.#map.touch(session.nodeId!);
    this.#dispatch.schedule();
  }

  async #return(session: Session, msg: Frame<'lease.return'>): Promise<void> {
    const { byJob, foreign } = this.#heldOnly(session, msg.leases);
    if (foreign.length)
      this.#error(
        session,
        'bad_message',
        `${foreign.length} of the leases named are not held by this node; ignored`,
      );
    // No longer the node's from here: a heartbeat handled while the rooms answer does not extend
    // them (a room that has let them go would call them gone, lost against the node).
    this.#sessions.release(session, [...byJob.values()].flat());
    await Promise.all(
      [...byJob].map(([jobId, ids]) => jobRoom(this.env, jobId).returnLeases(session.nodeId!, ids)),
    );
    this.#map.touch(session.nodeId!);
    // The rooms announced their tasks again: they go to whoever has room, now.
    this.#dispatch.schedule();
  }

  async #results(session: Session, msg: Frame<'task.results'>): Promise<void> {
    const hello = session.a.hello!;
    const nodeId = hello.nodeId;
    // One signature for the whole frame, over the receipts in its order (see `receiptBatch`).
    let batch: ReturnType<typeof receiptBatch>;
    try {
      batch = receiptBatch(resultsReceiptFields(msg.results, hello.peerId, hello.fingerprint?.class));
    } catch (err) {
      // A receipt the schema let through but that names no real CID, or an index past 2^32: the
      // frame is acknowledged with every result rejected (its leases stay open), never an error
      // that would leave the node's acks out of step.
      const reason = `the frame's receipts cannot be read: ${(err as Error).message}`;
      this.#standings.count(nodeId, { rejected: msg.results.length });
      this.#send(session, {
        type: 'results.ack',
        accepted: 0,
        ignored: msg.results.map((o) => ({ jobId: o.jobId, index: o.index, reason })),
        standing: this.#standings.get(nodeId),
      });
      return;
    }
    // The key is imported at hello; after hibernation, again on the first frame.
    if (!session.key) {
      const key = await peerKey(hello.peerId);
      if (!(key instanceof Error)) session.key = key;
    }
    const signed =
      session.key !== undefined && (await verifySignature(session.key, batch.signed, msg.signature));
    const ignored: { jobId: string; index: number; reason: string }[] = [];
    const byJob = new Map<string, SignedOutcome[]>();
    let late = 0;
    let rejected = 0;
    msg.results.forEach((outcome, i) => {
      if (session.held.get(outcome.leaseId) !== outcome.jobId) {
        late++;
        ignored.push({
          jobId: outcome.jobId,
          index: outcome.index,
          reason: 'lease is not held by this node',
        });
      } else if (!signed) {
        rejected++;
        ignored.push({
          jobId: outcome.jobId,
          index: outcome.index,
          reason: `the frame's signature does not verify for peer ${hello.peerId} over these receipts`,
        });
      } else {
        const list = byJob.get(outcome.jobId) ?? [];
        list.push({ outcome, receipt: batch.receipt(i, msg.signature) });
        byJob.set(outcome.jobId, list);
      }
    });
    const jobs = [...byJob];
    const settled = await Promise.allSettled(
      jobs.map(([jobId, results]) => jobRoom(this.env, jobId).report(nodeId, results, session.voter)),
    );
    // The hub releases exactly the leases the rooms ended (a rejected result leaves its lease
    // open, a good receipt may follow; so does one for another task's index, or one its room
    // could not record), from whichever socket of the node holds them now (a reconnect may have
    // moved them while the rooms answered). The frame is counted and acknowledged even when the
    // socket is closing (a node that stops sends its last results and closes): only the ack is
    // then not sent.
    const ended: string[] = [];
    const reports: ReportResult[] = [];
    for (const [k, r] of settled.entries()) {
      if (r.status === 'fulfilled') {
        reports.push(r.value);
        this.#standings.addSolo(nodeId, jobs[k]![0], r.value.solo);
        continue;
      }
      const [jobId, results] = jobs[k]!;
      console.error(`hub ${this.#shard}: room ${jobId} could not record results`, r.reason);
      for (const { outcome } of results) {
        ignored.push({
          jobId,
          index: outcome.index,
          reason: "the job's room could not record it; send it again",
        });
      }
    }
    let accepted = 0;
    let cpuMs = 0;
    let lost = 0;
    for (const report of reports) {
      accepted += report.accepted;
      lost += report.gaveUp;
      rejected += report.rejected;
      late += report.late;
      cpuMs += report.cpuMs;
      ended.push(...report.ended);
      for (const i of report.ignored) ignored.push({ jobId: i.jobId, index: i.index, reason: i.reason });
    }
    const holder = this.#sessions.byNode(nodeId) ?? session;
    this.#sessions.release(holder, ended);
    if (holder !== session) this.#sessions.release(session, ended);
    if (!session.closing) {
      session.a.credit = Math.min(session.a.credit + msg.credit, limits.maxHeldLeases);
      session.save();
    }
    this.#standings.count(nodeId, { accepted, rejected, late, lost, cpuMs });
    const standing = this.#standings.get(nodeId);
    session.setStanding(standing.reputation);
    if (hello.owner && accepted > 0) this.#credits.add(hello.owner, nodeId, accepted, cpuMs);
    this.#map.touch(nodeId);
    this.#send(session, { type: 'results.ack', accepted, ignored, standing });
    this.#dispatch.schedule();
  }

  // ---- internals ---------------------------------------------------------------------------------

  #send(session: Session, message: HubToNode): void {
    if (!session.closing) sendJson(session.ws, message);
  }

  #error(session: Session, code: ErrorCode, message: string): void {
    this.#send(session, { type: 'error', code, message });
  }

  #close(session: Session, code: number, reason: string): void {
    closeSocket(session.ws, code, reason);
  }

  /** The socket is gone: its leases go back to their rooms now, counted against it as lost. */
  async #dropped(ws: WebSocket, reason: string): Promise<void> {
    const session = this.#sessions.remove(ws);
    if (!session) return;
    const nodeId = session.nodeId!;
    const jobs = [...session.byJob.keys()];
    session.held.clear();
    session.byJob.clear();
    const wasRelay = this.#peers.isRelay(nodeId);
    this.#peers.leave(nodeId);
    if (wasRelay) this.#relaysChanged();
    this.#map.touch(nodeId);
    const released = await Promise.all(
      jobs.map((jobId) => jobRoom(this.env, jobId).releaseNode(nodeId, reason)),
    );
    this.#standings.count(nodeId, { lost: released.reduce((a, n) => a + n, 0) });
    this.#dispatch.schedule();
  }

  /** The latest info per connected node. */
  #infos(): Map<string, NodeInfo> {
    const out = new Map<string, NodeInfo>();
    for (const s of this.#sessions.nodes()) {
      const info = s.info(this.#standings.score(s.nodeId!));
      if (!info) continue;
      const peer = this.#peers.describe(info.nodeId);
      if (peer) {
        info.multiaddrs = peer.multiaddrs;
        info.relay = peer.relay;
        info.holds = this.#peers.holdCount(info.nodeId);
        info.peers = peer.peers;
      }
      out.set(info.nodeId, info);
    }
    return out;
  }

  /** A relay here came, went or moved: this shard's nodes get their new lists now, other shards soon. */
  #relaysChanged(): void {
    for (const s of this.#sessions.nodes()) {
      this.#send(s, { type: 'mesh.peers', peers: this.#peers.relaysFor(s.nodeId!) });
    }
    // Coalesced: a burst of relays joining is one announcement to the other shards.
    this.#relaysTimer ??= setTimeout(() => {
      this.#relaysTimer = undefined;
      this.#announceRelays();
    }, 500);
  }

  #announceRelays(): void {
    this.#relaysAt = Date.now();
    const relays = this.#peers.localRelays();
    for (const [shard, hub] of allHubs(this.env).entries()) {
      if (shard === this.#shard) continue;
      this.ctx.waitUntil(
        hub
          .relaysChanged(this.#shard, relays)
          .catch((err: unknown) => console.error('hub: relay announcement failed', err)),
      );
    }
  }

  async #arm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }
}
