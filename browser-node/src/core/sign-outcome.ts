import {
  encodeSignature,
  inputCidOf,
  type JsonValue,
  type LeasedTask,
  type OutcomeReceipt,
  outcomeHashOf,
  receiptBatch,
  resultsReceiptFields,
  type TaskError,
  type TaskOutcome,
} from '../../../protocol/index.ts';
import type { NodeIdentity } from './identity.ts';

/**
 * The receipt fields of one outcome: the lease number and code it was leased with, and the CIDs
 * of the input it was given and of the output (or error) it produced. `task` is the task as
 * leased: an `ipfs://` input is hashed as that string (the room hashes what it stored), not as
 * the value it resolves to. Nothing is signed here: `signResults` signs a frame's receipts at once.
 *
 * @example
 * outcome.receipt = await outcomeReceipt(task, { ok: true, output: 42 });
 */
export async function outcomeReceipt(
  task: Pick<LeasedTask, 'attempt' | 'codeCid' | 'input'>,
  outcome: { ok: true; output: JsonValue } | { ok: false; error: TaskError },
): Promise<OutcomeReceipt> {
  const [inputCid, outputHash] = await Promise.all([inputCidOf(task.input), outcomeHashOf(outcome)]);
  return { attempt: task.attempt, codeCid: task.codeCid, inputCid, outputHash };
}

/**
 * The signature of a `task.results` frame: the node's Ed25519 signature over the batch of the
 * results' receipts, in the frame's order (`receiptBatch`), with its fingerprint class.
 *
 * @example
 * send({ type: 'task.results', results, credit, signature: await signResults(identity, results, fp.class) });
 */
export async function signResults(
  identity: NodeIdentity,
  results: TaskOutcome[],
  fingerprintClass?: string,
): Promise<string> {
  const { signed } = receiptBatch(
    resultsReceiptFields(results, identity.peerId.toString(), fingerprintClass),
  );
  return encodeSignature(await identity.sign(signed));
}
