import {
  limits,
  type TaskCounts,
  type TaskError,
  type TaskState,
  type TaskUpdate,
} from '../../protocol/index.ts';
import type { Verdict } from '../rpc.ts';
import { countTasks, emptyCounts } from './views.ts';

/** A lease row, as the state machine reads it. */
export interface LeaseRow {
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

/** The parts of a task row the state machine reads. */
export interface TaskRow {
  idx: number;
  state: TaskState;
  attempts: number;
  drops: number;
  [key: string]: SqlStorageValue;
}

/** What one report's votes add up to: verdicts per node, and whether tasks went back to the queue. */
export interface Ballot {
  verdicts: Map<string, Verdict>;
  announce: boolean;
}

/** What a task's final row takes besides its state: all optional (a lease that never reported has none). */
export interface Outcome {
  logs?: string;
  durationMs?: number;
  receipt?: string;
  nodeId?: string;
  verification?: string;
}

export const terminal = (s: TaskState) => s === 'succeeded' || s === 'failed' || s === 'cancelled';
/** Backoff after a counted failure: 250 ms, doubling, at most 10 s. */
const retryBackoffMs = (attempts: number) => Math.min(250 * 2 ** Math.max(0, attempts - 1), 10_000);
/**
 * Backoff after a lease lost without counting: short, so a task that nodes keep dropping is not
 * held back, and growing, so a task that takes down every node that runs it does not loop hot.
 */
const dropBackoffMs = (drops: number) => Math.min(50 * drops, 2_000);

export const truncateLogs = (logs: string) => {
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
export function bySize<T>(items: T[], size: (item: T) => number): T[][] {
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
 * A room's task rows and the two figures it mirrors in memory: the count per state (every status
 * and event carries it) and the last completion number (results in completion order). Every
 * change of a task's state goes through here, so the mirrors follow the rows; `transact` puts
 * them back when a transaction throws.
 */
export class TaskLedger {
  counts: TaskCounts = emptyCounts();
  /** Order in which tasks reached a final state, for results in completion order. */
  doneSeq = 0;
  readonly sql: SqlStorage;
  readonly #storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.sql = storage.sql;
  }

  /** Read the mirrors from the rows (a room waking with a job). */
  load(): void {
    this.counts = countTasks(this.sql);
    this.doneSeq = this.sql.exec<{ s: number | null }>('SELECT MAX(done_seq) AS s FROM tasks').one().s ?? 0;
  }

  /**
   * A SQLite transaction whose in-memory mirrors are put back when it throws, so that a failed
   * write (a string over SQLite's size limit, say) leaves no drift.
   */
  transact(body: () => void): void {
    const counts = { ...this.counts };
    const doneSeq = this.doneSeq;
    try {
      this.#storage.transactionSync(body);
    } catch (err) {
      this.counts = counts;
      this.doneSeq = doneSeq;
      throw err;
    }
  }

  move(from: TaskState, to: TaskState, n = 1): void {
    this.counts[from] -= n;
    this.counts[to] += n;
  }

  /** The next completion number. */
  nextDone(): number {
    return ++this.doneSeq;
  }

  /**
   * A lease ended without a result that settles its task (lost, expired, or a failure the node
   * reports as its own): back to the queue. It counts as an attempt only for an established node;
   * after `maxAttempts` counted ones the task fails.
   */
  requeue(
    task: TaskRow,
    lease: LeaseRow,
    error: TaskError,
    now: number,
    maxAttempts: number,
    extra: Outcome = {},
  ): TaskUpdate {
    const sql = this.sql;
    sql.exec('DELETE FROM leases WHERE lease_id = ?', lease.lease_id);
    if (lease.counted) {
      const attempts = task.attempts + 1;
      if (attempts >= maxAttempts) {
        return this.fail(
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
      this.move('leased', 'pending');
      return { index: task.idx, state: 'pending', attempt: attempts, reason: error.message };
    }
    sql.exec(
      `UPDATE tasks SET state = 'pending', drops = drops + 1, node_id = NULL, not_before = ?, reason = ? WHERE idx = ?`,
      now + dropBackoffMs(task.drops + 1),
      error.message,
      task.idx,
    );
    this.move('leased', 'pending');
    return { index: task.idx, state: 'pending', attempt: task.attempts, reason: error.message };
  }

  /** A leased task back to the queue at once, with no backoff and no attempt spent (waiting for another answer). */
  reopen(task: TaskRow, reason: string): TaskUpdate {
    this.sql.exec(
      `UPDATE tasks SET state = 'pending', node_id = NULL, not_before = 0, reason = ? WHERE idx = ?`,
      reason,
      task.idx,
    );
    this.move('leased', 'pending');
    return { index: task.idx, state: 'pending', attempt: task.attempts, reason };
  }

  /** A leased task ends as failed (its own error, or attempts used up). */
  fail(task: TaskRow, error: TaskError, extra: Outcome): TaskUpdate {
    this.sql.exec(
      `UPDATE tasks SET state = 'failed', attempts = ?, error = ?, logs = ?, duration_ms = ?, receipt = ?,
       node_id = COALESCE(?, node_id), done_seq = ?, verification = ? WHERE idx = ?`,
      task.attempts + 1,
      JSON.stringify(error),
      extra.logs ?? null,
      extra.durationMs ?? null,
      extra.receipt ?? null,
      extra.nodeId ?? null,
      this.nextDone(),
      extra.verification ?? null,
      task.idx,
    );
    this.move('leased', 'failed');
    const update: TaskUpdate = { index: task.idx, state: 'failed', attempt: task.attempts + 1, error };
    if (extra.nodeId) update.nodeId = extra.nodeId;
    return update;
  }
}
