import { buildPoseidon } from 'circomlibjs';
import { SNARK_SCALAR_FIELD } from '../protocol/groth16.ts';

// Plain TypeScript references of the templates in circuits/src: what each circuit's public
// outputs must be for given inputs. Tests compare the witness's outputs with these.

const mod = (x: bigint) => ((x % SNARK_SCALAR_FIELD) + SNARK_SCALAR_FIELD) % SNARK_SCALAR_FIELD;

/** `sum_range`: sum, minimum and maximum of values that must all lie in [lo, hi]. */
export function sumRange(
  values: readonly bigint[],
  lo: bigint,
  hi: bigint,
): { sum: bigint; min: bigint; max: bigint } {
  if (values.some((v) => v < lo || v > hi)) throw new RangeError('a value is out of [lo, hi]');
  // Math.min and Math.max take no bigints.
  let min = hi;
  let max = lo;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { sum: mod(values.reduce((a, b) => a + b, 0n)), min, max };
}

/** `matmul`: C = A · B over the field. */
export function matmul(a: readonly (readonly bigint[])[], b: readonly (readonly bigint[])[]): bigint[][] {
  return a.map((row) => b[0]!.map((_, j) => mod(row.reduce((acc, x, k) => acc + x * b[k]![j]!, 0n))));
}

let poseidon: Awaited<ReturnType<typeof buildPoseidon>> | undefined;

/** `poseidon_vector`: circomlib's Poseidon of the values (circomlibjs, the circuit's own reference). */
export async function poseidonVector(values: readonly bigint[]): Promise<bigint> {
  poseidon ??= await buildPoseidon();
  return BigInt(poseidon.F.toString(poseidon(values.map((v) => v))));
}
