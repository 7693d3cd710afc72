import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, test } from 'vitest';
import { MerkleTree, merkleLeafHash, merkleRootFromProof } from './merkle.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

// Certificate Transparency's test leaves and the roots of their first 1..8 (RFC 6962 test data,
// also in transparency-dev/merkle's testonly package).
const CT_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
];
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

/** The tree hash written straight from RFC 9162's recursive definition, as a reference. */
function referenceRoot(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(
    Uint8Array.from([1, ...referenceRoot(leaves.slice(0, k)), ...referenceRoot(leaves.slice(k))]),
  );
}

const leafHashes = (n: number) =>
  Array.from({ length: n }, (_, i) => merkleLeafHash(new TextEncoder().encode(`leaf ${i}`)));

describe('MerkleTree', () => {
  test('default: roots match the Certificate Transparency test vectors', () => {
    for (let n = 1; n <= CT_LEAVES.length; n++) {
      const tree = new MerkleTree(CT_LEAVES.slice(0, n).map((l) => merkleLeafHash(bytes(l))));
      expect(hex(tree.root)).toBe(CT_ROOTS[n - 1]);
    }
  });

  test('behavior: every proof of every leaf in trees of 1 to 70 leaves leads to the root', () => {
    for (let n = 1; n <= 70; n++) {
      const leaves = leafHashes(n);
      const tree = new MerkleTree(leaves);
      expect(hex(tree.root)).toBe(hex(referenceRoot(leaves)));
      for (let i = 0; i < n; i++) {
        const proof = tree.proof(i);
        const root = merkleRootFromProof(leaves[i]!, i, n, proof);
        expect(root && hex(root)).toBe(hex(tree.root));
      }
    }
  });

  test('error: a proof for another index, another size, a changed or a missing node proves nothing', () => {
    const leaves = leafHashes(13);
    const tree = new MerkleTree(leaves);
    const root = hex(tree.root);
    const proof = tree.proof(5);
    const check = (leaf: Uint8Array, index: number, size: number, path: Uint8Array[]) => {
      const r = merkleRootFromProof(leaf, index, size, path);
      return r !== undefined && hex(r) === root;
    };
    expect(check(leaves[5]!, 5, 13, proof)).toBe(true);
    expect(check(leaves[5]!, 4, 13, proof)).toBe(false);
    // The size changes the path only where the tree's shape differs on it (the last leaf here):
    // that is why a signed batch names its size.
    const last = tree.proof(12);
    expect(check(leaves[12]!, 12, 13, last)).toBe(true);
    expect(check(leaves[12]!, 12, 14, last)).toBe(false);
    expect(check(leaves[12]!, 12, 16, last)).toBe(false);
    expect(check(leaves[6]!, 5, 13, proof)).toBe(false);
    const changed = proof.map((p) => p.slice());
    changed[1]![0]! ^= 1;
    expect(check(leaves[5]!, 5, 13, changed)).toBe(false);
    expect(check(leaves[5]!, 5, 13, proof.slice(0, -1))).toBe(false);
    expect(check(leaves[5]!, 5, 13, [...proof, proof[0]!])).toBe(false);
    expect(merkleRootFromProof(leaves[5]!, 13, 13, proof)).toBeUndefined();
    expect(merkleRootFromProof(leaves[5]!, -1, 13, proof)).toBeUndefined();
  });

  test('error: a tree of no leaves, a proof of a leaf outside the tree', () => {
    expect(() => new MerkleTree([])).toThrow(/at least one leaf/);
    expect(() => new MerkleTree(leafHashes(4)).proof(4)).toThrow(/not in a tree of 4/);
  });
});
