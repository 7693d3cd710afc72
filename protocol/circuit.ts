import { z } from 'zod';
import { Cid } from './cid.ts';
import type { JsonValue } from './job.ts';

/**
 * Proven jobs (`runtime: 'circom'`): the job's code is a circuit manifest, a small JSON document
 * naming the circuit's compiled witness calculator (`wasm`) and Groth16 proving key (`zkey`) by
 * CID, with the verification key itself and the circuit's public inputs. A node computes each
 * task's witness and proof with snarkjs; the task's output is the circuit's public signals, the
 * proof travels beside it, and the room accepts the output only when the proof verifies against
 * the manifest's key and the signals carry the task's own input (`expectedInputSignals`).
 *
 * Why the inputs must be public: a proof shows that *some* values satisfy the circuit. Only the
 * values it exposes are bound to the task, so a circuit whose inputs were private would let a node
 * prove the output of another input. Every field of a task's input must therefore be one of the
 * manifest's `publicInputs`, and the API refuses a job whose inputs are not.
 *
 * The schemas here use no curve arithmetic (that is `groth16.ts`, for the room and tests), so
 * nodes, the client and the web app decode proofs without loading a pairing library.
 */

const Decimal = z
  .string()
  .regex(/^(0|[1-9]\d{0,77})$/, 'expected a decimal field element (no leading zeros)');
const G1Json = z.tuple([Decimal, Decimal, Decimal]);
const G2Json = z.tuple([
  z.tuple([Decimal, Decimal]),
  z.tuple([Decimal, Decimal]),
  z.tuple([Decimal, Decimal]),
]);

/** A Groth16 proof as snarkjs writes it (`proof.json`). */
export const Groth16Proof = z
  .object({
    pi_a: G1Json,
    pi_b: G2Json,
    pi_c: G1Json,
    protocol: z.literal('groth16').optional(),
    curve: z.literal('bn128').optional(),
  })
  .meta({ id: 'Groth16Proof' });
export type Groth16Proof = z.infer<typeof Groth16Proof>;

/** A Groth16 verification key as snarkjs exports it (`verification_key.json`). */
export const Groth16VerificationKey = z
  .object({
    protocol: z.literal('groth16'),
    curve: z.literal('bn128'),
    nPublic: z.number().int().nonnegative().max(1024),
    vk_alpha_1: G1Json,
    vk_beta_2: G2Json,
    vk_gamma_2: G2Json,
    vk_delta_2: G2Json,
    IC: z.array(G1Json).min(1).max(1025),
  })
  .loose()
  .meta({ id: 'Groth16VerificationKey' });
export type Groth16VerificationKey = z.infer<typeof Groth16VerificationKey>;

/** Public signals as snarkjs lists them: decimal strings (outputs first, then public inputs). */
export const PublicSignals = z.array(Decimal).max(1024);
export type PublicSignals = z.infer<typeof PublicSignals>;

/** Order of BN254's scalar field (r): every signal is reduced below it. */
export const BN254_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

/** One public input of the circuit's main component, in the order circom declares them. */
export const CircuitInput = z.object({
  /** The signal's name, a key of every task input. */
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a circom signal name'),
  /** Array dimensions (`[8]` for `signal input values[8]`, `[3, 3]` for a matrix); none for a scalar. */
  dims: z.array(z.number().int().min(1).max(1024)).max(4).default([]),
});
export type CircuitInput = z.infer<typeof CircuitInput>;

/** What a `circom` job's code is (as JSON text in `source`, or a blob's bytes by `codeCid`). */
export const CircuitManifest = z
  .strictObject({
    /** `groth16`: a per-circuit setup (`zkey`) from a powers-of-tau file. */
    protocol: z.literal('groth16'),
    /** The circuit's witness calculator, as circom's `--wasm` writes it (`<name>_js/<name>.wasm`). */
    wasm: Cid,
    /** The circuit's proving key (`.zkey`). */
    zkey: Cid,
    /** The verification key exported from that `zkey`: the room verifies every proof with it. */
    verificationKey: Groth16VerificationKey,
    /** The main component's public inputs, in declaration order. Every task input has exactly these fields. */
    publicInputs: z.array(CircuitInput).min(1).max(64),
    /** A name for people (the template), shown on the job page. */
    name: z.string().max(100).optional(),
  })
  .meta({ id: 'CircuitManifest' });
export type CircuitManifest = z.infer<typeof CircuitManifest>;
export type CircuitManifestInput = z.input<typeof CircuitManifest>;

/** What a room keeps of a circuit to verify its proofs (the manifest minus what nodes fetch). */
export interface CircuitClaim {
  verificationKey: Groth16VerificationKey;
  publicInputs: CircuitInput[];
}

const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** How many public signals the inputs take (the rest of `nPublic`, first, are the outputs). */
export const inputSignalCount = (inputs: readonly CircuitInput[]) =>
  inputs.reduce((n, i) => n + size(i.dims), 0);

/**
 * A field element as a task input: an integer 0 ≤ x < r (a number, or a decimal or 0x string).
 * snarkjs would reduce anything else mod r, so the value proven would not be the value given (and
 * anchored): such inputs are refused, with the reason.
 */
function fieldElement(value: unknown, path: string): bigint | string {
  let n: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value))
      return `${path} is not an integer (a number, or a decimal or 0x string)`;
    n = BigInt(value);
  } else if (typeof value === 'string' && /^(-?\d{1,80}|0x[0-9a-fA-F]{1,64})$/.test(value)) {
    n = BigInt(value);
  } else if (typeof value === 'boolean') {
    n = value ? 1n : 0n;
  } else {
    return `${path} is not an integer (a number, or a decimal or 0x string)`;
  }
  if (n < 0n) return `${path} is negative: circuit inputs are field elements, 0 ≤ x < r`;
  if (n >= BN254_R) return `${path} is not below the field's order r (${BN254_R})`;
  return n;
}

