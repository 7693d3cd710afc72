import { DurableObject } from 'cloudflare:workers';
import { bytesToHex } from 'viem';
import { type TaskLeaf, taskLeafHash } from '../../protocol/anchor.ts';
import {
  type JobState,
  type JobStatus,
  leaseTiming,
  MeshError,
  type ResultsPage,
  type RoomToWatcher,
  type TaskState,
  type TaskUpdate,
  WatcherToRoom,
} from '../../protocol/index.ts';
import type {
  CancelResult,
  DoEnv,
  ExtendResult,
  JobInit,
  JobRoomApi,
  LeaseRequest,
  LeaseResult,
  ReportResult,
  SignedOutcome,
  Verdict,
  Voter,
} from '../rpc.ts';
import {
  acceptSocket,
  answerPings,
  broadcast,
  echoClose,
  isUpgrade,
  sendJson,
  upgradeRequired,
} from '../sockets.ts';
import { account, allHubs, anchorShardOf, meshHub, outboxShard, shardOf } from '../stubs.ts';
import { type JobAnchor, jobAnchor } from './anchor.ts';
import { leaseTasks } from './leasing.ts';
import { bySize, type LeaseRow, TaskLedger, type TaskRow } from './ledger.ts';
import { ProofChecker } from './proofs.ts';
import { credibility } from './quorum.ts';
import { checkClaims } from './receipts.ts';
import { settleFrame } from './report.ts';
import { hasRoom, migrateRoom } from './schema.ts';
import { emptyCounts, type JobMeta, resultsPage, statusOf, taskBriefs } from './views.ts';

/**
 * While tasks are runnable, the alarm fires at least this often and announces them again: a hub
 * shard writes its list of jobs a moment after it changes, so one that restarted meanwhile may
 * have lost a new job (shorter than a lease's life, so leasing needs no earlier alarm).
 */
const ANNOUNCE_AGAIN_MS = 15_000;
const ANNOUNCE_AGAIN_MAX_MS = 10 * 60_000;
/**
 * One job: its spec, one SQLite row per task, the leases out, results, and watchers.
 *
 * Lifecycle: `init` stores the tasks and tells every hub shard there is work. A hub calls `lease`
 * for its nodes with room to spare, `report` with their results (whose batch signature it has
 * checked), `extend` for their heartbeats and `releaseNode` when one goes away. A result counts
 * only for a lease the node holds now, with a receipt that says what the room knows. A lease lives
 * `leaseTtlMs` unless extended, and never past its deadline (`timeoutMs` plus a grace); the alarm
 * ends the others. A lost lease goes back to the queue; it counts as an attempt only when its node
 * was established (`LeaseRequest.established`), so no number of fresh identities can use a task's
 * attempts up by leasing and dropping it. Every change is broadcast to the watchers
 * (hibernatable WebSockets), who first get a snapshot.
 */
export class JobRoom extends DurableObject<DoEnv> implements JobRoomApi {
  #meta: JobMeta | undefined;
  /** The task rows, with their counts per state mirrored in memory. */
  readonly #t: TaskLedger;
  /** Whether this room has its tables: a job was stored here. */
  #tables: boolean;
  #alarmAt: number | undefined;
  /** A proven job's proof checker, with its key decoded once. */
  #proofs: ProofChecker | undefined;
  /**
   * How long after now the alarm announces pending tasks again: ANNOUNCE_AGAIN_MS, doubling at
   * each such announcement up to ANNOUNCE_AGAIN_MAX_MS (a job nobody can run does not keep its
   * room awake), back to the start when the job is re-opened.
   */
  #announceAgainMs = ANNOUNCE_AGAIN_MS;
  /** Submissions with `wait` waiting for the job to finish (`#settled`). */
  readonly #settleWaiters = new Set<() => void>();

