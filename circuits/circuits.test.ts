import { readFileSync, rmSync } from 'node:fs';
import * as snarkjs from 'snarkjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Groth16VerificationKey,
  prepareKey,
  SNARK_SCALAR_FIELD,
  verifyGroth16,
} from '../protocol/groth16.ts';
import { type BuiltCircuit, buildCircuits, testBuildDir } from '../scripts/circuits.ts';
import { matmul, merklePath, merkleRoot, poseidonMerkleTree, poseidonVector, sumRange } from './reference.ts';

// Every template of circuits/src, compiled with circom2 and set up from the committed powers of tau:
// valid inputs give the reference's outputs and proofs that snarkjs and the TypeScript verifier
// both accept; a tampered witness does not satisfy the circuit; out-of-range inputs cannot be
// proven; tampered proofs and public signals are refused by both verifiers alike.

let built: Record<string, BuiltCircuit>;
const keys: Record<string, Groth16VerificationKey> = {};
const out = testBuildDir('unit');

beforeAll(async () => {
  built = await buildCircuits({ out });
  for (const [name, a] of Object.entries(built)) {
    keys[name] = JSON.parse(readFileSync(a.vkey, 'utf8')) as Groth16VerificationKey;
  }
}, 120_000);

afterAll(async () => {
  rmSync(out, { recursive: true, force: true });
  // snarkjs keeps a curve (and its worker threads) per process.
  await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
});

const big = (xs: readonly (string | number | bigint)[]) => xs.map((x) => BigInt(x));

async function prove(name: string, input: snarkjs.CircuitSignals) {
  return snarkjs.groth16.fullProve(input, built[name]!.wasm, built[name]!.zkey);
}

/** Both verifiers' verdicts on one proof. */
async function verdicts(name: string, proof: unknown, signals: unknown) {
  const ts = verifyGroth16(keys[name]!, proof, signals).ok;
  let js: boolean;
  try {
    js = await snarkjs.groth16.verify(
      keys[name]!,
      signals as snarkjs.PublicSignals,
      proof as snarkjs.Groth16Proof,
    );
  } catch {
    js = false;
  }
  return { ts, js };
}

/**
 * Whether the witness of `input` satisfies the circuit's constraints as computed, and with one
 * internal signal changed (which the constraints must catch).
 */
async function witnessChecks(name: string, input: snarkjs.CircuitSignals) {
  const check = async (data: Uint8Array) => {
    try {
      return Boolean(await snarkjs.wtns.check(built[name]!.r1cs, { type: 'mem', data } as never));
    } catch {
      return false;
    }
  };
  const wtns = { type: 'mem' } as { type: 'mem'; data?: Uint8Array };
  await snarkjs.wtns.calculate(input, built[name]!.wasm, wtns);
  const data = wtns.data!;
  const valid = await check(data);
  // The last 32 bytes are the last witness element (little-endian): add one to it.
  const tampered = new Uint8Array(data);
  tampered[tampered.length - 32] = (tampered[tampered.length - 32]! + 1) & 0xff;
  return { valid, tampered: await check(tampered) };
}