function flatten(value: unknown, dims: readonly number[], path: string, out: bigint[]): string | undefined {
  if (!dims.length) {
    const f = fieldElement(value, path);
    if (typeof f === 'string') return f;
    out.push(f);
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== dims[0]) {
    return `${path} must be an array of ${dims[0]}`;
  }
  for (let i = 0; i < value.length; i++) {
    const problem = flatten(value[i], dims.slice(1), `${path}[${i}]`, out);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * The public input signals a task's input must show up as, in order (decimal strings), or why the
 * input does not fit the circuit: not an object, a field missing, extra or the wrong shape.
 */
export function expectedInputSignals(
  inputs: readonly CircuitInput[],
  input: JsonValue | unknown,
): { ok: true; signals: string[] } | { ok: false; problem: string } {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return {
      ok: false,
      problem: `a circom task's input must be an object with the fields ${inputs.map((i) => i.name).join(', ')}`,
    };
  }
  const names = new Set(inputs.map((i) => i.name));
  const extra = Object.keys(input).find((k) => !names.has(k));
  if (extra !== undefined) {
    return {
      ok: false,
      problem: `field '${extra}' is not a public input of the circuit (public: ${[...names].join(', ')}); a proof would not show which value was used, so private inputs are refused`,
    };
  }
  const out: bigint[] = [];
  for (const i of inputs) {
    const value = (input as Record<string, unknown>)[i.name];
    if (value === undefined) return { ok: false, problem: `field '${i.name}' is missing` };
    const problem = flatten(value, i.dims, i.name, out);
    if (problem) return { ok: false, problem };
  }
  return { ok: true, signals: out.map(String) };
}

/**
 * Why a proven output does not carry its task's input, or `undefined`: the output must be the full
 * public signals (`nPublic` decimal strings), whose last signals are the task's input.
 */
export function outputBindsInput(claim: CircuitClaim, input: unknown, output: unknown): string | undefined {
  const signals = PublicSignals.safeParse(output);
  if (!signals.success)
    return `the output is not a list of public signals: ${signals.error.issues[0]?.message}`;
  const n = claim.verificationKey.nPublic;
  if (signals.data.length !== n) return `expected ${n} public signals, got ${signals.data.length}`;
  const expected = expectedInputSignals(claim.publicInputs, input);
  if (!expected.ok) return expected.problem;
  const tail = signals.data.slice(n - expected.signals.length);
  const at = expected.signals.findIndex((s, i) => s !== tail[i]);
  if (at >= 0) {
    return `public signal ${n - expected.signals.length + at} is ${tail[at]}, but the task's input gives ${expected.signals[at]}: the proof is about another input`;
  }
  return undefined;
}

/** The arguments of the registry's `verifyProof(vk, proof, publicSignals)` (`contracts/src/Groth16.sol`). */
export interface Groth16Calldata {
  vk: {
    alpha1: readonly [bigint, bigint];
    beta2: readonly [bigint, bigint, bigint, bigint];
    gamma2: readonly [bigint, bigint, bigint, bigint];
    delta2: readonly [bigint, bigint, bigint, bigint];
    ic: (readonly [bigint, bigint])[];
  };
  proof: {
    a: readonly [bigint, bigint];
    b: readonly [bigint, bigint, bigint, bigint];
    c: readonly [bigint, bigint];
  };
  publicSignals: bigint[];
}

/**
 * snarkjs's JSON (projective coordinates with z = 1, G2 coordinates as [re, im]) as the EVM
 * precompiles take it: affine, G2 coordinates as (im, re), a point at infinity as (0, 0). Signals
 * are passed as they are (the contract refuses one not below r). Throws on a point that is not
 * normalised (z other than 0 or 1), which snarkjs never writes.
 */
export function groth16Calldata(
  vk: Groth16VerificationKey,
  proof: Groth16Proof,
  publicSignals: readonly string[],
): Groth16Calldata {
  const g1 = ([x, y, z]: readonly [string, string, string]): readonly [bigint, bigint] => {
    if (BigInt(z) === 0n) return [0n, 0n];
    if (BigInt(z) !== 1n) throw new TypeError('a G1 point is not in affine form (z must be 1)');
    return [BigInt(x), BigInt(y)];
  };
  const g2 = ([x, y, z]: Groth16Proof['pi_b']): readonly [bigint, bigint, bigint, bigint] => {
    if (BigInt(z[0]) === 0n && BigInt(z[1]) === 0n) return [0n, 0n, 0n, 0n];
    if (BigInt(z[0]) !== 1n || BigInt(z[1]) !== 0n) {
      throw new TypeError('a G2 point is not in affine form (z must be 1)');
    }
    return [BigInt(x[1]), BigInt(x[0]), BigInt(y[1]), BigInt(y[0])];
  };
  return {
    vk: {
      alpha1: g1(vk.vk_alpha_1),
      beta2: g2(vk.vk_beta_2),
      gamma2: g2(vk.vk_gamma_2),
      delta2: g2(vk.vk_delta_2),
      ic: vk.IC.map(g1),
    },
    proof: { a: g1(proof.pi_a), b: g2(proof.pi_b), c: g1(proof.pi_c) },
    publicSignals: publicSignals.map((s) => BigInt(s)),
  };
}
