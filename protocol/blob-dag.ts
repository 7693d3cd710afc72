/**
 * How a blob becomes blocks: the one chunking every part of MonadMesh uses (client uploads, nodes,
 * the bench), so a blob has the same CID wherever it is made, and the same as IPFS gives it.
 *
 * UnixFS, the layout of `@helia/unixfs` `addBytes` (and of IPIP-499's `unixfs-v1-2025` profile):
 * CIDv1, sha2-256, fixed-size chunks of 1 MiB stored as raw leaves (codec 0x55), a balanced DAG of
 * dag-pb nodes (0x70) with at most 1024 links each. A blob of at most 1 MiB is one raw block,
 * whose CID is `cidOf(bytes)` (`bafkrei…`); a larger one has a dag-pb root (`bafybei…`).
 *
 * Runs in workerd, browsers and Node: no `node:` imports. The importer's own `fixedSize` chunker
 * is not imported because its module also loads the rabin chunker (a CommonJS wasm package); the
 * chunker below yields exactly the same chunks.
 */
import * as dagPb from '@ipld/dag-pb';
import { importBytes } from 'ipfs-unixfs-importer';
import { balanced } from 'ipfs-unixfs-importer/layout';
import type { CID } from 'multiformats/cid';
import { blockCodecs } from './cid.ts';

/** Size of a leaf: every chunk but the last is exactly this long. */
export const BLOB_CHUNK_BYTES = 1024 * 1024;
/** CIDs are version 1. */
export const BLOB_CID_VERSION = 1;
/** Leaves are raw blocks (no UnixFS wrapper). */
export const BLOB_RAW_LEAVES = true;
/** Links per dag-pb node of the balanced layout (Helia's default; more than 1 GiB gets a second level). */
export const BLOB_MAX_CHILDREN = 1024;
/** A blob of one chunk is that raw block itself, not a dag-pb node around it (the importer's default). */
export const BLOB_REDUCE_SINGLE_LEAF = true;

/** One block of a chunked blob. `height` is 0 for raw leaves and 1 + the highest child's for dag-pb nodes. */
export interface BlobBlock {
  cid: CID;
  bytes: Uint8Array;
  height: number;
}

export interface ChunkedBlob {
  /** The blob's CID: a raw block for at most 1 MiB, else a dag-pb node. */
  root: CID;
  /** The blob's length in bytes. */
  size: number;
  /**
   * Every distinct block once, children before parents: sorted by `height`, so uploading them in
   * order (one height at a time) never sends a node before the blocks it links to. The root is last.
   */
  blocks: BlobBlock[];
}

/** Fixed-size chunks, as `ipfs-unixfs-importer/chunker`'s `fixedSize` makes them (an empty blob is one empty chunk). */
function fixedSizeChunker(chunkSize: number) {
  return async function* chunker(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    let pending: Uint8Array[] = [];
    let length = 0;
    let emitted = false;
    for await (const buffer of source) {
      pending.push(buffer);
      length += buffer.byteLength;
      while (length >= chunkSize) {
        const all = concat(pending, length);
        yield all.subarray(0, chunkSize);
        emitted = true;
        pending = length > chunkSize ? [all.subarray(chunkSize)] : [];
        length -= chunkSize;
      }
    }
    if (!emitted || length > 0) yield concat(pending, length);
  };
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** The importer options of a blob, for code that drives `ipfs-unixfs-importer` itself. */
export function blobImporterOptions() {
  return {
    cidVersion: BLOB_CID_VERSION,
    rawLeaves: BLOB_RAW_LEAVES,
    reduceSingleLeafToSelf: BLOB_REDUCE_SINGLE_LEAF,
    chunker: fixedSizeChunker(BLOB_CHUNK_BYTES),
    layout: balanced({ maxChildrenPerNode: BLOB_MAX_CHILDREN }),
  } as const;
}

/**
 * Chunk a blob into its UnixFS DAG, in memory.
 *
 * @example
 * const { root, blocks } = await chunkBlob(bytes);
 * // root.toString() → 'bafybei…' (over 1 MiB) or 'bafkrei…'; upload blocks in order.
 */
export async function chunkBlob(bytes: Uint8Array): Promise<ChunkedBlob> {
  const store = new Map<string, { cid: CID; bytes: Uint8Array }>();
  const { cid: root } = await importBytes(
    bytes,
    {
      put(cid, block) {
        store.set(cid.toString(), { cid, bytes: block as Uint8Array });
        return cid;
      },
    },
    blobImporterOptions(),
  );
  // Walk down from the root: every block once, with its height.
  const heights = new Map<string, number>();
  const heightOf = (cid: CID): number => {
    const key = cid.toString();
    const known = heights.get(key);
    if (known !== undefined) return known;
    const block = store.get(key);
    if (!block) throw new Error(`the importer did not write block ${key}`);
    let height = 0;
    if (cid.code === blockCodecs['dag-pb']) {
      for (const link of dagPb.decode(block.bytes).Links) height = Math.max(height, heightOf(link.Hash) + 1);
    }
    heights.set(key, height);
    return height;
  };
  heightOf(root);
  const blocks = [...heights].map(([key, height]) => ({ ...store.get(key)!, height }));
  // A stable sort keeps the walk's order (file order) within a height.
  blocks.sort((a, b) => a.height - b.height);
  return { root, size: bytes.byteLength, blocks };
}

/** The links of a dag-pb block (none for raw). Throws when the bytes are not dag-pb. */
export function blockLinks(cid: CID, bytes: Uint8Array): CID[] {
  if (cid.code !== blockCodecs['dag-pb']) return [];
  return dagPb.decode(bytes).Links.map((link) => link.Hash);
}
