import type {
  Groth16Proof,
  JobState,
  JobStatus,
  JsonValue,
  ResultsPage,
  TaskBrief,
  TaskCounts,
  TaskError,
  TaskReceipt,
  TaskResult,
  TaskState,
  TaskVerification,
} from '../../protocol/index.ts';
import { comparedWithinClass } from '../../protocol/verification.ts';
import type { JobInit } from '../rpc.ts';

/** What a room keeps of its job (the `meta` row). */
export interface JobMeta extends Omit<JobInit, 'inputs'> {
  total: number;
  state: JobState;
  createdAt: number;
  finishedAt?: number;
  /** Anchoring of the finished job: `due` until its leaf is in its outbox shard's queue. */
  anchor?: 'due' | 'queued';
  /** The outbox shard the job's leaf was queued in, and the version (`finishedAt`) queued. */
  anchorShard?: number;
  anchorVersion?: number;
}

export const emptyCounts = (): TaskCounts => ({
  pending: 0,
  leased: 0,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
});

/** The job's status, as `GET /jobs/:id` and snapshots show it. */
export function statusOf(m: JobMeta, counts: TaskCounts): JobStatus {
  const status: JobStatus = {
    id: m.id,
    owner: m.owner,
    state: m.state,
    runtime: m.runtime,
    codeCid: m.codeCid,
    total: m.total,
    counts: { ...counts },
    timeoutMs: m.timeoutMs,
    maxAttempts: m.maxAttempts,
    memoryMb: m.memoryMb,
    verification: m.policy,
    createdAt: m.createdAt,
  };
  if (m.label !== undefined) status.label = m.label;
  if (m.finishedAt !== undefined) status.finishedAt = m.finishedAt;
  return status;
}

interface ResultRow {
  idx: number;
  state: TaskState;
  attempts: number;
  drops: number;
  node_id: string | null;
  output: string | null;
  error: string | null;
  logs: string | null;
  duration_ms: number | null;
  not_before: number;
  reason: string | null;
  done_seq: number | null;
  receipt: string | null;
  verification: string | null;
  class: string | null;
  proof: string | null;
  [key: string]: SqlStorageValue;
}

/**
 * A page of results. In `index` order the page starts at task index `cursor`; in `completion`
 * order it holds finished tasks in the order they finished, after completion sequence `cursor`
 * (0 for the start), and `nextCursor` continues from the last one. `waiting` is why pending tasks
 * wait, as the hubs see it.
 */
export function resultsPage(
  sql: SqlStorage,
  meta: JobMeta,
  options: { cursor: number; limit: number; waiting?: string; order: 'index' | 'completion'; now: number },
): ResultsPage {
  const { cursor, limit, now } = options;
  const byCompletion = options.order === 'completion';
  const rows = sql
    .exec<ResultRow>(
      `SELECT idx, state, attempts, drops, node_id, output, error, logs, duration_ms, not_before, reason, done_seq, receipt,
              verification, class, proof
       FROM tasks WHERE ${byCompletion ? 'done_seq > ? ORDER BY done_seq' : 'idx >= ? ORDER BY idx'} LIMIT ?`,
      cursor,
      limit,
    )
    .toArray();
  const results = rows.map((r): TaskResult => {
    const result: TaskResult = { index: r.idx, state: r.state, attempts: r.attempts };
    if (r.drops > 0) result.lost = r.drops;
    if (r.node_id) result.nodeId = r.node_id;
    if (r.output !== null) result.output = JSON.parse(r.output) as JsonValue;
    if (r.error !== null) result.error = JSON.parse(r.error) as TaskError;
    if (r.logs) result.logs = r.logs;
    if (r.duration_ms !== null) result.durationMs = r.duration_ms;
    if (r.receipt !== null) result.receipt = JSON.parse(r.receipt) as TaskReceipt;
    if (r.verification !== null) result.verification = JSON.parse(r.verification) as TaskVerification;
    if (r.proof !== null) result.proof = JSON.parse(r.proof) as Groth16Proof;
    if (r.state === 'pending') {
      result.waiting =
        r.not_before > now
          ? `back in the queue after ${r.reason ?? 'a failure'} (attempt ${r.attempts + 1} of ${meta.maxAttempts}), not before ${new Date(r.not_before).toISOString()}`
          : r.reason?.startsWith('a proof from')
            ? r.reason
            : r.reason?.startsWith('verifying')
              ? `${r.reason}: waiting for another identity${
                  // Such replicas are compared within the class of the task's first lease.
                  r.class && comparedWithinClass(meta.runtime)
                    ? ` of runtime class ${r.class} (nodes of other classes may compute floats differently)`
                    : ''
                }${options.waiting ? ` (${options.waiting})` : ''}`
              : (options.waiting ?? 'waiting for a node');
    }
    return result;
  });
  const last = rows.at(-1);
  const page: ResultsPage = { jobId: meta.id, state: meta.state, total: meta.total, results };
  if (byCompletion) page.nextCursor = last?.done_seq ?? cursor;
  else if (last && last.idx + 1 < meta.total) page.nextCursor = last.idx + 1;
  return page;
}

/**
 * Every task that has moved as `[index, state, attempts]`, for a watcher's snapshot: tasks still
 * pending with no attempt are left out (every task starts so; watchers fill them in from the
 * job's total). A new 10,000-task job's snapshot was 189 KB of them, sent while its first
 * results waited behind it.
 */
export function taskBriefs(sql: SqlStorage): TaskBrief[] {
  return sql
    .exec<{ idx: number; state: TaskState; attempts: number }>(
      "SELECT idx, state, attempts FROM tasks WHERE NOT (state = 'pending' AND attempts = 0) ORDER BY idx",
    )
    .toArray()
    .map((r): TaskBrief => [r.idx, r.state, r.attempts]);
}

/** Counts per state, from the rows. */
export function countTasks(sql: SqlStorage): TaskCounts {
  const counts = emptyCounts();
  for (const r of sql
    .exec<{ state: TaskState; n: number }>('SELECT state, COUNT(*) AS n FROM tasks GROUP BY state')
    .toArray()) {
    counts[r.state] = r.n;
  }
  return counts;
}
