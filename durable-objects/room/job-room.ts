import { DurableObject } from 'cloudflare:workers';
import { bytesToHex } from 'viem';
import { type TaskLeaf, taskLeafHash } from '../../protocol/anchor.ts';
import {
  comparedWithinClass,
  type JobState,
  type JobStatus,
  jobDefaults,
  type LeasedTask,
  leaseTiming,
  limits,
  MeshError,
  needsQuorum,
  type ResultsPage,
  type RoomToWatcher,
  retryableErrors,
  type TaskCounts,
  type TaskError,
  type TaskReceipt,
  type TaskState,
  type TaskUpdate,
  type TaskVerification,
  utf8Length,
  verificationDigest,
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
import { PROOF_REJECTED, PROVEN_LEASE_BATCH, ProofChecker } from './proofs.ts';
import { credibility, decide, knownAnswerRate, type Vote } from './quorum.ts';
import { checkClaims } from './receipts.ts';
import { migrateRoom } from './schema.ts';
import { countTasks, emptyCounts, type JobMeta, resultsPage, statusOf, taskBriefs } from './views.ts';

/** A lease row, as the state machine reads it. */
interface LeaseRow {
  lease_id: string;
  idx: number;
  node_id: string;
  seq: number;
  deadline: number;
  counted: number;
  /** 1 for a known-answer check (a lease of a task already decided). */
  known: number;
  [key: string]: SqlStorageValue;
}

/** A result's lease and task, as `report` reads them for a whole frame (NULLs when unknown). */
interface ReportRow {
  j: number;
  lease_id: string | null;
  idx: number | null;
  node_id: string | null;
  seq: number | null;
  deadline: number | null;
  counted: number | null;
  known: number | null;
  t_idx: number | null;
  t_state: TaskState | null;
  t_attempts: number | null;
  t_drops: number | null;
  [key: string]: SqlStorageValue;
}

/** A replica row, as a decision reads it. */
interface ReplicaRow {
  identity: string;
  node_id: string;
  peer_id: string;
  answer: string;
  credibility: number;
  streak: number;
  ok: number;
  result: string;
  logs: string | null;
  duration_ms: number | null;
  receipt: string;
  [key: string]: SqlStorageValue;
}

/** What one report's votes add up to: verdicts per node, and whether tasks went back to the queue. */
interface Ballot {
  verdicts: Map<string, Verdict>;
  announce: boolean;
}

/** The parts of a task row the state machine reads. */
interface TaskRow {
  idx: number;
  state: TaskState;
  attempts: number;
  drops: number;
  [key: string]: SqlStorageValue;
}

/** A node of the job owner's own wallet, under `trust`: its answer settles the owner's task alone. */
const trustedWith = (meta: JobMeta, voter: Voter) =>
  meta.policy.kind === 'adaptive' && voter.wallet !== undefined && voter.wallet === meta.owner.toLowerCase();

const terminal = (s: TaskState) => s === 'succeeded' || s === 'failed' || s === 'cancelled';
/**
 * While tasks are runnable, the alarm fires at least this often and announces them again: a hub
 * shard writes its list of jobs a moment after it changes, so one that restarted meanwhile may
 * have lost a new job (shorter than a lease's life, so leasing needs no earlier alarm).
 */
const ANNOUNCE_AGAIN_MS = 15_000;
const ANNOUNCE_AGAIN_MAX_MS = 10 * 60_000;
/** Backoff after a counted failure: 250 ms, doubling, at most 10 s. */
const retryBackoffMs = (attempts: number) => Math.min(250 * 2 ** Math.max(0, attempts - 1), 10_000);
/**
 * Backoff after a lease lost without counting: short, so a task that nodes keep dropping is not
 * held back, and growing, so a task that takes down every node that runs it does not loop hot.
 */
const dropBackoffMs = (drops: number) => Math.min(50 * drops, 2_000);
const truncateLogs = (logs: string) => {
  if (logs.length <= limits.maxLogBytes) return logs;
  // Never cut a surrogate pair in two (half an emoji would be stored as U+FFFD).
  const end = /[\ud800-\udbff]/.test(logs[limits.maxLogBytes - 1] ?? '')
    ? limits.maxLogBytes - 1
    : limits.maxLogBytes;
  return `${logs.slice(0, end)}…[truncated]`;
};
/** Most UTF-16 units of JSON bound into one statement: at 3 bytes each, under SQLite's 2 MB string limit. */
const MAX_BOUND_CHARS = 600_000;
/** `items` in consecutive chunks whose `size`s add up to at most MAX_BOUND_CHARS (at least one item each). */
function bySize<T>(items: T[], size: (item: T) => number): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let total = 0;
  for (const item of items) {
    const n = size(item) + 16;
    if (chunk.length && total + n > MAX_BOUND_CHARS) {
      chunks.push(chunk);
      chunk = [];
      total = 0;
    }
    chunk.push(item);
    total += n;
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}

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
  #counts: TaskCounts | undefined;
  #alarmAt: number | undefined;
  /** Order in which tasks reached a final state, for results in completion order. */
  #doneSeq = 0;
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
    migrateRoom(ctx.storage);
    answerPings(ctx);
  }

  /**
   * A SQLite transaction whose in-memory mirrors (`#counts`, `#doneSeq`) are put back when it
   * throws, so that a failed write (a string over SQLite's size limit, say) leaves no drift.
   */
  #transact(body: () => void): void {
    const counts = this.#counts && { ...this.#counts };
    const doneSeq = this.#doneSeq;
    try {
      this.ctx.storage.transactionSync(body);
    } catch (err) {
      this.#counts = counts;
      this.#doneSeq = doneSeq;
      throw err;
    }
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
    const { inputs, ...rest } = init;
    const meta: JobMeta = { ...rest, total: inputs.length, state: 'running', createdAt: Date.now() };
    const sql = this.ctx.storage.sql;
    this.#transact(() => {
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
    this.#counts = { ...emptyCounts(), pending: inputs.length };
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
    const sql = this.ctx.storage.sql;
    const now = Date.now();
    const expiresAt = now + leaseTiming.leaseTtlMs;
    const deadline = now + meta.timeoutMs + leaseTiming.deadlineGraceMs;
    const leases: LeasedTask[][] = [];
    const updates: TaskUpdate[] = [];
    // A proven job's tasks are never leased again to an identity whose proof failed: the same
    // exclusion as replicas of a verified job (but no known-answer checks: a proof needs none).
    const verified = needsQuorum(meta.policy) || meta.circuit !== undefined;
    const checked = needsQuorum(meta.policy) && meta.circuit === undefined;
    // Replicas of JS and Python are compared within one fingerprint class (floating point may
    // differ between engines): a task's first lease fixes its class. WebAssembly floats are
    // exact by the spec, so its replicas may come from any class.
    const homogeneous = comparedWithinClass(meta.runtime);
    this.#transact(() => {
      for (const request of requests) {
        // A proven job's results cost the room a pairing check each (about 25 ms of CPU), so a node
        // is leased few of its tasks at once: a frame of made-up proofs costs the room little.
        const cap = meta.circuit ? PROVEN_LEASE_BATCH : limits.maxLeaseBatch;
        const n = Math.max(0, Math.min(request.max, cap));
        // The owner's own node settles the owner's tasks under `trust` alone: whatever class
        // answered a task first, it may take it, and it is given no known-answer checks.
        const owners = trustedWith(meta, request.voter);
        const cls = homogeneous && !owners ? (request.voter.fingerprintClass ?? '') : null;
        type Row = { idx: number; input: string; attempts: number; leased: number };
        const rows =
          n === 0
            ? []
            : verified
              ? // Never a task this identity has answered already, nor one of another class.
                sql
                  .exec<Row>(
                    `SELECT idx, input, attempts, leased FROM tasks
                     WHERE state = 'pending' AND not_before <= ? AND (? IS NULL OR class IS NULL OR class = ?)
                     AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.idx = tasks.idx AND r.identity = ?)
                     ORDER BY idx LIMIT ?`,
                    now,
                    cls,
                    cls,
                    request.voter.identity,
                    n,
                  )
                  .toArray()
              : sql
                  .exec<Row>(
                    `SELECT idx, input, attempts, leased FROM tasks
                     WHERE state = 'pending' AND not_before <= ? ORDER BY idx LIMIT ?`,
                    now,
                    n,
                  )
                  .toArray();
        // Known-answer checks in some of the slots, leased like any other task.
        let known: typeof rows = [];
        if (checked && rows.length && !owners) {
          const trust = meta.policy.kind === 'adaptive' ? meta.policy.trust : jobDefaults.trust;
          const rate = knownAnswerRate(request.voter.streak, trust);
          let k = 0;
          for (let i = 0; i < rows.length; i++) if (Math.random() < rate) k++;
          if (k) known = this.#knownTasks(k, request.voter.identity, cls);
          if (known.length) rows.splice(rows.length - known.length, known.length);
        }
        const knownIdx = new Set(known.map((r) => r.idx));
        const tasks = [...rows, ...known]
          .sort((a, b) => a.idx - b.idx)
          .map(
            (row): LeasedTask => ({
              jobId: meta.id,
              index: row.idx,
              leaseId: crypto.randomUUID(),
              attempt: row.leased + 1,
              runtime: meta.runtime,
              codeCid: meta.codeCid,
              input: JSON.parse(row.input) as LeasedTask['input'],
              timeoutMs: meta.timeoutMs,
              memoryMb: meta.memoryMb,
              seed: `${meta.id}:${row.idx}`,
              clock: meta.createdAt,
              expiresAt,
              deadline,
            }),
          );
        if (tasks.length) {
          const list = JSON.stringify(
            tasks.map((t) => [t.leaseId, t.index, t.attempt, knownIdx.has(t.index) ? 1 : 0]),
          );
          sql.exec(
            `UPDATE tasks SET state = 'leased', leased = leased + 1, node_id = ?, reason = NULL,
               class = CASE WHEN ? THEN COALESCE(class, ?) ELSE class END
             WHERE idx IN (SELECT value ->> 1 FROM json_each(?) WHERE value ->> 3 = 0)`,
            request.nodeId,
            verified ? 1 : 0,
            cls,
            list,
          );
          if (knownIdx.size) {
            sql.exec(
              `UPDATE tasks SET leased = leased + 1 WHERE idx IN (SELECT value FROM json_each(?))`,
              JSON.stringify([...knownIdx]),
            );
          }
          sql.exec(
            `INSERT INTO leases (lease_id, idx, node_id, seq, leased_at, expires_at, deadline, counted, known)
             SELECT value ->> 0, value ->> 1, ?, value ->> 2, ?, ?, ?, ?, value ->> 3 FROM json_each(?)`,
            request.nodeId,
            now,
            expiresAt,
            deadline,
            request.established ? 1 : 0,
            list,
          );
          this.#move('pending', 'leased', rows.length);
          for (const row of rows) {
            updates.push({
              index: row.idx,
              state: 'leased',
              attempt: row.attempts + 1,
              nodeId: request.nodeId,
            });
          }
        }
        leases.push(tasks);
      }
    });
    if (updates.length) {
      this.#broadcast({ type: 'tasks.updated', updates, counts: this.#counts! });
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
    const now = Date.now();
    const updates: TaskUpdate[] = [];
    // A node of the owner's own wallet is trusted with the owner's jobs under `trust`; an explicit
    // `redundancy: r` asks for r identities, the owner's one of them; `redundancy: 1` trusts anyone.
    const trusted = trustedWith(meta, voter);
    const direct = trusted || !needsQuorum(meta.policy);
    const ballot: Ballot = { verdicts: new Map(), announce: false };
    this.#transact(() => {
      // Every lease and task the frame names, in one query; successes are written in two at the
      // end. (Statements cost more than rows here: four per result made this the hottest code.)
      const named = sql
        .exec<ReportRow>(
          `SELECT j.key AS j, l.lease_id, l.idx, l.node_id, l.seq, l.deadline, l.counted, l.known,
                  t.idx AS t_idx, t.state AS t_state, t.attempts AS t_attempts, t.drops AS t_drops
           FROM json_each(?) j
           LEFT JOIN leases l ON l.lease_id = j.value ->> 0
           LEFT JOIN tasks t ON t.idx = j.value ->> 1`,
          JSON.stringify(results.map(({ outcome: o }) => [o.leaseId, o.index])),
        )
        .toArray();
      const rowOf = new Map(named.map((r) => [r.j, r]));
      /** States this frame has set already (a result named twice sees the first one's effect). */
      const settled = new Map<number, TaskState>();
      /** Successes: [index, output, logs, durationMs, receipt, done_seq, lease id, verification, proof]. */
      const succeeded: [number, string, string, number, string, number, string, string, string | null][] = [];
      for (const [i, { outcome: o, receipt }] of results.entries()) {
        const check = checks[i]!;
        const row = rowOf.get(i);
        const again = row?.t_idx != null && settled.has(row.t_idx);
        const lease: LeaseRow | undefined =
          row?.lease_id != null && !again
            ? {
                lease_id: row.lease_id,
                idx: row.idx!,
                node_id: row.node_id!,
                seq: row.seq!,
                deadline: row.deadline!,
                counted: row.counted!,
                known: row.known ?? 0,
              }
            : undefined;
        const task: TaskRow | undefined =
          row?.t_idx != null
            ? {
                idx: row.t_idx,
                state: settled.get(row.t_idx) ?? row.t_state!,
                attempts: row.t_attempts!,
                drops: row.t_drops!,
              }
            : undefined;
        const ignore = (reason: string, rejected = false): void => {
          out.ignored.push({ jobId: meta.id, index: o.index, leaseId: o.leaseId, reason, rejected });
        };
        if (!task || !lease || lease.node_id !== nodeId || lease.idx !== o.index || lease.deadline <= now) {
          out.late++;
          ignore(
            !task
              ? 'unknown task'
              : terminal(task.state)
                ? `task is already ${task.state}`
                : lease && lease.deadline <= now && lease.node_id === nodeId
                  ? 'lease reached its deadline'
                  : 'lease is no longer valid',
          );
          // Not (or no longer) this node's lease to hold: the hub lets it go. A lease of the
          // node's named with another task's index stays (its task is still leased to it).
          if (!lease || lease.node_id !== nodeId || lease.deadline <= now) out.ended.push(o.leaseId);
          continue;
        }
        const problem =
          check.problem ??
          (receipt.attempt === lease.seq ? undefined : 'receipt is for another lease number');
        if (problem) {
          // Its lease, but not a receipt that says what we know: it stays leased (a good
          // receipt may follow, else the lease expires).
          out.rejected++;
          ignore(problem, true);
          continue;
        }
        if (lease.known) {
          // A known-answer check: the task stays as it was; the answer only tells on the node.
          this.#checkKnown(lease, o.ok ? receipt.outputHash : `error:${o.error.kind}`, o, ballot, out, meta);
          continue;
        }
        const extra = {
          logs: truncateLogs(o.logs),
          durationMs: o.durationMs,
          receipt: JSON.stringify(receipt),
          nodeId,
        };
        if (proofs && o.ok) {
          // A proven job: the proof decides, whatever the policy.
          const problem = proofs[i];
          if (problem) {
            out.rejected++;
            ignore(problem, true);
            out.ended.push(lease.lease_id);
            const update = this.#rejectProof(task, lease, voter, nodeId, problem, extra, now, ballot);
            settled.set(o.index, update.state);
            updates.push(update);
            continue;
          }
          // Accepted, but not an agreement: a proof shows the node ran this circuit, not that its
          // unproven answers elsewhere are honest, so it earns no credibility (which a node could
          // otherwise farm by proving trivial circuits of its own and spend on others' JS jobs).
          out.accepted++;
          out.cpuMs += Math.min(o.durationMs, meta.timeoutMs);
          succeeded.push([
            o.index,
            check.json,
            extra.logs,
            extra.durationMs,
            extra.receipt,
            ++this.#doneSeq,
            lease.lease_id,
            this.#provenVerification(task.idx, voter, nodeId, receipt.outputHash, extra.receipt),
            JSON.stringify(o.proof),
          ]);
          settled.set(o.index, 'succeeded');
          out.ended.push(lease.lease_id);
          this.#move('leased', 'succeeded');
          updates.push({
            index: o.index,
            state: 'succeeded',
            attempt: task.attempts + 1,
            nodeId,
            durationMs: o.durationMs,
          });
          continue;
        }
        let error: TaskError | undefined = o.ok ? undefined : o.error;
        const outputBytes = o.ok ? utf8Length(check.json) : 0;
        if (outputBytes > limits.maxOutputBytes) {
          error = {
            kind: 'output_invalid',
            message: `output is ${outputBytes} bytes as JSON; the limit is ${limits.maxOutputBytes}`,
          };
        }
        if (!error || !retryableErrors.has(error.kind)) {
          out.accepted++;
          out.cpuMs += Math.min(o.durationMs, meta.timeoutMs);
        }
        if (!direct && !(error && retryableErrors.has(error.kind))) {
          // A verified job: the answer is one vote; the task settles when they reach a quorum.
          const answer = error ? `error:${error.kind}` : receipt.outputHash;
          const update = this.#vote(task, lease, voter, nodeId, {
            answer,
            result: error ? JSON.stringify(error) : check.json,
            ok: !error,
            receipt: extra.receipt,
            logs: extra.logs,
            durationMs: o.durationMs,
            now,
            ballot,
            out,
          });
          settled.set(o.index, update.state);
          out.ended.push(lease.lease_id);
          updates.push(update);
          continue;
        }
        const verification =
          error && retryableErrors.has(error.kind)
            ? undefined
            : this.#directVerification(
                trusted,
                voter,
                nodeId,
                error ? `error:${error.kind}` : receipt.outputHash,
              );
        if (!error) {
          succeeded.push([
            o.index,
            check.json,
            extra.logs,
            extra.durationMs,
            extra.receipt,
            ++this.#doneSeq,
            lease.lease_id,
            verification!,
            null,
          ]);
          settled.set(o.index, 'succeeded');
          out.ended.push(lease.lease_id);
          this.#move('leased', 'succeeded');
          updates.push({
            index: o.index,
            state: 'succeeded',
            attempt: task.attempts + 1,
            nodeId,
            durationMs: o.durationMs,
          });
        } else if (retryableErrors.has(error.kind)) {
          // The node could not run it (its own fault, by its own word): a lost lease, not work done.
          out.gaveUp++;
          const update = this.#requeue(task, lease, error, now, extra);
          settled.set(o.index, update.state);
          out.ended.push(lease.lease_id);
          updates.push(update);
        } else {
          settled.set(o.index, 'failed');
          out.ended.push(lease.lease_id);
          sql.exec('DELETE FROM leases WHERE lease_id = ?', lease.lease_id);
          updates.push(this.#fail(task, error, { ...extra, verification: verification! }));
        }
      }
      if (succeeded.length) {
        sql.exec(
          'DELETE FROM leases WHERE lease_id IN (SELECT value FROM json_each(?))',
          JSON.stringify(succeeded.map((r) => r[6])),
        );
        // In chunks under SQLite's 2 MB limit on one string (a frame may carry 512 outputs).
        for (const chunk of bySize(
          succeeded,
          (r) => r[1].length + r[2].length + r[4].length + r[7].length + (r[8]?.length ?? 0),
        )) {
          sql.exec(
            `UPDATE tasks SET state = 'succeeded', attempts = attempts + 1, output = d.value ->> 1,
               logs = d.value ->> 2, duration_ms = d.value ->> 3, error = NULL, receipt = d.value ->> 4,
               node_id = ?, done_seq = d.value ->> 5, verification = d.value ->> 7, proof = d.value ->> 8
             FROM json_each(?) AS d WHERE tasks.idx = d.value ->> 0`,
            nodeId,
            JSON.stringify(chunk),
          );
        }
      }
    });
    if (updates.length) this.#broadcast({ type: 'tasks.updated', updates, counts: this.#counts! });
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
    this.#transact(() => {
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
      this.#move('leased', 'pending', rows.length);
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
    this.#broadcast({ type: 'tasks.updated', updates, counts: this.#counts! });
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
    this.#transact(() => {
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
        this.#move(r.state, 'pending');
        updates.push({ index: r.idx, state: 'pending', attempt: r.attempts, reason });
      }
      if (meta.state !== 'running') {
        meta.state = 'running';
        delete meta.finishedAt;
        sql.exec(`UPDATE meta SET v = ? WHERE k = 'job'`, JSON.stringify(meta));
      }
    });
    if (!updates.length) return 0;
    this.#broadcast({ type: 'tasks.updated', updates, counts: this.#counts! });
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
    this.#transact(() => {
      revoked = sql
        .exec<{ node_id: string; lease_id: string }>('DELETE FROM leases RETURNING node_id, lease_id')
        .toArray()
        .map((r) => ({ nodeId: r.node_id, leaseId: r.lease_id }));
      const base = this.#doneSeq;
      const rows = sql
        .exec<{ idx: number; attempts: number }>(
          `UPDATE tasks SET state = 'cancelled', done_seq = ? + idx + 1 WHERE state IN ('pending', 'leased')
           RETURNING idx, attempts`,
          base,
        )
        .toArray();
      this.#doneSeq = base + meta.total;
      const counts = this.#counts!;
      counts.cancelled += counts.pending + counts.leased;
      counts.pending = 0;
      counts.leased = 0;
      for (const r of rows) updates.push({ index: r.idx, state: 'cancelled', attempt: r.attempts });
    });
    this.#broadcast({ type: 'tasks.updated', updates, counts: this.#counts! });
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
    const sql = this.ctx.storage.sql;
    const row = sql.exec<{ v: string }>(`SELECT v FROM meta WHERE k = 'job'`).toArray()[0];
    if (!row) return undefined;
    this.#meta = JSON.parse(row.v) as JobMeta;
    // Jobs stored before verification took their nodes' word.
    this.#meta.policy ??= { kind: 'fixed', redundancy: 1 };
    this.#counts = countTasks(sql);
    this.#doneSeq = sql.exec<{ s: number | null }>('SELECT MAX(done_seq) AS s FROM tasks').one().s ?? 0;
    return this.#meta;
  }

  #status(): JobStatus {
    return statusOf(this.#meta!, this.#counts!);
  }

  #move(from: TaskState, to: TaskState, n = 1) {
    const c = this.#counts!;
    c[from] -= n;
    c[to] += n;
  }

  #runnableNow(now: number): boolean {
    if (this.#meta?.state !== 'running' || !this.#counts?.pending) return false;
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

  /**
   * A lease ended without a result that settles its task (lost, expired, or a failure the node
   * reports as its own): back to the queue. It counts as an attempt only for an established node;
   * after `maxAttempts` counted ones the task fails.
   */
  #requeue(
    task: TaskRow,
    lease: LeaseRow,
    error: TaskError,
    now: number,
    extra: { logs?: string; durationMs?: number; receipt?: string; nodeId?: string } = {},
  ): TaskUpdate {
    const sql = this.ctx.storage.sql;
    const meta = this.#meta!;
    sql.exec('DELETE FROM leases WHERE lease_id = ?', lease.lease_id);
    if (lease.counted) {
      const attempts = task.attempts + 1;
      if (attempts >= meta.maxAttempts) {
        return this.#fail(
          { ...task, attempts: attempts - 1 },
          { ...error, message: `${error.message} (gave up after ${attempts} attempts)` },
          extra,
        );
      }
      sql.exec(
        `UPDATE tasks SET state = 'pending', attempts = ?, node_id = NULL, not_before = ?, reason = ? WHERE idx = ?`,
        attempts,
        now + retryBackoffMs(attempts),
        error.message,
        task.idx,
      );
      this.#move('leased', 'pending');
      return { index: task.idx, state: 'pending', attempt: attempts, reason: error.message };
    }
    sql.exec(
      `UPDATE tasks SET state = 'pending', drops = drops + 1, node_id = NULL, not_before = ?, reason = ? WHERE idx = ?`,
      now + dropBackoffMs(task.drops + 1),
      error.message,
      task.idx,
    );
    this.#move('leased', 'pending');
    return { index: task.idx, state: 'pending', attempt: task.attempts, reason: error.message };
  }

  /** A leased task ends as failed (its own error, or attempts used up). */
  #fail(
    task: TaskRow,
    error: TaskError,
    extra: { logs?: string; durationMs?: number; receipt?: string; nodeId?: string; verification?: string },
  ): TaskUpdate {
    this.ctx.storage.sql.exec(
      `UPDATE tasks SET state = 'failed', attempts = ?, error = ?, logs = ?, duration_ms = ?, receipt = ?,
       node_id = COALESCE(?, node_id), done_seq = ?, verification = ? WHERE idx = ?`,
      task.attempts + 1,
      JSON.stringify(error),
      extra.logs ?? null,
      extra.durationMs ?? null,
      extra.receipt ?? null,
      extra.nodeId ?? null,
      ++this.#doneSeq,
      extra.verification ?? null,
      task.idx,
    );
    this.#move('leased', 'failed');
    const update: TaskUpdate = { index: task.idx, state: 'failed', attempt: task.attempts + 1, error };
    if (extra.nodeId) update.nodeId = extra.nodeId;
    return update;
  }

  /** How a result taken on one node's word was verified: trusted (the owner's wallet) or not at all. */
  #directVerification(trusted: boolean, voter: Voter, nodeId: string, answer: string): string {
    const v: Omit<TaskVerification, 'digest'> = {
      policy: this.#meta!.policy,
      how: trusted ? 'trusted' : 'unverified',
      confidence: trusted ? 1 : credibility(voter.streak),
      replicas: [
        {
          identity: voter.identity,
          nodeId,
          peerId: voter.peerId,
          answer,
          credibility: trusted ? 1 : credibility(voter.streak),
          agreed: true,
        },
      ],
    };
    if (voter.fingerprintClass) v.fingerprintClass = voter.fingerprintClass;
    return JSON.stringify({ ...v, digest: verificationDigest(v, answer) });
  }

  /**
   * One identity's answer to a task of a verified job (its lease ends here): stored as a replica,
   * then the task is decided by the job's policy (`quorum.ts`): accepted (succeeded, or failed
   * with the agreed error), back to the queue for another identity, or `inconsistent`. A second
   * answer from an identity that has answered already is refused and the task goes back.
   */
  #vote(
    task: TaskRow,
    lease: LeaseRow,
    voter: Voter,
    nodeId: string,
    a: {
      answer: string;
      result: string;
      ok: boolean;
      receipt: string;
      logs: string;
      durationMs: number;
      now: number;
      ballot: Ballot;
      out: ReportResult;
    },
  ): TaskUpdate {
    const sql = this.ctx.storage.sql;
    const meta = this.#meta!;
    sql.exec('DELETE FROM leases WHERE lease_id = ?', lease.lease_id);
    const { class: cls, reverified } = sql
      .exec<{ class: string | null; reverified: number }>(
        'SELECT class, reverified FROM tasks WHERE idx = ?',
        task.idx,
      )
      .one();
    const inserted = sql.exec(
      `INSERT INTO replicas (idx, identity, node_id, peer_id, answer, credibility, streak, trusted, ok, result,
         logs, duration_ms, receipt, fingerprint_class, at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      task.idx,
      voter.identity,
      nodeId,
      voter.peerId,
      a.answer,
      credibility(voter.streak),
      voter.streak,
      a.ok ? 1 : 0,
      a.result,
      a.logs,
      a.durationMs,
      a.receipt,
      voter.fingerprintClass ?? null,
      a.now,
    ).rowsWritten;
    const requeue = (reason: string): TaskUpdate => {
      sql.exec(
        `UPDATE tasks SET state = 'pending', node_id = NULL, not_before = 0, reason = ? WHERE idx = ?`,
        reason,
        task.idx,
      );
      this.#move('leased', 'pending');
      a.ballot.announce = true;
      return { index: task.idx, state: 'pending', attempt: task.attempts, reason };
    };
    if (!inserted) {
      // Its wallet answered this task already (through another of its nodes): one vote each.
      a.out.accepted--;
      a.out.rejected++;
      a.out.ignored.push({
        jobId: meta.id,
        index: task.idx,
        leaseId: lease.lease_id,
        reason: `a second answer from ${voter.identity}, which has answered this task already: one vote per identity`,
        rejected: true,
      });
      return requeue('verifying: waiting for another identity');
    }
    const rows = sql
      .exec<ReplicaRow>(
        `SELECT identity, node_id, peer_id, answer, credibility, streak, ok, result, logs, duration_ms, receipt
         FROM replicas WHERE idx = ? AND answer != '${PROOF_REJECTED}' ORDER BY rowid`,
        task.idx,
      )
      .toArray();
    const votes: Vote[] = rows.map((r) => ({
      identity: r.identity,
      answer: r.answer,
      credibility: r.credibility,
      streak: r.streak,
      trusted: false,
    }));
    const decision = decide(meta.policy, votes, Math.random);
    if (decision.kind === 'more') return requeue(decision.reason);
    const accepted = decision.kind === 'accept' ? decision.answer : undefined;
    const conf = decision.kind === 'accept' ? decision.confidence : 0;
    const v: Omit<TaskVerification, 'digest'> = {
      policy: meta.policy,
      how: decision.kind === 'accept' ? decision.how : 'inconsistent',
      confidence: conf,
      replicas: rows.map((r) => ({
        identity: r.identity,
        nodeId: r.node_id,
        peerId: r.peer_id,
        answer: r.answer,
        credibility: r.credibility,
        ...(accepted === undefined ? {} : { agreed: r.answer === accepted }),
        receipt: JSON.parse(r.receipt) as TaskReceipt,
      })),
    };
    if (cls) v.fingerprintClass = cls;
    // A spot check: the first answer was credible alone, and another identity checked it.
    if (meta.policy.kind === 'adaptive' && rows.length > 1 && rows[0]!.credibility >= meta.policy.trust) {
      v.spotCheck = true;
    }
    if (reverified) v.reverified = true;
    const verification = JSON.stringify({ ...v, digest: verificationDigest(v, accepted) });
    if (accepted === undefined) {
      const answers = [...Map.groupBy(rows, (r) => r.answer)]
        .map(([answer, by]) => `${answer} from ${by.map((r) => r.identity).join(', ')}`)
        .join('; ');
      const message = `replicas never agreed (${decision.kind === 'inconsistent' ? decision.reason : ''}): ${answers}`;
      return this.#fail(
        task,
        { kind: 'inconsistent', message: message.length > 4000 ? `${message.slice(0, 4000)}…` : message },
        { verification },
      );
    }
    for (const r of rows) {
      const verdict = a.ballot.verdicts.get(r.node_id) ?? { nodeId: r.node_id, agreed: 0, disagreed: 0 };
      if (r.answer === accepted) verdict.agreed++;
      else verdict.disagreed++;
      a.ballot.verdicts.set(r.node_id, verdict);
    }
    // Verdicts count only checks by others: a lone credible answer proves nothing of its node.
    if (rows.length === 1) a.ballot.verdicts.delete(rows[0]!.node_id);
    if (decision.kind === 'accept' && decision.how === 'credible') a.out.solo.push(task.idx);
    const rep =
      rows.find((r) => r.answer === accepted && r.node_id === nodeId) ??
      rows.find((r) => r.answer === accepted)!;
    const extra = {
      logs: rep.logs ?? '',
      durationMs: rep.duration_ms ?? 0,
      receipt: rep.receipt,
      nodeId: rep.node_id,
      verification,
    };
    if (!rep.ok) return this.#fail(task, JSON.parse(rep.result) as TaskError, extra);
    sql.exec(
      `UPDATE tasks SET state = 'succeeded', attempts = attempts + 1, output = ?, logs = ?, duration_ms = ?,
         error = NULL, receipt = ?, node_id = ?, done_seq = ?, verification = ? WHERE idx = ?`,
      rep.result,
      extra.logs,
      extra.durationMs,
      rep.receipt,
      rep.node_id,
      ++this.#doneSeq,
      verification,
      task.idx,
    );
    this.#move('leased', 'succeeded');
    return {
      index: task.idx,
      state: 'succeeded',
      attempt: task.attempts + 1,
      nodeId: rep.node_id,
      durationMs: extra.durationMs,
    };
  }

  /**
   * A proven job's result whose proof failed (or was missing, or was about another input): the
   * node's claim is false. It is kept as a replica with the answer `proof-rejected` (so the same
   * identity is never leased the task again, and the task's record shows it), its node is told on
   * (a disagreement, as a wrong answer would be), and the task goes back to the queue for another
   * identity without spending an attempt: nothing the task did failed.
   */
  #rejectProof(
    task: TaskRow,
    lease: LeaseRow,
    voter: Voter,
    nodeId: string,
    problem: string,
    extra: { logs: string; durationMs: number; receipt: string },
    now: number,
    ballot: Ballot,
  ): TaskUpdate {
    const sql = this.ctx.storage.sql;
    sql.exec('DELETE FROM leases WHERE lease_id = ?', lease.lease_id);
    sql.exec(
      `INSERT INTO replicas (idx, identity, node_id, peer_id, answer, credibility, streak, trusted, ok, result,
         logs, duration_ms, receipt, fingerprint_class, at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      task.idx,
      voter.identity,
      nodeId,
      voter.peerId,
      PROOF_REJECTED,
      credibility(voter.streak),
      voter.streak,
      JSON.stringify({ problem }),
      extra.logs,
      extra.durationMs,
      extra.receipt,
      voter.fingerprintClass ?? null,
      now,
    );
    const reason = `a proof from ${voter.identity} was rejected (${problem.slice(0, 200)}); waiting for another node to prove it`;
    sql.exec(
      `UPDATE tasks SET state = 'pending', node_id = NULL, not_before = 0, reason = ? WHERE idx = ?`,
      reason,
      task.idx,
    );
    this.#move('leased', 'pending');
    ballot.announce = true;
    const verdict = ballot.verdicts.get(nodeId) ?? { nodeId, agreed: 0, disagreed: 0 };
    verdict.disagreed++;
    ballot.verdicts.set(nodeId, verdict);
    return { index: task.idx, state: 'pending', attempt: task.attempts, reason };
  }

  /**
   * The record of a task accepted on its valid proof, with the answers that came before it and
   * lost (proofs that failed, and failures claimed by other nodes, which a proof disproves).
   */
  #provenVerification(idx: number, voter: Voter, nodeId: string, answer: string, receipt: string): string {
    const rejected = this.ctx.storage.sql
      .exec<ReplicaRow>(
        `SELECT identity, node_id, peer_id, answer, credibility, receipt FROM replicas
         WHERE idx = ? ORDER BY rowid`,
        idx,
      )
      .toArray();
    const v: Omit<TaskVerification, 'digest'> = {
      policy: this.#meta!.policy,
      how: 'proven',
      confidence: 1,
      replicas: [
        ...rejected.map((r) => ({
          identity: r.identity,
          nodeId: r.node_id,
          peerId: r.peer_id,
          answer: r.answer,
          credibility: r.credibility,
          agreed: false,
          receipt: JSON.parse(r.receipt) as TaskReceipt,
        })),
        {
          identity: voter.identity,
          nodeId,
          peerId: voter.peerId,
          answer,
          credibility: credibility(voter.streak),
          agreed: true,
          receipt: JSON.parse(receipt) as TaskReceipt,
        },
      ],
    };
    return JSON.stringify({ ...v, digest: verificationDigest(v, answer) });
  }

  /**
   * A node's answer to a known-answer check: compared with the answer its task was accepted with
   * (by replicas of distinct identities), it passes or fails the check; the task is unchanged. A
   * failure the node reports as its own (`node_error`) is only a lost lease. The ack is the same
   * either way, so that the node cannot learn which of its tasks were checks.
   */
  #checkKnown(
    lease: LeaseRow,
    answer: string,
    o: SignedOutcome['outcome'],
    ballot: Ballot,
    out: ReportResult,
    meta: JobMeta,
  ): void {
    const sql = this.ctx.storage.sql;
    sql.exec('DELETE FROM leases WHERE lease_id = ?', lease.lease_id);
    out.ended.push(lease.lease_id);
    if (!o.ok && retryableErrors.has(o.error.kind)) {
      out.gaveUp++;
      return;
    }
    out.accepted++;
    out.cpuMs += Math.min(o.durationMs, meta.timeoutMs);
    const row = sql
      .exec<{ v: string | null }>('SELECT verification AS v FROM tasks WHERE idx = ?', lease.idx)
      .one();
    const known = row.v
      ? (JSON.parse(row.v) as TaskVerification).replicas.find((r) => r.agreed)?.answer
      : undefined;
    if (known === undefined) return;
    const verdict = ballot.verdicts.get(lease.node_id) ?? { nodeId: lease.node_id, agreed: 0, disagreed: 0 };
    if (answer === known) {
      verdict.agreed++;
      verdict.knownPassed = (verdict.knownPassed ?? 0) + 1;
    } else {
      verdict.disagreed++;
      verdict.knownFailed = (verdict.knownFailed ?? 0) + 1;
    }
    ballot.verdicts.set(lease.node_id, verdict);
  }

  /**
   * Up to `n` tasks already decided by replicas of distinct identities that `identity` has not
   * answered (of fingerprint class `cls` when given), from a random place in the job: the
   * known-answer checks of a lease.
   */
  #knownTasks(n: number, identity: string, cls: string | null) {
    const sql = this.ctx.storage.sql;
    const pick = (from: number) =>
      sql
        .exec<{ idx: number; input: string; attempts: number; leased: number }>(
          `SELECT idx, input, attempts, leased FROM tasks
           WHERE idx >= ? AND state = 'succeeded' AND verification ->> '$.how' = 'quorum'
             AND (? IS NULL OR class = ?)
             AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.idx = tasks.idx AND r.identity = ?)
           ORDER BY idx LIMIT ?`,
          from,
          cls,
          cls,
          identity,
          n,
        )
        .toArray();
    const start = Math.floor(Math.random() * this.#meta!.total);
    const found = pick(start);
    return found.length < n && start > 0
      ? [...found, ...pick(0).filter((r) => r.idx < start)].slice(0, n)
      : found;
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
    this.#transact(() => {
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
        updates.push(this.#requeue(task, lease, { kind: 'lease_expired', message: why }, now));
      }
    });
    if (updates.length) this.#broadcast({ type: 'tasks.updated', updates, counts: this.#counts! });
    await this.#afterChange(updates);
  }

  /** After results or expiries: finish the job when nothing is left, or set the next wake-up. */
  async #afterChange(updates: TaskUpdate[]): Promise<void> {
    const meta = this.#meta!;
    const c = this.#counts!;
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
    this.#broadcast({ type: 'job.finished', state, counts: this.#counts!, finishedAt: meta.finishedAt });
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
    const again = this.#counts!.pending > 0 ? now + this.#announceAgainMs : undefined;
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
