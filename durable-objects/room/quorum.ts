import type { VerificationPolicy } from '../../protocol/index.ts';

/**
 * Credibility-based verification (after Sarmenta, "Sabotage-tolerance mechanisms for volunteer
 * computing systems", 2002). Pure functions: the room decides with them, and the sabotage
 * benchmark simulates with the same ones.
 *
 * An identity is a wallet (every node linked to it votes as one) or, for an unlinked node, its
 * peer id. Its credibility is the chance its answer is right, from its record: with at most a
 * fraction `F` of identities faulty, an identity that has agreed with others `k` times in a row
 * since its last mismatch has credibility `1 − F / (1 + k)`: `1 − F` (0.8) when new, never 1.
 *
 * A task's replicas are grouped by answer. Group `g`'s confidence is the chance that its members
 * are right and every other group's wrong, among the ways the votes can be explained (each group
 * all right or all wrong, at most one right):
 *
 *     P(g) = Π_{i∈g} c_i · Π_{j∉g} (1 − c_j),   conf(g) = P(g) / (Σ_h P(h) + Π_all (1 − c_i))
 *
 * so agreeing identities raise it and dissent lowers it. With dissent, credibilities are capped
 * at `DISSENT_CAP` and only an answer of two or more identities can win.
 */

/** Assumed bound on the fraction of faulty identities. */
export const FAULTY_BOUND = 0.2;
/**
 * When replicas disagree, every identity weighs as a new one: a long record buys the benefit of
 * the doubt while nobody disagrees, never a win over others who do (else a node that earned trust
 * could outvote any number of newcomers the day it starts lying).
 */
export const DISSENT_CAP = 1 - FAULTY_BOUND;
/** At most this many replicas of one task under the adaptive policy; then it is `inconsistent`. */
export const MAX_ADAPTIVE_REPLICAS = 7;

/** Credibility of an identity that has agreed with others `streak` times since its last mismatch. */
export function credibility(streak: number): number {
  return 1 - FAULTY_BOUND / (1 + Math.max(0, streak));
}

/**
 * How often a credible identity's lone answer is checked by another identity anyway: every
 * answer while its record is short, falling as the record grows, never below 1 in 20.
 */
export function spotCheckRate(streak: number): number {
  return Math.min(1, Math.max(0.05, 8 / (1 + Math.max(0, streak))));
}

/**
 * Share of a lease's slots filled with known-answer checks: tasks of the same job that replicas of
 * distinct identities have already decided, leased again as if they were pending. One in ten for
 * an identity not yet credible (whose answers are replicated anyway: the checks build or break its
 * record), one in a hundred for a credible one (whose lone answers are otherwise only spot-checked).
 */
export function knownAnswerRate(streak: number, trust: number): number {
  return credibility(streak) >= trust ? 0.01 : 0.1;
}

/** Most replicas a task may take under `policy` before it is `inconsistent`. */
export function maxReplicas(policy: VerificationPolicy): number {
  return policy.kind === 'fixed' ? 2 * policy.redundancy + 1 : MAX_ADAPTIVE_REPLICAS;
}

/** One identity's answer, as the decision weighs it. */
export interface Vote {
  identity: string;
  /** The output's CID, or `error:<kind>` for a task's own failure. */
  answer: string;
  credibility: number;
  /** Agreements since its last mismatch (for its spot-check rate). */
  streak: number;
  /** A node of the job owner's own wallet: trusted for this job. */
  trusted: boolean;
}

export type Decision =
  | {
      kind: 'accept';
      answer: string;
      confidence: number;
      how: 'quorum' | 'trusted' | 'credible' | 'unverified';
    }
  | { kind: 'more'; reason: string; spotCheck?: boolean }
  | { kind: 'inconsistent'; reason: string };

