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

/** A binary Poseidon Merkle tree (`merkle_inclusion`'s): inner nodes are Poseidon(left, right). */
export async function poseidonMerkleTree(leaves: readonly bigint[]): Promise<bigint[][]> {
  poseidon ??= await buildPoseidon();
  const p = poseidon;
  if (leaves.length === 0 || (leaves.length & (leaves.length - 1)) !== 0) {
    throw new RangeError('a tree needs a power-of-two number of leaves');
  }
  const levels: bigint[][] = [leaves.map(mod)];
  while (levels.at(-1)!.length > 1) {
    const below = levels.at(-1)!;
    levels.push(
      Array.from({ length: below.length / 2 }, (_, i) =>
        BigInt(p.F.toString(p([below[2 * i]!, below[2 * i + 1]!]))),
      ),
    );
  }
  return levels;
}

/** `merkle_inclusion`'s input for leaf `index` of a tree from `poseidonMerkleTree`. */
export function merklePath(
  levels: readonly bigint[][],
  index: number,
): { leaf: bigint; pathElements: bigint[]; pathIndices: bigint[]; root: bigint } {
  const pathElements: bigint[] = [];
  const pathIndices: bigint[] = [];
  let i = index;
  for (const level of levels.slice(0, -1)) {
    pathElements.push(level[i ^ 1]!);
    pathIndices.push(BigInt(i & 1));
    i >>= 1;
  }
  return { leaf: levels[0]![index]!, pathElements, pathIndices, root: levels.at(-1)![0]! };
}

/** `merkle_inclusion`: the root a leaf and its path lead to (the circuit requires it to be the given root). */
export async function merkleRoot(
  leaf: bigint,
  pathElements: readonly bigint[],
  pathIndices: readonly bigint[],
) {
  poseidon ??= await buildPoseidon();
  let node = mod(leaf);
  for (const [i, sibling] of pathElements.entries()) {
    const pair = pathIndices[i] === 1n ? [sibling, node] : [node, sibling];
    node = BigInt(poseidon.F.toString(poseidon(pair)));
  }
  return node;
}