  constructor(ctx: DurableObjectState, env: DoEnv) {
    super(ctx, env);
    // A room is created by any request naming its id; only `init` gives it tables, so reading an
    // id that names no job (`GET /jobs/<made-up id>`) stores nothing.
    this.#tables = hasRoom(ctx.storage.sql);
    if (this.#tables) migrateRoom(ctx.storage);
    this.#t = new TaskLedger(ctx.storage);
    answerPings(ctx);
  }

  // ---- creation -------------------------------------------------------------------------------

  /**
   * Store the job and its tasks (one statement), add it to the owner's list, tell the hubs; with
   * `wait.ms` (`POST /jobs?wait=`), answer once the job finished or that long passed.
   */
  async init(
    init: JobInit,
    wait: { ms: number; limit: number } = { ms: 0, limit: 0 },
  ): Promise<{ status: JobStatus; page?: ResultsPage }> {
    if (this.#load()) throw new Error(`job ${init.id} already exists`);
    if (!this.#tables) {
      migrateRoom(this.ctx.storage);
      this.#tables = true;
    }
    const { inputs, ...rest } = init;
    const meta: JobMeta = { ...rest, total: inputs.length, state: 'running', createdAt: Date.now() };
    const sql = this.ctx.storage.sql;
    this.#t.transact(() => {
      sql.exec('INSERT INTO meta (k, v) VALUES (?, ?)', 'job', JSON.stringify(meta));
      // The inputs are JSON texts; json_each hands each string back as that text. In chunks
      // under SQLite's 2 MB limit on one string.
      let at = 0;
      for (const chunk of bySize(inputs, (input) => input.length)) {
        sql.exec(
          `INSERT INTO tasks (idx, state, input) SELECT key + ?, 'pending', value FROM json_each(?)`,
          at,
          JSON.stringify(chunk),
        );
        at += chunk.length;
      }
    });
    this.#meta = meta;
    this.#t.counts = { ...emptyCounts(), pending: inputs.length };
    const status = this.#status();
    await Promise.all([
      this.#rearm(),
      this.#announce(),
      account(this.env, meta.owner).addJob({
        id: meta.id,
        runtime: meta.runtime,
        total: meta.total,
        state: meta.state,
        createdAt: meta.createdAt,
        ...(meta.label === undefined ? {} : { label: meta.label }),
      }),
    ]);
    return wait.ms > 0 ? (await this.#settled(wait.ms, wait.limit))! : { status };
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** Status with per-state counts, or null when no job lives here. */
  status(): JobStatus | null {
    return this.#load() ? this.#status() : null;
  }

  /** The status once the job finished or `waitMs` passed, with the first `limit` results when finished. */
  async #settled(waitMs: number, limit: number): Promise<{ status: JobStatus; page?: ResultsPage } | null> {
    const meta = this.#load();
    if (!meta) return null;
    if (meta.state === 'running' && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#settleWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        this.#settleWaiters.add(done);
      });
    }
    const status = this.#status();
    return status.state === 'running' ? { status } : { status, page: this.results(0, limit)! };
  }

  results(
    cursor: number,
    limit: number,
    waiting?: string,
    order: 'index' | 'completion' = 'index',
  ): ResultsPage | null {
    const meta = this.#load();
    if (!meta) return null;
    return resultsPage(this.ctx.storage.sql, meta, {
      cursor,
      limit,
      order,
      now: Date.now(),
      ...(waiting === undefined ? {} : { waiting }),
    });
  }

  // ---- dispatch (called by the hubs) --------------------------------------------------------------

  /** Lease runnable tasks to each of the nodes asking, in order, up to each one's `max`. */
  async lease(requests: LeaseRequest[]): Promise<LeaseResult> {
    const meta = this.#load();
    if (meta?.state !== 'running') return { leases: requests.map(() => []), more: false };
    const now = Date.now();
    let leased!: ReturnType<typeof leaseTasks>;
    this.#t.transact(() => {
      leased = leaseTasks(this.#t, meta, requests, now);
    });
    const { leases, updates, expiresAt } = leased;
    if (updates.length) {
      this.#broadcast({ type: 'tasks.updated', updates, counts: this.#t.counts });
      await this.#armAlarm(expiresAt);
    }
    return { leases, more: this.#runnableNow(now) };
  }

  /**
   * Accept results. Only a result for a lease the node holds now counts, and only with a receipt
   * that names what the room knows (`checkClaims`, and the lease's number); the rest are ignored,
   * each with its reason.
   */
  async report(nodeId: string, results: SignedOutcome[], voter: Voter): Promise<ReportResult> {
    const meta = this.#load();
    const out: ReportResult = {
      accepted: 0,
      rejected: 0,
      late: 0,
      gaveUp: 0,
      ended: [],
      cpuMs: 0,
      ignored: [],
      solo: [],
    };
    if (!meta) {
      out.late = results.length;
      out.ignored = results.map(({ outcome: o }) => ({
        jobId: o.jobId,
        index: o.index,
        leaseId: o.leaseId,
        reason: 'unknown job',
        rejected: false,
      }));
      return out;
    }
    const sql = this.ctx.storage.sql;
    const inputs = new Map(
      sql
        .exec<{ idx: number; input: string }>(
          'SELECT idx, input FROM tasks WHERE idx IN (SELECT value FROM json_each(?))',
          JSON.stringify(results.map((r) => r.outcome.index)),
        )
        .toArray()
        .map((r) => [r.idx, r.input]),
    );
    // Hashing is asynchronous, so it comes first; the transaction then checks each lease, which
    // may have changed meanwhile.
    const checks = await checkClaims(meta, results, inputs);
    // A proven job's proofs are checked here too (CPU only, about 30 ms each), outside the
    // transaction; only results that pass their receipt check are worth it.
    let proofs: (string | undefined)[] | undefined;
    if (meta.circuit) {
      this.#proofs ??= new ProofChecker(meta.circuit);
      const checker = this.#proofs;
      proofs = results.map(({ outcome }, i) =>
        checks[i]!.problem ? undefined : checker.check(outcome, inputs.get(outcome.index)),
      );
    }
    let settled!: ReturnType<typeof settleFrame>;
    this.#t.transact(() => {
      settled = settleFrame(this.#t, { meta, nodeId, voter, results, checks, proofs, now: Date.now() }, out);
    });
    const { updates, ballot } = settled;
    if (updates.length) this.#broadcast({ type: 'tasks.updated', updates, counts: this.#t.counts });
    await Promise.all([
      this.#afterChange(updates),
      ballot.announce && this.#meta!.state === 'running' ? this.#announce() : undefined,
      this.#sendVerdicts(ballot.verdicts),
    ]);
    return out;
  }

  /** Heartbeat: extend the leases `nodeId` still holds, up to each one's deadline. */
  async extend(nodeId: string, leaseIds: string[]): Promise<ExtendResult> {
    if (!this.#load() || leaseIds.length === 0) return { extended: 0, gone: leaseIds };
    const now = Date.now();
    const expiresAt = now + leaseTiming.leaseTtlMs;
    const held = this.ctx.storage.sql
      .exec<{ lease_id: string }>(
        `UPDATE leases SET expires_at = MIN(deadline, ?)
         WHERE node_id = ? AND deadline > ? AND lease_id IN (SELECT value FROM json_each(?))
         RETURNING lease_id`,
        expiresAt,
        nodeId,
        now,
        JSON.stringify(leaseIds),
      )
      .toArray();
    const live = new Set(held.map((r) => r.lease_id));
    if (live.size) await this.#armAlarm(expiresAt);
    return { extended: live.size, gone: leaseIds.filter((id) => !live.has(id)) };
  }

  /** A node went away: what it held goes back in the queue now rather than at lease expiry. */
  async releaseNode(nodeId: string, reason: string): Promise<number> {
    if (this.#load()?.state !== 'running') return 0;
    const leases = this.ctx.storage.sql
      .exec<LeaseRow>(
        'SELECT lease_id, idx, node_id, seq, deadline, counted, known FROM leases WHERE node_id = ?',
        nodeId,
      )
      .toArray();
    await this.#expire(leases, reason);
    return leases.length;
  }

  /**
   * The node gives back leases it has not started (it paused): their tasks are pending again at
   * once, without a backoff and without counting as an attempt or a loss. Only leases `nodeId`
   * holds now are taken back. Returns how many went back.
   */
  async returnLeases(nodeId: string, leaseIds: string[]): Promise<number> {
    const meta = this.#load();
    if (meta?.state !== 'running' || leaseIds.length === 0) return 0;
    const sql = this.ctx.storage.sql;
    const updates: TaskUpdate[] = [];
    this.#t.transact(() => {
      const gone = sql
        .exec<{ idx: number; known: number }>(
          `DELETE FROM leases WHERE node_id = ? AND lease_id IN (SELECT value FROM json_each(?)) RETURNING idx, known`,
          nodeId,
          JSON.stringify(leaseIds),
        )
        .toArray()
        .filter((g) => !g.known);
      if (!gone.length) return;
      const rows = sql
        .exec<{ idx: number; attempts: number }>(
          `UPDATE tasks SET state = 'pending', node_id = NULL, not_before = 0, reason = NULL
           WHERE idx IN (SELECT value FROM json_each(?)) AND state = 'leased' RETURNING idx, attempts`,
          JSON.stringify(gone.map((g) => g.idx)),
        )
        .toArray();
      this.#t.move('leased', 'pending', rows.length);
      for (const r of rows) {
        updates.push({
          index: r.idx,
          state: 'pending',
          attempt: r.attempts,
          reason: 'returned unstarted by its node',
        });
      }
    });
    if (!updates.length) return 0;
    this.#broadcast({ type: 'tasks.updated', updates, counts: this.#t.counts });
    await this.#announce();
    return updates.length;
  }

  /**
   * `nodeId` was caught answering wrong: results accepted on its word alone among `indices` go back
   * to the queue, its replica kept with the credibility of a new identity, so that others decide
   * them again. A job that had finished runs again. Returns how many went back.
   */
  async reverify(nodeId: string, indices: number[]): Promise<number> {
    const meta = this.#load();
    if (!meta || meta.state === 'cancelled' || !indices.length) return 0;
    const sql = this.ctx.storage.sql;
    const updates: TaskUpdate[] = [];
    const reason = 'verifying again: the node that alone answered it was caught answering wrong';
    this.#t.transact(() => {
      const rows = sql
        .exec<{ idx: number; state: TaskState; attempts: number }>(
          `SELECT idx, state, attempts FROM tasks
           WHERE idx IN (SELECT value FROM json_each(?)) AND state IN ('succeeded', 'failed')
             AND verification ->> '$.how' = 'credible' AND verification ->> '$.replicas[0].nodeId' = ?`,
          JSON.stringify(indices),
          nodeId,
        )
        .toArray();
      if (!rows.length) return;
      const list = JSON.stringify(rows.map((r) => r.idx));
      sql.exec(
        `UPDATE replicas SET credibility = ?, streak = 0 WHERE node_id = ? AND idx IN (SELECT value FROM json_each(?))`,
        credibility(0),
        nodeId,
        list,
      );
      sql.exec(
        `UPDATE tasks SET state = 'pending', output = NULL, error = NULL, verification = NULL, done_seq = NULL,
           not_before = 0, reason = ?, node_id = NULL, reverified = 1 WHERE idx IN (SELECT value FROM json_each(?))`,
        reason,
        list,
      );
      for (const r of rows) {
        this.#t.move(r.state, 'pending');
        updates.push({ index: r.idx, state: 'pending', attempt: r.attempts, reason });
      }
      if (meta.state !== 'running') {
        meta.state = 'running';
        delete meta.finishedAt;
        sql.exec(`UPDATE meta SET v = ? WHERE k = 'job'`, JSON.stringify(meta));
      }
    });
    if (!updates.length) return 0;
    this.#broadcast({ type: 'tasks.updated', updates, counts: this.#t.counts });
    this.#announceAgainMs = ANNOUNCE_AGAIN_MS;
    await Promise.all([
      this.#announce(),
      this.#rearm(),
      account(this.env, meta.owner).jobFinished(meta.id, 'running'),
    ]);
    return updates.length;
  }

  /** Cancel: every pending or leased task becomes `cancelled` and the hubs revoke the leases. */
  async cancel(): Promise<CancelResult | null> {
    const meta = this.#load();
    if (!meta) return null;
    if (meta.state !== 'running') return { status: this.#status(), revoked: [] };
    const sql = this.ctx.storage.sql;
    let revoked: CancelResult['revoked'] = [];
    const updates: TaskUpdate[] = [];
    this.#t.transact(() => {
      revoked = sql
        .exec<{ node_id: string; lease_id: string }>('DELETE FROM leases RETURNING node_id, lease_id')
        .toArray()
        .map((r) => ({ nodeId: r.node_id, leaseId: r.lease_id }));
      const base = this.#t.doneSeq;
      const rows = sql
        .exec<{ idx: number; attempts: number }>(
          `UPDATE tasks SET state = 'cancelled', done_seq = ? + idx + 1 WHERE state IN ('pending', 'leased')
           RETURNING idx, attempts`,
          base,
        )
        .toArray();
      this.#t.doneSeq = base + meta.total;
      const counts = this.#t.counts;
      counts.cancelled += counts.pending + counts.leased;
      counts.pending = 0;
      counts.leased = 0;
      for (const r of rows) updates.push({ index: r.idx, state: 'cancelled', attempt: r.attempts });
    });
    this.#broadcast({ type: 'tasks.updated', updates, counts: this.#t.counts });
    await this.#finish('cancelled', revoked);
    return { status: this.#status(), revoked };
  }

  // ---- watchers -------------------------------------------------------------------------------

  /** `GET /jobs/:id/events`, already authorized by the Worker: upgrade and send a snapshot. */
  override async fetch(request: Request): Promise<Response> {
    if (!isUpgrade(request)) return upgradeRequired();
    // The Worker names the authenticated caller: only the job's owner may watch it.
    const meta = this.#load();
    const refusal = !meta
      ? new MeshError('not_found', 'no job with this id')
      : meta.owner !== request.headers.get('x-mm-owner')
        ? new MeshError('forbidden', 'this job belongs to another wallet')
        : undefined;
    if (refusal) return Response.json(refusal.toBody(), { status: refusal.status });
    return acceptSocket(this.ctx, [], {
      ready: (ws) =>
        sendJson(ws, {
          type: 'job.snapshot',
          job: this.#status(),
          tasks: taskBriefs(this.ctx.storage.sql),
        } satisfies RoomToWatcher),
    });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Pings are answered by the auto-response without waking us; anything else is a mistake.
    let parsed: unknown;
    try {
      parsed = typeof message === 'string' ? JSON.parse(message) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!WatcherToRoom.safeParse(parsed).success) {
      sendJson(ws, {
        type: 'error',
        code: 'bad_message',
        message: 'watchers only send {"type":"ping"}; events flow from the server',
      } satisfies RoomToWatcher);
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    echoClose(ws, code);
  }

  // ---- alarms: lease expiry and retry wake-ups ----------------------------------------------------

  override async alarm(): Promise<void> {
    this.#alarmAt = undefined;
    try {
      const meta = this.#load();
      if (meta && meta.state !== 'running' && meta.anchor === 'due') await this.#queueAnchor(meta);
      if (meta?.state !== 'running') return;
      const now = Date.now();
      const expired = this.ctx.storage.sql
        .exec<LeaseRow>(
          'SELECT lease_id, idx, node_id, seq, deadline, counted, known FROM leases WHERE expires_at <= ?',
          now,
        )
        .toArray();
      if (expired.length) await this.#expire(expired, 'lease expired');
      // Tasks whose backoff just ended are runnable again, or a shard may have lost the job: tell
      // the hubs (and wait longer before the next time).
      if (this.#meta?.state === 'running' && this.#runnableNow(Date.now())) {
        this.#announceAgainMs = Math.min(ANNOUNCE_AGAIN_MAX_MS, this.#announceAgainMs * 2);
        await this.#announce();
      }
    } finally {
      await this.#rearm();
    }
  }

  // ---- anchoring ----------------------------------------------------------------------------------

  /** The finished job's leaf and task tree, kept for task proofs until the job changes. */
  #anchor: { version: number; anchor: JobAnchor } | undefined;

  #jobAnchor(meta: JobMeta): JobAnchor {
    const version = meta.finishedAt ?? 0;
    if (this.#anchor?.version !== version) {
      this.#anchor = { version, anchor: jobAnchor(this.ctx.storage.sql, meta) };
    }
    return this.#anchor.anchor;
  }

  /** Hand the finished job's leaf to its outbox shard; on failure, try again in 30 s. */
  async #queueAnchor(meta: JobMeta): Promise<void> {
    try {
      const version = meta.finishedAt!;
      const { leaf } = this.#jobAnchor(meta);
      const shard = meta.anchorShard ?? anchorShardOf(this.env, meta.id);
      await outboxShard(this.env, shard).enqueue({ jobId: meta.id, version, leaf });
      meta.anchorShard = shard;
      meta.anchorVersion = version;
      // Finished again while this was on its way (verified again): that version is still due.
      if (meta.finishedAt === version && meta.state !== 'running') meta.anchor = 'queued';
      this.ctx.storage.sql.exec(`UPDATE meta SET v = ? WHERE k = 'job'`, JSON.stringify(meta));
    } catch (error) {
      console.error(`job ${meta.id}: queueing for anchoring failed, retrying in 30 s:`, error);
      await this.ctx.storage.setAlarm(Date.now() + 30_000);
    }
  }

  /** Where the finished job's leaf was queued (its outbox shard, the version), or null: not yet. */
  anchorState(): { shard: number; version: number; finishedAt: number | undefined } | null {
    const meta = this.#load();
    if (!meta || meta.anchorShard === undefined || meta.anchorVersion === undefined) return null;
    return { shard: meta.anchorShard, version: meta.anchorVersion, finishedAt: meta.finishedAt };
  }

  /**
   * Task `index`'s leaf and its path to the finished job's tasks root, with that root; null when
   * no job lives here, the job is still running, or there is no such task.
   */
  taskProof(index: number): { leaf: TaskLeaf; leafHash: string; proof: string[]; tasksRoot: string } | null {
    const meta = this.#load();
    if (!meta || meta.state === 'running' || !Number.isInteger(index) || index < 0 || index >= meta.total) {
      return null;
    }
    const anchor = this.#jobAnchor(meta);
    const leaf = anchor.tasks[index]!;
    return {
      leaf,
      leafHash: bytesToHex(taskLeafHash(leaf)),
      proof: anchor.tree.proof(index),
      tasksRoot: anchor.tree.root,
    };
  }

  // ---- internals --------------------------------------------------------------------------------

  #load(): JobMeta | undefined {
    if (this.#meta) return this.#meta;
    if (!this.#tables) return undefined;
    const sql = this.ctx.storage.sql;
    const row = sql.exec<{ v: string }>(`SELECT v FROM meta WHERE k = 'job'`).toArray()[0];
    if (!row) return undefined;
    this.#meta = JSON.parse(row.v) as JobMeta;
    // Jobs stored before verification took their nodes' word.
    this.#meta.policy ??= { kind: 'fixed', redundancy: 1 };
    this.#t.load();
    return this.#meta;
  }

  #status(): JobStatus {
    return statusOf(this.#meta!, this.#t.counts);
  }

  #runnableNow(now: number): boolean {
    if (this.#meta?.state !== 'running' || !this.#t.counts.pending) return false;
    return (
      this.ctx.storage.sql
        .exec(`SELECT 1 FROM tasks WHERE state = 'pending' AND not_before <= ? LIMIT 1`, now)
        .toArray().length > 0
    );
  }

  /** Tell every hub shard that the job has runnable tasks. */
  async #announce(): Promise<void> {
    const m = this.#meta!;
    const job = { jobId: m.id, runtime: m.runtime, codeCid: m.codeCid };
    await Promise.all(allHubs(this.env).map((hub) => hub.jobAvailable(job)));
  }

  /** Tell each node's hub shard what verification made of its answers. */
  async #sendVerdicts(verdicts: Map<string, Verdict>): Promise<void> {
    if (!verdicts.size) return;
    const byShard = Map.groupBy(verdicts.values(), (v) => shardOf(this.env, v.nodeId));
    await Promise.all([...byShard].map(([shard, list]) => meshHub(this.env, shard).recordVerdicts(list)));
  }

  /** End these leases without a result (expired, past their deadline, node gone). */
  async #expire(leases: LeaseRow[], reason: string): Promise<void> {
    if (!leases.length) return;
    const sql = this.ctx.storage.sql;
    const now = Date.now();
    const updates: TaskUpdate[] = [];
    this.#t.transact(() => {
      for (const lease of leases) {
        const task = sql
          .exec<TaskRow>('SELECT idx, state, attempts, drops FROM tasks WHERE idx = ?', lease.idx)
          .toArray()[0];
        // A known-answer check ends without touching its task (decided, or by now another's).
        if (lease.known || task?.state !== 'leased') {
          sql.exec('DELETE FROM leases WHERE lease_id = ?', lease.lease_id);
          continue;
        }
        const why = lease.deadline <= now ? `${reason} (the lease reached its deadline)` : reason;
        updates.push(
          this.#t.requeue(task, lease, { kind: 'lease_expired', message: why }, now, this.#meta!.maxAttempts),
        );
      }
    });
    if (updates.length) this.#broadcast({ type: 'tasks.updated', updates, counts: this.#t.counts });
    await this.#afterChange(updates);
  }

  /** After results or expiries: finish the job when nothing is left, or set the next wake-up. */
  async #afterChange(updates: TaskUpdate[]): Promise<void> {
    const meta = this.#meta!;
    const c = this.#t.counts;
    if (meta.state === 'running' && c.pending === 0 && c.leased === 0) {
      await this.#finish(c.failed > 0 ? 'failed' : 'succeeded', []);
    } else if (updates.some((u) => u.state === 'pending')) {
      await this.#rearm();
    }
  }

  async #finish(state: JobState, revoked: CancelResult['revoked']): Promise<void> {
    const meta = this.#meta!;
    meta.state = state;
    meta.finishedAt = Date.now();
    meta.anchor = 'due';
    this.ctx.storage.sql.exec(`UPDATE meta SET v = ? WHERE k = 'job'`, JSON.stringify(meta));
    this.#broadcast({ type: 'job.finished', state, counts: this.#t.counts, finishedAt: meta.finishedAt });
    for (const done of [...this.#settleWaiters]) done();
    // The alarm now queues the job for anchoring (and retries until its outbox has it).
    await this.ctx.storage.setAlarm(Date.now());
    this.#alarmAt = undefined;
    // Every shard may list the job; each revokes the leases of its own nodes.
    const reason = state === 'cancelled' ? 'job cancelled' : `job ${state}`;
    const byShard = Map.groupBy(revoked, (r) => shardOf(this.env, r.nodeId));
    await Promise.all([
      ...allHubs(this.env).map((hub, shard) => hub.jobGone(meta.id, byShard.get(shard) ?? [], reason)),
      account(this.env, meta.owner).jobFinished(meta.id, state),
    ]);
  }

  /** Make sure an alarm fires by `at`. */
  async #armAlarm(at: number): Promise<void> {
    if (this.#alarmAt !== undefined && this.#alarmAt <= at) return;
    const current = await this.ctx.storage.getAlarm();
    if (current !== null && current <= at) {
      this.#alarmAt = current;
      return;
    }
    await this.ctx.storage.setAlarm(at);
    this.#alarmAt = at;
  }

  /** Set the alarm to the next lease expiry or retry time, whichever comes first. */
  async #rearm(): Promise<void> {
    if (this.#meta?.state !== 'running') return;
    const now = Date.now();
    const at = this.ctx.storage.sql
      .exec<{ at: number | null }>(
        `SELECT MIN(at) AS at FROM (
           SELECT MIN(expires_at) AS at FROM leases
           UNION ALL
           SELECT MIN(not_before) AS at FROM tasks WHERE state = 'pending' AND not_before > ?
         )`,
        now,
      )
      .one().at;
    // While tasks are pending, announce them again now and then, should a shard have lost the
    // announcement (it writes its list of jobs after a delay; see the hub's dispatch).
    const again = this.#t.counts.pending > 0 ? now + this.#announceAgainMs : undefined;
    const due = at == null ? again : again === undefined ? at : Math.min(at, again);
    if (due === undefined) return;
    const when = Math.max(due, now + 1);
    this.#alarmAt = undefined;
    await this.ctx.storage.setAlarm(when);
    this.#alarmAt = when;
  }

  #broadcast(message: RoomToWatcher): void {
    const sockets = this.ctx.getWebSockets();
    if (sockets.length) broadcast(sockets, [JSON.stringify(message)]);
  }
}
