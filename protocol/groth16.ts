import { bn254 } from '@noble/curves/bn254.js';
import { Groth16Proof, Groth16VerificationKey, PublicSignals } from './circuit.ts';

/**
 * Groth16 verification over BN254 in pure TypeScript, for proofs and verification keys in
 * snarkjs's JSON form. The Worker verifies proofs with this (snarkjs cannot run inside workerd:
 * it compiles WebAssembly at run time); tests check it against snarkjs on the same proofs.
 *
 * A proof `(A, B, C)` of public signals `s` is valid when
 * `e(A, B) = e(α, β) · e(IC₀ + Σ sᵢ·ICᵢ₊₁, γ) · e(C, δ)`, checked as one batch of four pairings
 * whose product must be 1 (`e(−A, B) · e(α, β) · e(L, γ) · e(C, δ)`). Every point is checked to be
 * on its curve and in its subgroup, and every public signal to be a canonical field element (below
 * the scalar field's order r): a signal s and s + r would otherwise both pass.
 */

const Fp2 = bn254.fields.Fp2;
const Fp12 = bn254.fields.Fp12;
/** Order of the scalar field (BN254's r): public signals live below it. */
export const SNARK_SCALAR_FIELD = bn254.fields.Fr.ORDER;

export { Groth16Proof, Groth16VerificationKey, PublicSignals };

type G1 = ReturnType<typeof bn254.G1.Point.fromAffine>;
type G2 = ReturnType<typeof bn254.G2.Point.fromAffine>;

function g1(p: readonly [string, string, string]): G1 {
  if (p[2] !== '1') throw new RangeError('a G1 point must be affine (z = 1)');
  const point = bn254.G1.Point.fromAffine({ x: BigInt(p[0]), y: BigInt(p[1]) });
  point.assertValidity();
  return point;
}

function g2(
  p: readonly [readonly [string, string], readonly [string, string], readonly [string, string]],
): G2 {
  if (p[2][0] !== '1' || p[2][1] !== '0') throw new RangeError('a G2 point must be affine (z = 1)');
  const point = bn254.G2.Point.fromAffine({
    x: Fp2.fromBigTuple([BigInt(p[0][0]), BigInt(p[0][1])]),
    y: Fp2.fromBigTuple([BigInt(p[1][0]), BigInt(p[1][1])]),
  });
  point.assertValidity();
  return point;
}

type Precompute = ReturnType<typeof bn254.utils.calcPairingPrecomputes>;

/**
 * A verification key decoded once for many proofs: its points checked, the Miller-loop tables of
 * γ and δ built, and e(α, β)⁻¹ computed, so a proof costs one G2 table (its B) and three Miller
 * loops under one final exponentiation.
 */
export interface PreparedKey {
  nPublic: number;
  ic: G1[];
  gamma: Precompute;
  delta: Precompute;
  alphaBetaInverse: ReturnType<typeof Fp12.inv>;
}

/** Decode and check a verification key's points (throws on a malformed key). */
export function prepareKey(vk: Groth16VerificationKey): PreparedKey {
  const key = Groth16VerificationKey.parse(vk);
  if (key.IC.length !== key.nPublic + 1) {
    throw new RangeError(`the key has ${key.IC.length} IC points for ${key.nPublic} public signals`);
  }
  return {
    nPublic: key.nPublic,
    ic: key.IC.map(g1),
    gamma: bn254.utils.calcPairingPrecomputes(g2(key.vk_gamma_2)),
    delta: bn254.utils.calcPairingPrecomputes(g2(key.vk_delta_2)),
    alphaBetaInverse: Fp12.inv(bn254.pairing(g1(key.vk_alpha_1), g2(key.vk_beta_2))),
  };
}

/** Why a proof was not accepted, or `ok`. */
export type Groth16Verdict = { ok: true } | { ok: false; reason: string };

/**
 * Verify a Groth16 proof of `publicSignals` against a verification key (raw snarkjs JSON, or
 * `prepareKey`'s result to decode it once). Malformed input is a verdict, never a throw.
 */
export function verifyGroth16(
  key: Groth16VerificationKey | PreparedKey,
  proof: unknown,
  publicSignals: unknown,
): Groth16Verdict {
  let vk: PreparedKey;
  try {
    vk = 'IC' in key ? prepareKey(key as Groth16VerificationKey) : (key as PreparedKey);
  } catch (error) {
    return { ok: false, reason: `the verification key is malformed: ${(error as Error).message}` };
  }
  const p = Groth16Proof.safeParse(proof);
  if (!p.success) return { ok: false, reason: `the proof is malformed: ${p.error.issues[0]?.message}` };
  const s = PublicSignals.safeParse(publicSignals);
  if (!s.success)
    return { ok: false, reason: `the public signals are malformed: ${s.error.issues[0]?.message}` };
  if (s.data.length !== vk.nPublic) {
    return { ok: false, reason: `expected ${vk.nPublic} public signals, got ${s.data.length}` };
  }
  const signals = s.data.map(BigInt);
  if (signals.some((x) => x >= SNARK_SCALAR_FIELD)) {
    return { ok: false, reason: 'a public signal is not below the scalar field order' };
  }
  let a: G1;
  let b: G2;
  let c: G1;
  try {
    a = g1(p.data.pi_a);
    b = g2(p.data.pi_b);
    c = g1(p.data.pi_c);
  } catch (error) {
    return { ok: false, reason: `a proof point is not a valid curve point: ${(error as Error).message}` };
  }
  if (a.is0() || b.is0() || c.is0()) return { ok: false, reason: 'a proof point is the point at infinity' };
  // Public scalars: the variable-time multiplication is fine (and about twice as fast).
  let l = vk.ic[0]!;
  for (let i = 0; i < signals.length; i++) {
    if (signals[i]! !== 0n) l = l.add(vk.ic[i + 1]!.multiplyUnsafe(signals[i]!));
  }
  // e(−A, B) · e(L, γ) · e(C, δ) must equal e(α, β)⁻¹ (a zero L contributes 1).
  const minusA = a.negate().toAffine();
  const pairs: [Precompute, bigint, bigint][] = [[bn254.utils.calcPairingPrecomputes(b), minusA.x, minusA.y]];
  if (!l.is0()) {
    const la = l.toAffine();
    pairs.push([vk.gamma, la.x, la.y]);
  }
  const ca = c.toAffine();
  pairs.push([vk.delta, ca.x, ca.y]);
  const product = Fp12.finalExponentiate(bn254.millerLoopBatch(pairs));
  return Fp12.eql(product, vk.alphaBetaInverse)
    ? { ok: true }
    : { ok: false, reason: 'the pairing check failed' };
}
