import { z } from 'zod';
import { encodeSignature, ReceiptSignature } from './receipt.ts';

/**
 * Proof of key at hello: a node that names a `peerId` in `node.hello` signs, with that peer id's
 * Ed25519 key, the peer id, the host it connects to and the time. The hub checks it before it
 * takes the peer id (and the node id bound to it) as the node's: without it anyone could say
 * hello as another node and have leases lost or results refused in its name.
 */

/** Domain separation: the first field of the signed bytes, distinct from `RECEIPT_DOMAIN`. */
export const HELLO_PROOF_DOMAIN = 'monadmesh-hello-v1';

/** How far (either way) a proof's `at` may be from the hub's clock. */
export const HELLO_PROOF_MAX_SKEW_MS = 5 * 60_000;

/**
 * `node.hello`'s `proof`: when it was signed (ms since the epoch, the node's clock) and the
 * Ed25519 signature over `helloProofBytes`, in base64 (RFC 4648 standard alphabet, no padding,
 * as receipts carry theirs).
 */
export const HelloProof = z.object({
  at: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  signature: ReceiptSignature,
});
export type HelloProof = z.infer<typeof HelloProof>;

/** What a hello proof signs. */
export interface HelloProofFields {
  /** The signer: a libp2p Ed25519 peer id (`12D3KooW…`). */
  peerId: string;
  /** The host of the API the node connects to (`new URL(api).host`, with the port if any). */
  host: string;
  /** When it was signed, ms since the epoch. */
  at: number;
}

const utf8 = new TextEncoder();

/**
 * The exact bytes a node signs to prove its key at hello. Like `receiptBytes`, each string is
 * length-prefixed (unsigned 32-bit big-endian byte count, then its UTF-8 bytes):
 *
 * `"monadmesh-hello-v1"`, peerId, host, then `at` as an unsigned 64-bit big-endian integer.
 *
 * @example
 * const bytes = helloProofBytes({ peerId, host: new URL(api).host, at: Date.now() });
 */
export function helloProofBytes(fields: HelloProofFields): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(fields.at) || fields.at < 0) {
    throw new RangeError(`hello proof at must be a non-negative safe integer, got ${fields.at}`);
  }
  const strings = [HELLO_PROOF_DOMAIN, fields.peerId, fields.host].map((s) => utf8.encode(s));
  const out = new Uint8Array(strings.reduce((n, s) => n + 4 + s.length, 0) + 8);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const s of strings) {
    view.setUint32(offset, s.length);
    out.set(s, offset + 4);
    offset += 4 + s.length;
  }
  view.setBigUint64(offset, BigInt(fields.at));
  return out;
}

/**
 * A hello proof for `peerId` connecting to `host`, signed now (or at `at`) by `sign` (the node's
 * Ed25519 key, e.g. `NodeIdentity.sign` or a libp2p private key's `sign`).
 *
 * @example
 * const proof = await signHelloProof({ peerId, host: new URL(api).host }, (b) => identity.sign(b));
 * send({ type: 'node.hello', ..., peerId, proof });
 */
export async function signHelloProof(
  fields: Omit<HelloProofFields, 'at'> & { at?: number },
  sign: (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>,
): Promise<HelloProof> {
  const at = fields.at ?? Date.now();
  const signature = await sign(helloProofBytes({ peerId: fields.peerId, host: fields.host, at }));
  return { at, signature: encodeSignature(signature) };
}
