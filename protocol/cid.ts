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
