import {
  retryableErrors,
  type TaskError,
  type TaskReceipt,
  type TaskUpdate,
  type TaskVerification,
  verificationDigest,
} from '../../protocol/index.ts';
import type { ReportResult, SignedOutcome, Voter } from '../rpc.ts';
import type { Ballot, LeaseRow, TaskLedger, TaskRow } from './ledger.ts';
import { PROOF_REJECTED } from './proofs.ts';
import { credibility, decide, type Vote } from './quorum.ts';
import type { JobMeta } from './views.ts';

/**
 * Verification in the room: how a task's answers become its verification record. One node's word
 * (`directVerification`), votes of a verified job decided by its policy (`vote`, with `quorum.ts`),
 * proofs (`rejectProof`, `provenVerification`) and known-answer checks (`knownTasks`, `checkKnown`).
 * Each runs inside the room's transaction, on its ledger.
 */

/** A node of the job owner's own wallet, under `trust`: its answer settles the owner's task alone. */
export const trustedWith = (meta: JobMeta, voter: Voter) =>
  meta.policy.kind === 'adaptive' && voter.wallet !== undefined && voter.wallet === meta.owner.toLowerCase();

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

/** How a result taken on one node's word was verified: trusted (the owner's wallet) or not at all. */
export function directVerification(
  meta: JobMeta,
  trusted: boolean,
  voter: Voter,
  nodeId: string,
  answer: string,
): string {
  const v: Omit<TaskVerification, 'digest'> = {
    policy: meta.policy,
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
export function vote(
  t: TaskLedger,
  meta: JobMeta,
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
  const sql = t.sql;
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
    a.ballot.announce = true;
    return t.reopen(task, reason);
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
    return t.fail(
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
  if (!rep.ok) return t.fail(task, JSON.parse(rep.result) as TaskError, extra);
  sql.exec(
    `UPDATE tasks SET state = 'succeeded', attempts = attempts + 1, output = ?, logs = ?, duration_ms = ?,
       error = NULL, receipt = ?, node_id = ?, done_seq = ?, verification = ? WHERE idx = ?`,
    rep.result,
    extra.logs,
    extra.durationMs,
    rep.receipt,
    rep.node_id,
    t.nextDone(),
    verification,
    task.idx,
  );
  t.move('leased', 'succeeded');
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
export function rejectProof(
  t: TaskLedger,
  task: TaskRow,
  lease: LeaseRow,
  voter: Voter,
  nodeId: string,
  problem: string,
  extra: { logs: string; durationMs: number; receipt: string },
  now: number,
  ballot: Ballot,
): TaskUpdate {
  const sql = t.sql;
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
  ballot.announce = true;
  const verdict = ballot.verdicts.get(nodeId) ?? { nodeId, agreed: 0, disagreed: 0 };
  verdict.disagreed++;
  ballot.verdicts.set(nodeId, verdict);
  return t.reopen(task, reason);
}

/**
 * The record of a task accepted on its valid proof, with the answers that came before it and
 * lost (proofs that failed, and failures claimed by other nodes, which a proof disproves).
 */
export function provenVerification(
  t: TaskLedger,
  meta: JobMeta,
  idx: number,
  voter: Voter,
  nodeId: string,
  answer: string,
  receipt: string,
): string {
  const rejected = t.sql
    .exec<ReplicaRow>(
      `SELECT identity, node_id, peer_id, answer, credibility, receipt FROM replicas
       WHERE idx = ? ORDER BY rowid`,
      idx,
    )
    .toArray();
  const v: Omit<TaskVerification, 'digest'> = {
    policy: meta.policy,
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
export function checkKnown(
  t: TaskLedger,
  meta: JobMeta,
  lease: LeaseRow,
  answer: string,
  o: SignedOutcome['outcome'],
  ballot: Ballot,
  out: ReportResult,
): void {
  const sql = t.sql;
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
export function knownTasks(t: TaskLedger, meta: JobMeta, n: number, identity: string, cls: string | null) {
  const sql = t.sql;
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
  const start = Math.floor(Math.random() * meta.total);
  const found = pick(start);
  return found.length < n && start > 0
    ? [...found, ...pick(0).filter((r) => r.idx < start)].slice(0, n)
    : found;
}
