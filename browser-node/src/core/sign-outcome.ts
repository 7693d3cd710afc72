import {
  encodeSignature,
  inputCidOf,
  type JsonValue,
  type LeasedTask,
  type OutcomeReceipt,
  outcomeHashOf,
  receiptBytes,
  type TaskError,
} from '../../../protocol/index.ts';
import type { NodeIdentity } from './identity.ts';

/**
 * Sign what a node reports for one lease: the receipt of `receiptBytes` over the task, the input
 * it was given, the output (or error) and the node's fingerprint class. `task` is the task as
 * leased: an `ipfs://` input is signed as that string (the room hashes what it stored), not as
 * the value it resolves to.
 *
 * @example
 * const receipt = await signOutcome(identity, task, { ok: true, output: 42 }, fingerprint.class);
 * send({ ...outcome, receipt });
 */
export async function signOutcome(
  identity: NodeIdentity,
  task: Pick<LeasedTask, 'jobId' | 'index' | 'attempt' | 'leaseId' | 'codeCid' | 'input'>,
  outcome: { ok: true; output: JsonValue } | { ok: false; error: TaskError },
  fingerprintClass?: string,
): Promise<OutcomeReceipt> {
  const [inputCid, outputHash] = await Promise.all([inputCidOf(task.input), outcomeHashOf(outcome)]);
  const bytes = receiptBytes({
    jobId: task.jobId,
    index: task.index,
    attempt: task.attempt,
    leaseId: task.leaseId,
    codeCid: task.codeCid,
    inputCid,
    ok: outcome.ok,
    outputHash,
    ...(fingerprintClass ? { fingerprintClass } : {}),
    peerId: identity.peerId.toString(),
  });
  const signature = await identity.sign(bytes);
  return { signature: encodeSignature(signature), inputCid, outputHash };
}