describe('circuit templates', () => {
  it('sum_range: sum, min and max of values in [lo, hi]; a value out of range cannot be proven', async () => {
    const values = [5n, 9n, 1n, 7n, 3n, 8n, 2n, 6n];
    const { proof, publicSignals } = await prove('sum_range', { values, lo: 1n, hi: 10n });
    const ref = sumRange(values, 1n, 10n);
    expect(big(publicSignals)).toEqual([ref.sum, ref.min, ref.max, ...values, 1n, 10n]);
    expect(await verdicts('sum_range', proof, publicSignals)).toEqual({ ts: true, js: true });
    await expect(
      prove('sum_range', { values: [...values.slice(1), 11n], lo: 1n, hi: 10n }),
    ).rejects.toThrow();
    await expect(prove('sum_range', { values: [...values.slice(1), 0n], lo: 1n, hi: 10n })).rejects.toThrow();
    expect(() => sumRange([11n], 1n, 10n)).toThrow();
    // A bound that is a huge field element (r - 5, "below" every value to a 32-bit comparator) or a
    // value of 2^32 or more is refused by the circuit's own bit checks.
    await expect(prove('sum_range', { values, lo: SNARK_SCALAR_FIELD - 5n, hi: 10n })).rejects.toThrow();
    await expect(
      prove('sum_range', { values: [...values.slice(1), 2n ** 32n], lo: 0n, hi: 2n ** 32n }),
    ).rejects.toThrow();
    expect(await witnessChecks('sum_range', { values, lo: 1n, hi: 10n })).toEqual({
      valid: true,
      tampered: false,
    });
  });

  it('poseidon_vector: the Poseidon hash of the values, as circomlibjs computes it', async () => {
    const values = [1n, 2n, 3n, 4n, 5n, 6n, 7n, SNARK_SCALAR_FIELD - 1n];
    const { proof, publicSignals } = await prove('poseidon_vector', { values });
    expect(big(publicSignals)).toEqual([await poseidonVector(values), ...values]);
    expect(await verdicts('poseidon_vector', proof, publicSignals)).toEqual({ ts: true, js: true });
    expect(await witnessChecks('poseidon_vector', { values })).toEqual({ valid: true, tampered: false });
  });

  it('matmul: C = A · B over the field', async () => {
    const a = [
      [1n, 2n, 3n],
      [4n, 5n, 6n],
      [7n, 8n, 9n],
    ];
    const b = [
      [9n, 8n, 7n],
      [6n, 5n, 4n],
      [3n, 2n, SNARK_SCALAR_FIELD - 1n],
    ];
    const { proof, publicSignals } = await prove('matmul', { a, b });
    expect(big(publicSignals)).toEqual([...matmul(a, b).flat(), ...a.flat(), ...b.flat()]);
    expect(await verdicts('matmul', proof, publicSignals)).toEqual({ ts: true, js: true });
    expect(await witnessChecks('matmul', { a, b })).toEqual({ valid: true, tampered: false });
  });

  it('merkle_inclusion: a leaf and its path under the root prove, with the leaf index; a wrong sibling, root or non-binary index bit cannot', async () => {
    const leaves = Array.from({ length: 128 }, (_, i) => BigInt(i * i + 7));
    leaves[100] = SNARK_SCALAR_FIELD - 1n;
    const levels = await poseidonMerkleTree(leaves);
    for (const index of [0, 100, 127]) {
      const path = merklePath(levels, index);
      expect(await merkleRoot(path.leaf, path.pathElements, path.pathIndices)).toBe(path.root);
      const { proof, publicSignals } = await prove('merkle_inclusion', path);
      expect(big(publicSignals)).toEqual([
        BigInt(index),
        path.leaf,
        ...path.pathElements,
        ...path.pathIndices,
        path.root,
      ]);
      expect(await verdicts('merkle_inclusion', proof, publicSignals)).toEqual({ ts: true, js: true });
    }
    const path = merklePath(levels, 37);
    const otherSibling = {
      ...path,
      pathElements: [path.pathElements[0]! + 1n, ...path.pathElements.slice(1)],
    };
    await expect(prove('merkle_inclusion', otherSibling)).rejects.toThrow();
    await expect(prove('merkle_inclusion', { ...path, root: path.root + 1n })).rejects.toThrow();
    await expect(prove('merkle_inclusion', { ...path, leaf: leaves[38]! })).rejects.toThrow();
    // An index bit that is not 0 or 1 (it would mix the node and its sibling) is refused.
    await expect(
      prove('merkle_inclusion', { ...path, pathIndices: [2n, ...path.pathIndices.slice(1)] }),
    ).rejects.toThrow();
    expect(await witnessChecks('merkle_inclusion', path)).toEqual({ valid: true, tampered: false });
  });

  it("the web app's example inputs of every template prove, and its list names every template", async () => {
    const { CIRCUIT_TEMPLATES } = await import('../frontend/src/editor/circuit-templates.ts');
    expect(CIRCUIT_TEMPLATES.map((t) => t.name).sort()).toEqual(Object.keys(built).sort());
    for (const t of CIRCUIT_TEMPLATES) {
      expect(t.source).toBe(readFileSync(new URL(`./src/${t.name}.circom`, import.meta.url), 'utf8'));
      for (const input of JSON.parse(t.inputs) as snarkjs.CircuitSignals[]) {
        const { proof, publicSignals } = await prove(t.name, input);
        expect({ name: t.name, verdicts: await verdicts(t.name, proof, publicSignals) }).toEqual({
          name: t.name,
          verdicts: { ts: true, js: true },
        });
      }
    }
  });

  it('tampered proofs and public signals are refused by snarkjs and the TypeScript verifier alike', async () => {
    const { proof, publicSignals } = await prove('sum_range', {
      values: [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n],
      lo: 0n,
      hi: 9n,
    });
    const cases: [string, unknown, unknown][] = [
      ['another sum', proof, ['37', ...publicSignals.slice(1)]],
      [
        'a signal plus r',
        proof,
        [(BigInt(publicSignals[0]!) + SNARK_SCALAR_FIELD).toString(), ...publicSignals.slice(1)],
      ],
      ['one signal too few', proof, publicSignals.slice(1)],
      [
        'A moved off the curve',
        { ...proof, pi_a: [(BigInt(proof.pi_a[0]!) + 1n).toString(), proof.pi_a[1], '1'] },
        publicSignals,
      ],
      ['A and C swapped', { ...proof, pi_a: proof.pi_c, pi_c: proof.pi_a }, publicSignals],
      [
        'A negated',
        {
          ...proof,
          pi_a: [
            proof.pi_a[0],
            (
              21888242871839275222246405745257275088696311157297823662689037894645226208583n -
              BigInt(proof.pi_a[1]!)
            ).toString(),
            '1',
          ],
        },
        publicSignals,
      ],
      [
        'B of another proof',
        { ...proof, pi_b: [[proof.pi_b[0]![1], proof.pi_b[0]![0]], proof.pi_b[1], proof.pi_b[2]] },
        publicSignals,
      ],
      ['not a proof', { pi_a: 'x' }, publicSignals],
    ];
    for (const [what, p, s] of cases) {
      expect(await verdicts('sum_range', p, s), what).toEqual({ ts: false, js: false });
    }
    // The proof of another circuit with the same number of public signals... is refused by its key.
    const other = await prove('poseidon_vector', { values: [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n] });
    expect(verifyGroth16(keys.sum_range!, other.proof, [...other.publicSignals, '0', '0', '0', '0']).ok).toBe(
      false,
    );
    expect(other.publicSignals.length + 4).toBe(keys.sum_range!.nPublic);
    // A key decoded once verifies many proofs.
    const prepared = prepareKey(keys.sum_range!);
    expect(verifyGroth16(prepared, proof, publicSignals)).toEqual({ ok: true });
    expect(verifyGroth16(prepared, proof, ['37', ...publicSignals.slice(1)])).toEqual({
      ok: false,
      reason: 'the pairing check failed',
    });
  });
});
