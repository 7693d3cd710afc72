import {
  limits,
  needsQuorum,
  retryableErrors,
  type TaskError,
  type TaskState,
  type TaskUpdate,
  utf8Length,
} from '../../protocol/index.ts';
import type { ReportResult, SignedOutcome, Voter } from '../rpc.ts';
import {
  type Ballot,
  bySize,
  type LeaseRow,
  type TaskLedger,
  type TaskRow,
  terminal,
  truncateLogs,
} from './ledger.ts';
import type { ClaimCheck } from './receipts.ts';
import type { JobMeta } from './views.ts';
import {
  checkKnown,
  directVerification,
  provenVerification,
  rejectProof,
  trustedWith,
  vote,
} from './votes.ts';

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

/** One results frame of one node, its receipts (and proofs) already checked outside the transaction. */
export interface Frame {
  meta: JobMeta;
  nodeId: string;
  voter: Voter;
  results: SignedOutcome[];
  /** `checkClaims`' answer for each result. */
  checks: ClaimCheck[];
  /** A proven job's proof problem for each result (undefined: the proof holds). */
  proofs: (string | undefined)[] | undefined;
  now: number;
}

/**
 * Settle a frame's results inside the room's transaction: only a result for a lease the node holds
 * now counts, with a receipt that says what the room knows; the rest are ignored in `out`, each
 * with its reason. A success settles its task, or is one vote of a verified job; a failure the
 * node calls its own goes back to the queue; another failure is final (or a vote). Returns the
 * tasks' updates and what the votes add up to.
 */
export function settleFrame(
  t: TaskLedger,
  { meta, nodeId, voter, results, checks, proofs, now }: Frame,
  out: ReportResult,
): { updates: TaskUpdate[]; ballot: Ballot } {
  const sql = t.sql;
  const updates: TaskUpdate[] = [];
  // A node of the owner's own wallet is trusted with the owner's jobs under `trust`; an explicit
  // `redundancy: r` asks for r identities, the owner's one of them; `redundancy: 1` trusts anyone.
  const trusted = trustedWith(meta, voter);
  const direct = trusted || !needsQuorum(meta.policy);
  const ballot: Ballot = { verdicts: new Map(), announce: false };
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
      check.problem ?? (receipt.attempt === lease.seq ? undefined : 'receipt is for another lease number');
    if (problem) {
      // Its lease, but not a receipt that says what we know: it stays leased (a good
      // receipt may follow, else the lease expires).
      out.rejected++;
      ignore(problem, true);
      continue;
    }
    if (lease.known) {
      // A known-answer check: the task stays as it was; the answer only tells on the node.
      checkKnown(t, meta, lease, o.ok ? receipt.outputHash : `error:${o.error.kind}`, o, ballot, out);
      continue;
    }
    const extra = {
      logs: truncateLogs(o.logs),
      durationMs: o.durationMs,
      receipt: JSON.stringify(receipt),
      nodeId,
    };
    /** The task succeeds on this result: its row is written with the frame's others, at the end. */
    const succeed = (verification: string, proof: string | null): void => {
      succeeded.push([
        o.index,
        check.json,
        extra.logs,
        extra.durationMs,
        extra.receipt,
        t.nextDone(),
        lease.lease_id,
        verification,
        proof,
      ]);
      settled.set(o.index, 'succeeded');
      out.ended.push(lease.lease_id);
      t.move('leased', 'succeeded');
      updates.push({
        index: o.index,
        state: 'succeeded',
        attempt: task.attempts + 1,
        nodeId,
        durationMs: o.durationMs,
      });
    };
    if (proofs && o.ok) {
      // A proven job: the proof decides, whatever the policy.
      const problem = proofs[i];
      if (problem) {
        out.rejected++;
        ignore(problem, true);
        out.ended.push(lease.lease_id);
        const update = rejectProof(t, task, lease, voter, nodeId, problem, extra, now, ballot);
        settled.set(o.index, update.state);
        updates.push(update);
        continue;
      }
      // Accepted, but not an agreement: a proof shows the node ran this circuit, not that its
      // unproven answers elsewhere are honest, so it earns no credibility (which a node could
      // otherwise farm by proving trivial circuits of its own and spend on others' JS jobs).
      out.accepted++;
      out.cpuMs += Math.min(o.durationMs, meta.timeoutMs);
      succeed(
        provenVerification(t, meta, task.idx, voter, nodeId, receipt.outputHash, extra.receipt),
        JSON.stringify(o.proof),
      );
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
      const update = vote(t, meta, task, lease, voter, nodeId, {
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
        : directVerification(
            meta,
            trusted,
            voter,
            nodeId,
            error ? `error:${error.kind}` : receipt.outputHash,
          );
    if (!error) {
      succeed(verification!, null);
    } else if (retryableErrors.has(error.kind)) {
      // The node could not run it (its own fault, by its own word): a lost lease, not work done.
      out.gaveUp++;
      const update = t.requeue(task, lease, error, now, meta.maxAttempts, extra);
      settled.set(o.index, update.state);
      out.ended.push(lease.lease_id);
      updates.push(update);
    } else {
      settled.set(o.index, 'failed');
      out.ended.push(lease.lease_id);
      sql.exec('DELETE FROM leases WHERE lease_id = ?', lease.lease_id);
      updates.push(t.fail(task, error, { ...extra, verification: verification! }));
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
  return { updates, ballot };
}
