import { unixfs } from '@helia/unixfs';
import * as dagPb from '@ipld/dag-pb';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { UnixFS } from 'ipfs-unixfs';
import { fixedSize } from 'ipfs-unixfs-importer/chunker';
import { CID } from 'multiformats/cid';
import { describe, expect, test } from 'vitest';
import { BLOB_CHUNK_BYTES, BLOB_CID_VERSION, BLOB_RAW_LEAVES, blockLinks, chunkBlob } from './blob-dag.ts';
import { blockCidProblem, cidOf, parseIpfsUrl, verifyCid } from './cid.ts';

const MiB = 1024 * 1024;

/** Deterministic bytes that differ in every chunk (so no two leaves are the same block). */
function bytesOf(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** What Helia gives the same bytes, with the options we state and with its own defaults. */
async function heliaCid(bytes: Uint8Array, withOptions: boolean) {
  const blockstore = new MemoryBlockstore();
  const fs = unixfs({ blockstore });
  const cid = await fs.addBytes(
    bytes,
    withOptions
      ? {
          cidVersion: BLOB_CID_VERSION,
          rawLeaves: BLOB_RAW_LEAVES,
          chunker: fixedSize({ chunkSize: BLOB_CHUNK_BYTES }),
        }
      : {},
  );
  return { cid, blockstore, fs };
}

describe('chunkBlob', () => {
  test('default: a 3.5 MiB blob is 4 raw leaves of 1, 1, 1 and 0.5 MiB plus a dag-pb root, as Helia makes it', async () => {
    const bytes = bytesOf(3.5 * MiB);
    const { root, size, blocks } = await chunkBlob(bytes);
    expect(size).toBe(bytes.byteLength);
    expect(root.version).toBe(1);
    expect(root.code).toBe(dagPb.code);
    expect(root.toString()).toMatch(/^bafybei/);
    expect(blocks).toHaveLength(5);
    const leaves = blocks.slice(0, 4);
    expect(leaves.map((b) => b.cid.code)).toEqual([0x55, 0x55, 0x55, 0x55]);
    expect(leaves.map((b) => b.bytes.byteLength)).toEqual([MiB, MiB, MiB, MiB / 2]);
    expect(leaves.map((b) => b.height)).toEqual([0, 0, 0, 0]);
    // Leaves in file order, and the root last, linking to them in that order.
    expect(blocks.at(-1)).toMatchObject({ cid: root, height: 1 });
    expect(blockLinks(root, blocks.at(-1)!.bytes).map(String)).toEqual(leaves.map((b) => b.cid.toString()));
    for (const [i, leaf] of leaves.entries()) {
      expect(leaf.bytes).toEqual(bytes.subarray(i * MiB, Math.min((i + 1) * MiB, bytes.byteLength)));
      expect(leaf.cid.toString()).toBe((await cidOf(leaf.bytes)).toString());
    }
    for (const block of blocks) expect(await verifyCid(block.cid, block.bytes)).toBe(true);
    const node = UnixFS.unmarshal(dagPb.decode(blocks.at(-1)!.bytes).Data!);
    expect(node.type).toBe('file');
    expect(node.fileSize()).toBe(BigInt(bytes.byteLength));

    // The same root as @helia/unixfs addBytes, with our options and with Helia's defaults, and
    // the same blocks: Helia reads the blob back from ours.
    const stated = await heliaCid(bytes, true);
    expect(stated.cid.toString()).toBe(root.toString());
    expect((await heliaCid(bytes, false)).cid.toString()).toBe(root.toString());
    const ours = new MemoryBlockstore();
    for (const block of blocks) await ours.put(block.cid, block.bytes);
    const read: Uint8Array[] = [];
    for await (const chunk of unixfs({ blockstore: ours }).cat(root)) read.push(chunk);
    expect(Buffer.concat(read).equals(Buffer.from(bytes))).toBe(true);
  });

  test('default: a blob of at most 1 MiB is one raw block whose CID is cidOf(bytes)', async () => {
    for (const length of [0, 1, 1000, MiB]) {
      const bytes = bytesOf(length, length + 7);
      const { root, blocks } = await chunkBlob(bytes);
      const expected = (await cidOf(bytes)).toString();
      expect(root.toString(), `${length} bytes`).toBe(expected);
      expect(root.toString()).toMatch(/^bafkrei/);
      expect(blocks).toHaveLength(1);
      expect(blocks[0]!.bytes).toEqual(bytes);
      expect((await heliaCid(bytes, true)).cid.toString()).toBe(expected);
    }
  });

  test('boundary: one byte over 1 MiB is two leaves under a root', async () => {
    const bytes = bytesOf(MiB + 1);
    const { root, blocks } = await chunkBlob(bytes);
    expect(blocks.map((b) => b.bytes.byteLength).slice(0, 2)).toEqual([MiB, 1]);
    expect(root.toString()).toBe((await heliaCid(bytes, true)).cid.toString());
  });

  test('behavior: identical chunks are one block, listed once', async () => {
    const bytes = new Uint8Array(5 * MiB);
    const { root, blocks } = await chunkBlob(bytes);
    expect(blocks).toHaveLength(2);
    expect(blockLinks(root, blocks[1]!.bytes)).toHaveLength(5);
    expect(root.toString()).toBe((await heliaCid(bytes, true)).cid.toString());
  });

  test('behavior: the chunks do not depend on how the input buffer is sliced', async () => {
    const big = bytesOf(3 * MiB + 10);
    const view = big.subarray(5, 5 + 2 * MiB + 3);
    const copy = view.slice();
    expect((await chunkBlob(view)).root.toString()).toBe((await chunkBlob(copy)).root.toString());
  });
});

describe('ipfs:// inputs and block CIDs', () => {
  test('default: raw and dag-pb CIDv1 with sha2-256 are accepted', async () => {
    const { root } = await chunkBlob(bytesOf(2 * MiB));
    const small = await cidOf(new Uint8Array([1, 2, 3]));
    expect(parseIpfsUrl(`ipfs://${root}`)).toEqual({ cid: root });
    expect(parseIpfsUrl(`ipfs://${small}`)).toEqual({ cid: small });
    expect(blockCidProblem(root)).toBeUndefined();
  });

  test('error: other strings after ipfs://, CIDv0, other codecs and hashes are refused with a reason', () => {
    expect(parseIpfsUrl('ipfs://not-a-cid')).toMatchObject({
      problem: expect.stringMatching(/not ipfs:\/\/ followed by a CID/),
    });
    expect(parseIpfsUrl('ipfs://')).toMatchObject({ problem: expect.any(String) });
    expect(parseIpfsUrl('ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG')).toMatchObject({
      problem: expect.stringMatching(/CIDv0/),
    });
    // dag-cbor (0x71)
    const cbor = CID.parse('bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy');
    expect(parseIpfsUrl(`ipfs://${cbor}`)).toMatchObject({ problem: expect.stringMatching(/codec 0x71/) });
    // identity multihash
    const identity = CID.parse('bafkqaaa');
    expect(parseIpfsUrl(`ipfs://${identity}`)).toMatchObject({ problem: expect.stringMatching(/sha2-256/) });
  });

  test('default: inputs that are not ipfs:// strings are ordinary inputs', () => {
    for (const value of ['hello', 'IPFS://x', 42, null, { url: 'ipfs://x' }, ['ipfs://x']]) {
      expect(parseIpfsUrl(value)).toBeUndefined();
    }
  });
});
