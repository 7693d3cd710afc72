import {
  comparedWithinClass,
  jobDefaults,
  type LeasedTask,
  leaseTiming,
  limits,
  needsQuorum,
  type TaskUpdate,
} from '../../protocol/index.ts';
import type { LeaseRequest } from '../rpc.ts';
import type { TaskLedger } from './ledger.ts';
import { PROVEN_LEASE_BATCH } from './proofs.ts';
import { knownAnswerRate } from './quorum.ts';
import type { JobMeta } from './views.ts';
import { knownTasks, trustedWith } from './votes.ts';

/**
 * Lease runnable tasks to each of the nodes asking, in order, up to each one's `max`, inside the
 * room's transaction. A verified job never leases a task to an identity that has answered it, and
 * puts known-answer checks in some slots; a lease counts as an attempt only for an established
 * node (`LeaseRequest.established`). Returns each request's leases and the tasks' updates.
 */
export function leaseTasks(
  t: TaskLedger,
  meta: JobMeta,
  requests: LeaseRequest[],
  now: number,
): { leases: LeasedTask[][]; updates: TaskUpdate[]; expiresAt: number } {
  const sql = t.sql;
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
      if (k) known = knownTasks(t, meta, k, request.voter.identity, cls);
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
        tasks.map((task) => [task.leaseId, task.index, task.attempt, knownIdx.has(task.index) ? 1 : 0]),
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
      t.move('pending', 'leased', rows.length);
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
  return { leases, updates, expiresAt };
}
