import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { TaskVerification, VerificationPolicy } from './job.ts';
import { jobDefaults } from './limits.ts';

/** A job's policy: fixed by its `redundancy` if given, else adaptive with its `trust` (or the default). */
export function policyOf(spec: {
  redundancy?: number | undefined;
  trust?: number | undefined;
}): VerificationPolicy {
  if (spec.redundancy !== undefined) return { kind: 'fixed', redundancy: spec.redundancy };
  return { kind: 'adaptive', trust: spec.trust ?? jobDefaults.trust };
}

/**
 * Whether replicas of a runtime's tasks are compared only within one runtime fingerprint class:
 * JS and Python floats may differ in the last bit between engines; WebAssembly's are exact.
 */
export const comparedWithinClass = (runtime: string) => runtime === 'js' || runtime === 'python';

/** Whether results need more than one node's word (every policy but `redundancy: 1`). */
export const needsQuorum = (p: VerificationPolicy) => !(p.kind === 'fixed' && p.redundancy === 1);

/**
 * The digest of how a task was verified: SHA-256 (hex) of the UTF-8 JSON array
 * `["monadmesh-verification-v1", policy kind, redundancy or trust, how, accepted answer or "",
 * [[identity, answer, agreed], ...]]`, replicas in the order they answered. It commits to who
 * answered what and what was accepted (not to credibilities, which are the hub's estimates), so
 * anyone holding the record can recompute it; on-chain anchoring commits it per task.
 */
export function verificationDigest(
  v: Omit<TaskVerification, 'digest'>,
  accepted: string | undefined,
): string {
  const policy = v.policy.kind === 'fixed' ? v.policy.redundancy : v.policy.trust;
  const record = [
    'monadmesh-verification-v1',
    v.policy.kind,
    policy,
    v.how,
    accepted ?? '',
    v.replicas.map((r) => [r.identity, r.answer, r.agreed === true]),
  ];
  return bytesToHex(sha256(new TextEncoder().encode(JSON.stringify(record))));
}
