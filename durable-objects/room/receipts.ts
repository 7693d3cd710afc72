import { jsonCid, outcomeJson } from '../../protocol/index.ts';
import type { SignedOutcome } from '../rpc.ts';
import type { JobMeta } from './views.ts';

/** What the room found of one signed outcome before its transaction. */
export interface ClaimCheck {
  /** The outcome as JSON text: the output to store, or the error as it was hashed. */
  json: string;
  /** Why its receipt does not say what the room knows, or undefined when it does. */
  problem?: string;
}

/**
 * Check each receipt against what the room knows itself, apart from the lease (checked in the
 * transaction, since it may change meanwhile): the job, task, lease and `ok` it names are the
 * outcome's, the code is the job's, the input CID is the CID of the input the room stored, and
 * the output hash is the CID of the output (or error) it received. The hub has already checked
 * the batch signature over these receipts, so a receipt that passes here is this node's signed
 * claim about this very input and output. Hashing is asynchronous (WebCrypto), so it runs here,
 * before the transaction.
 */
export async function checkClaims(
  meta: JobMeta,
  results: SignedOutcome[],
  inputs: Map<number, string>,
): Promise<ClaimCheck[]> {
  return Promise.all(
    results.map(async ({ outcome, receipt }): Promise<ClaimCheck> => {
      const json = outcomeJson(outcome);
      const input = inputs.get(outcome.index);
      if (input === undefined) return { json, problem: 'unknown task' };
      if (
        receipt.jobId !== meta.id ||
        receipt.index !== outcome.index ||
        receipt.leaseId !== outcome.leaseId ||
        receipt.ok !== outcome.ok
      ) {
        return { json, problem: 'receipt is for another outcome' };
      }
      if (receipt.codeCid !== meta.codeCid)
        return { json, problem: `receipt is for other code (${receipt.codeCid})` };
      const [inputCid, outputHash] = await Promise.all([jsonCid(input), jsonCid(json)]);
      if (receipt.inputCid !== inputCid)
        return { json, problem: `receipt is for another input (${receipt.inputCid})` };
      if (receipt.outputHash !== outputHash) {
        return {
          json,
          problem: `receipt is for another ${outcome.ok ? 'output' : 'error'} (${receipt.outputHash})`,
        };
      }
      return { json };
    }),
  );
}
