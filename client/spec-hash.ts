import type { Hex } from 'viem';
import { inputsRoot, jobSpecHash } from '../protocol/anchor.ts';
import { cidOf } from '../protocol/cid.ts';
import { JobSpec, type JobSpecInput, policyOf } from '../protocol/index.ts';

/**
 * The spec hash the API will anchor for `spec` (`jobSpecHash`): the spec with the API's defaults
 * filled in, its code CID (inline source hashes as the API stores it), and its inputs' JSON texts
 * (`inputs`, or the values an `inputsCid` blob holds, given as `inputValues`). Register it from
 * your wallet (`MonadMeshRegistry.registerSpec`) before submitting, and the anchored job links to it.
 *
 * @example
 * const hash = await specHashOf({ runtime: 'js', source: 'export default (x) => x * 2', inputs: [1, 2, 3] });
 */
export async function specHashOf(spec: JobSpecInput, inputValues?: readonly unknown[]): Promise<Hex> {
  const parsed = JobSpec.parse(spec);
  const values = parsed.inputs ?? inputValues;
  if (!values) throw new TypeError('a spec with inputsCid needs its input values to hash');
  const codeCid = parsed.codeCid ?? (await cidOf(new TextEncoder().encode(parsed.source!))).toString();
  return jobSpecHash({
    runtime: parsed.runtime,
    codeCid,
    inputsRoot: inputsRoot(values.map((v) => JSON.stringify(v))),
    tasks: values.length,
    timeoutMs: parsed.timeoutMs,
    maxAttempts: parsed.maxAttempts,
    memoryMb: parsed.memoryMb,
    policy: policyOf(parsed),
  });
}
