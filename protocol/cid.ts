import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { z } from 'zod';

/** Parse a CID string, or return undefined when it is not one. */
export function parseCid(text: string): CID | undefined {
  try {
    return CID.parse(text);
  } catch {
    return undefined;
  }
}

/** A CIDv1 string (base32 `b...`), as produced by `PUT /blobs`. */
export const Cid = z
  .string()
  .min(8)
  .max(128)
  .refine((s) => parseCid(s)?.version === 1, { message: 'not a valid CIDv1 string' })
  .meta({
    description: 'CIDv1 (raw codec, sha2-256), base32',
    example: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
  });
export type Cid = z.infer<typeof Cid>;

/** The CIDv1 (raw codec, sha2-256) of some bytes: what IPFS gives a single raw block. */
export async function cidOf(bytes: Uint8Array): Promise<CID> {
  const digest = await sha256.digest(bytes);
  return CID.createV1(raw.code, digest);
}

/** True when `bytes` hash to `cid` (sha2-256 only). */
export async function verifyCid(cid: string | CID, bytes: Uint8Array): Promise<boolean> {
  const parsed = typeof cid === 'string' ? parseCid(cid) : cid;
  if (!parsed || parsed.multihash.code !== sha256.code) return false;
  const digest = await sha256.digest(bytes);
  return equalBytes(digest.digest, parsed.multihash.digest);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Codecs of the blocks the origin stores: raw bytes (leaves, small blobs) and dag-pb (UnixFS nodes). */
export const blockCodecs = { raw: 0x55, 'dag-pb': 0x70 } as const;
export const BlockCodec = z.enum(['raw', 'dag-pb']);
export type BlockCodec = z.infer<typeof BlockCodec>;

/** The name of a block codec we store, or undefined for any other codec. */
export function blockCodecName(code: number): BlockCodec | undefined {
  return code === blockCodecs.raw ? 'raw' : code === blockCodecs['dag-pb'] ? 'dag-pb' : undefined;
}

/**
 * Why `cid` cannot name a block of ours, or undefined when it can: a CIDv1 whose multihash is
 * sha2-256 (32 bytes) and whose codec is raw (0x55) or dag-pb (0x70).
 */
export function blockCidProblem(cid: CID): string | undefined {
  if (cid.version !== 1) return `${cid} is a CIDv${cid.version}; blocks are named by CIDv1`;
  if (cid.multihash.code !== sha256.code || cid.multihash.digest.byteLength !== 32) {
    return `${cid} is not hashed with sha2-256 (multihash 0x${cid.multihash.code.toString(16)})`;
  }
  if (!blockCodecName(cid.code)) {
    return `${cid} has codec 0x${cid.code.toString(16)}; blocks are raw (0x55) or dag-pb (0x70)`;
  }
  return undefined;
}

/** The scheme of an input that names a content-addressed blob instead of holding the value. */
export const IPFS_URL_PREFIX = 'ipfs://';

/**
 * An `ipfs://<CID>` input: the root CID when it names a block we can store, or the reason it
 * cannot. Anything that is not a string starting with `ipfs://` is an ordinary inline input
 * (`undefined`).
 */
export function parseIpfsUrl(value: unknown): { cid: CID } | { problem: string } | undefined {
  if (typeof value !== 'string' || !value.startsWith(IPFS_URL_PREFIX)) return undefined;
  const text = value.slice(IPFS_URL_PREFIX.length);
  const cid = parseCid(text);
  if (!cid) return { problem: `'${value.slice(0, 120)}' is not ipfs:// followed by a CID` };
  const problem = blockCidProblem(cid);
  return problem ? { problem } : { cid };
}
