import { prepareKey } from '../../protocol/groth16.ts';
import {
  type CircuitClaim,
  CircuitManifest,
  expectedInputSignals,
  inputSignalCount,
  isWasm,
  MeshError,
} from '../../protocol/index.ts';
import type { Env } from '../env.ts';

/** The first bytes of every snarkjs proving key (`.zkey`): the magic `zkey`. */
const ZKEY_MAGIC = [0x7a, 0x6b, 0x65, 0x79];

/**
 * Check a `circom` job at submission, so that what can be refused is refused before any node
 * works on it: the manifest (`CircuitManifest`), its verification key (every point on the curve
 * and in its subgroup, one IC point per public signal), its witness calculator (stored, and a
 * WebAssembly module), its proving key (stored, and a snarkjs `.zkey`), and every input (exactly
 * the circuit's public inputs, each of the declared shape). What only proving shows (a proving
 * key of another circuit or setup, a witness that does not satisfy the constraints) is a failed
 * task with the reason, found by the node.
 */
export async function checkCircuitJob(
  env: Env,
  manifestText: string,
  inputs: readonly unknown[],
): Promise<CircuitClaim> {
  let json: unknown;
  try {
    json = JSON.parse(manifestText);
  } catch (error) {
    throw new MeshError(
      'validation_failed',
      `a circom job's code is a circuit manifest (JSON), and this is not JSON: ${(error as Error).message}`,
    );
  }
  const parsed = CircuitManifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MeshError(
      'validation_failed',
      `the circuit manifest is invalid at ${issue.path.join('.') || '(root)'}: ${issue.message}`,
      {
        issues: parsed.error.issues
          .slice(0, 10)
          .map((i) => ({ path: i.path.map(String), message: i.message })),
      },
    );
  }
  const manifest = parsed.data;
  try {
    prepareKey(manifest.verificationKey);
  } catch (error) {
    throw new MeshError(
      'validation_failed',
      `the manifest's verification key is invalid: ${(error as Error).message}`,
    );
  }
  const inputSignals = inputSignalCount(manifest.publicInputs);
  if (inputSignals > manifest.verificationKey.nPublic) {
    throw new MeshError(
      'validation_failed',
      `the manifest declares ${inputSignals} public input signals, but its verification key has only ${manifest.verificationKey.nPublic} public signals`,
    );
  }
  await requireBlob(
    env,
    manifest.wasm,
    'wasm',
    (head) => isWasm(head),
    'is not a WebAssembly module (circom --wasm writes it as <name>_js/<name>.wasm)',
  );
  await requireBlob(
    env,
    manifest.zkey,
    'zkey',
    (head) => ZKEY_MAGIC.every((b, i) => head[i] === b),
    'is not a snarkjs proving key (a .zkey starts with "zkey")',
  );
  inputs.forEach((input, index) => {
    const expected = expectedInputSignals(manifest.publicInputs, input);
    if (!expected.ok) {
      throw new MeshError(
        'validation_failed',
        `input ${index} does not fit the circuit: ${expected.problem}`,
        { index },
      );
    }
  });
  return { verificationKey: manifest.verificationKey, publicInputs: manifest.publicInputs };
}

async function requireBlob(
  env: Env,
  cid: string,
  field: string,
  looksRight: (head: Uint8Array) => boolean,
  wrong: string,
): Promise<void> {
  const head = await env.BLOBS.get(cid, { range: { offset: 0, length: 8 } });
  if (!head) {
    throw new MeshError(
      'blob_not_found',
      `the manifest's ${field} ${cid} is not stored here; upload it with PUT /api/v1/blobs first`,
    );
  }
  if (!looksRight(new Uint8Array(await head.arrayBuffer()))) {
    throw new MeshError('validation_failed', `the manifest's ${field} ${cid} ${wrong}`);
  }
}