/** Confidence of each distinct answer among `votes` (one vote per identity). */
export function confidences(votes: Vote[]): Map<string, number> {
  if (new Set(votes.map((v) => v.answer)).size > 1) {
    votes = votes.map((v) => ({ ...v, credibility: Math.min(v.credibility, DISSENT_CAP) }));
  }
  const allWrong = votes.reduce((p, v) => p * (1 - v.credibility), 1);
  const p = new Map<string, number>();
  for (const answer of new Set(votes.map((v) => v.answer))) {
    let x = 1;
    for (const v of votes) x *= v.answer === answer ? v.credibility : 1 - v.credibility;
    p.set(answer, x);
  }
  const total = [...p.values()].reduce((a, b) => a + b, allWrong);
  return new Map([...p].map(([a, x]) => [a, total > 0 ? x / total : 0]));
}

const isFailure = (answer: string) => answer.startsWith('error:');

/**
 * What to do with a task after a new vote. `random` decides spot checks (in [0, 1)).
 *
 * - `fixed r`: accept an answer once `r` identities agree on it and no other answer has as
 *   many; `r = 1` accepts the first answer unverified. Past `2r + 1` replicas: inconsistent.
 * - `adaptive T`: a vote of the owner's own wallet decides; otherwise accept the answer whose
 *   confidence reaches `T`, but never a failure on one identity's word, and a lone identity's
 *   answer (credible by its record) only when no spot check is drawn for it.
 */
export function decide(policy: VerificationPolicy, votes: Vote[], random: () => number): Decision {
  if (!votes.length) return { kind: 'more', reason: 'no replica yet' };
  const counts = new Map<string, number>();
  for (const v of votes) counts.set(v.answer, (counts.get(v.answer) ?? 0) + 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1]);
  const conf = confidences(votes);
  const bound = maxReplicas(policy);
  const summary = () =>
    ranked.length === 1
      ? `${votes.length} ${votes.length === 1 ? 'replica' : 'agreeing replicas'}`
      : `${votes.length} replicas, ${ranked.length} different answers`;
  if (policy.kind === 'fixed') {
    const r = policy.redundancy;
    const [best, bestCount] = ranked[0]!;
    if (bestCount >= r && (ranked[1]?.[1] ?? 0) < bestCount) {
      return {
        kind: 'accept',
        answer: best,
        confidence: conf.get(best)!,
        how: r === 1 ? 'unverified' : 'quorum',
      };
    }
    if (votes.length >= bound)
      return { kind: 'inconsistent', reason: `no quorum of ${r} within ${bound} replicas` };
    return { kind: 'more', reason: `verifying: ${summary()}, needs ${r} in agreement` };
  }
  const trusted = votes.find((v) => v.trusted);
  if (trusted) return { kind: 'accept', answer: trusted.answer, confidence: 1, how: 'trusted' };
  const [best] = [...conf].sort((a, b) => b[1] - a[1])[0]!;
  const c = conf.get(best)!;
  const agreeing = counts.get(best)!;
  if (c >= policy.trust && (agreeing >= 2 || (votes.length === 1 && !isFailure(best)))) {
    if (agreeing >= 2) return { kind: 'accept', answer: best, confidence: c, how: 'quorum' };
    // One identity, credible alone and undisputed: spot-checked at a rate that falls as its
    // record grows.
    const voter = votes[0]!;
    if (random() < spotCheckRate(voter.streak)) {
      return { kind: 'more', reason: 'verifying: spot check of a credible node', spotCheck: true };
    }
    return { kind: 'accept', answer: best, confidence: c, how: 'credible' };
  }
  if (votes.length >= bound) {
    return {
      kind: 'inconsistent',
      reason: `confidence stayed below ${policy.trust} within ${bound} replicas`,
    };
  }
  return {
    kind: 'more',
    reason: `verifying: ${summary()}, confidence ${c.toFixed(3)} of ${policy.trust} needed${
      isFailure(best) && votes.length === 1 ? ' (a failure needs a second identity)' : ''
    }`,
  };
}
