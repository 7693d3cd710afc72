import { type PreparedKey, prepareKey, verifyGroth16 } from '../../protocol/groth16.ts';
import { type CircuitClaim, outputBindsInput } from '../../protocol/index.ts';
import type { SignedOutcome } from '../rpc.ts';

/** The answer a replica is stored with when its proof failed: never a quorum vote. */
export const PROOF_REJECTED = 'proof-rejected';

/**
 * At most this many tasks of a proven job per lease request. Proving takes 0.1–1 s a task, so an
 * honest node rarely asks for more at once; the cap bounds what one request can make the room
 * verify (each proof about 25 ms of CPU) without slowing honest nodes.
 */
export const PROVEN_LEASE_BATCH = 8;

/**
 * Checks the proofs of a `circom` job's results: each successful outcome must carry a Groth16
 * proof that verifies against the job's key (decoded once per room instance), of public signals
 * that end with the task's own input. A valid proof is the strongest evidence there is: the task
 * is accepted on it alone. The proof is checked as a whole statement and stored beside the output;
 * it is never a key (Groth16 proofs are malleable and randomized: one output has many proofs).
 */
export class ProofChecker {
  readonly #claim: CircuitClaim;
  #key: PreparedKey | undefined;

  constructor(claim: CircuitClaim) {
    this.#claim = claim;
  }

  /** Why `outcome`'s proof is not accepted (undefined when it is); failed outcomes have none to check. */
  check(outcome: SignedOutcome['outcome'], inputJson: string | undefined): string | undefined {
    if (!outcome.ok) return undefined;
    if (inputJson === undefined) return 'unknown task';
    if (outcome.proof === undefined) return 'the result of a proven job carries no proof';
    const binding = outputBindsInput(this.#claim, JSON.parse(inputJson), outcome.output);
    if (binding) return binding;
    this.#key ??= prepareKey(this.#claim.verificationKey);
    const verdict = verifyGroth16(this.#key, outcome.proof, outcome.output);
    return verdict.ok ? undefined : `the proof does not verify: ${verdict.reason}`;
  }
}
