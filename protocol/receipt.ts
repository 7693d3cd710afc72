import { base64 } from 'multiformats/bases/base64';
import { z } from 'zod';
import { Cid, cidOf, cidV1Bytes, parseCid } from './cid.ts';
import type { JsonValue, TaskError } from './job.ts';
import { MerkleTree, merkleLeafHash, merkleRootFromProof } from './merkle.ts';
import type { TaskOutcome } from './mesh.ts';

/**
 * Signed receipts: a node signs every outcome it reports with its libp2p Ed25519 key, over bytes
 * that the room can rebuild from what it knows itself (the lease, the input it stored, the output
 * it received, the node's fingerprint class). Verification and anchoring keep the receipt with
 * the result, so anyone holding it can check later which peer claimed which output for which
 * input and code.
 *
 * A node signs once per `task.results` frame, not once per outcome: each outcome's
 * `receiptBytes` is a leaf of an RFC 9162 Merkle tree (`merkle.ts`), and the node signs
 * `receiptBatchBytes` (its peer id, the tree's size and root). A stored receipt keeps its
 * position, the tree's size and the inclusion proof, so it still proves, alone, which peer
 * claimed which output for which input and code: what it proves is unchanged, and a frame of
 * 512 results costs one signature instead of 512.
 */

/** Domain separation: the first field of every receipt, so a receipt is never valid for anything else. */
export const RECEIPT_DOMAIN = 'monadmesh-receipt-v1';

/** Domain separation of the signed batch root, distinct from every other signed message. */
export const RECEIPT_BATCH_DOMAIN = 'monadmesh-receipt-batch-v1';

/** An Ed25519 signature (64 bytes) in base64: RFC 4648 standard alphabet, no padding (86 characters). */
export const ReceiptSignature = z
  .string()
  .regex(/^[A-Za-z0-9+/]{86}$/, 'not a base64 Ed25519 signature (64 bytes, no padding)');
export type ReceiptSignature = z.infer<typeof ReceiptSignature>;

/**
 * A CID string as a node reports it: the canonical base32 CIDv1 it computed (`jsonCid`). Frames
 * carry two per result, so the schema checks the shape only; the room compares it, as a string,
 * with the CID it computes itself, so anything else simply does not match.
 */
const ReportedCid = z.string().regex(/^b[a-z2-7]{20,120}$/, 'not a base32 CIDv1');

/**
 * What a node attaches to each outcome in `task.results`: the receipt fields the frame does not
 * carry otherwise. The leaf it signs is `receiptBytes` of these, the outcome's job, index, lease
 * and `ok`, its fingerprint class and its peer id; the frame's `signature` signs the batch.
 */
export const OutcomeReceipt = z.object({
  /** The attempt of the lease, as leased. */
  attempt: z.number().int().positive(),
  /** The job's code, as leased. */
  codeCid: ReportedCid,
  /** See `inputCidOf`. */
  inputCid: ReportedCid,
  /** See `outcomeHashOf`. */
  outputHash: ReportedCid,
});
export type OutcomeReceipt = z.infer<typeof OutcomeReceipt>;

/** A SHA-256 digest in lowercase hex (a Merkle tree node). */
const Hash32 = z.string().regex(/^[0-9a-f]{64}$/);

/** Where a receipt's leaf sits in the batch its node signed (RFC 9162 inclusion proof). */
export const ReceiptBatch = z.object({
  /** Leaves in the batch (results in the node's frame). */
  size: z
    .number()
    .int()
    .min(1)
    .max(1 << 16),
  /** This receipt's leaf. */
  index: z.number().int().min(0),
  /** The audit path from the leaf to the signed root, nearest sibling first. */
  proof: z.array(Hash32).max(32),
});
export type ReceiptBatch = z.infer<typeof ReceiptBatch>;

/**
 * A checked receipt, as stored with a task and returned with its result: every signed field, the
 * signer and the signature, so it can be checked again without the room.
 */
export const TaskReceipt = z
  .object({
    jobId: z.string(),
    index: z.number().int().nonnegative(),
    attempt: z.number().int().positive(),
    leaseId: z.string(),
    codeCid: Cid,
    /** CIDv1 (raw, sha2-256) of the input's JSON text; see `inputCidOf`. */
    inputCid: Cid,
    /** Whether the node reported an output (true) or an error (false). */
    ok: z.boolean(),
    /** CIDv1 (raw, sha2-256) of the output's (or the error's) JSON text; see `outcomeHashOf`. */
    outputHash: Cid,
    /** The node's runtime fingerprint class; absent (signed as the empty string) when it sent none. */
    fingerprintClass: z
      .string()
      .regex(/^[0-9a-f]{16}$/)
      .optional(),
    /** The signer: a libp2p Ed25519 peer id (`12D3KooW…`). */
    peerId: z.string().min(1).max(128),
    /** The leaf's place in the signed batch. */
    batch: ReceiptBatch,
    /** The signer's Ed25519 signature over `receiptBatchBytes` of the batch. */
    signature: ReceiptSignature,
  })
  .meta({ id: 'TaskReceipt' });
export type TaskReceipt = z.infer<typeof TaskReceipt>;

/** The fields of one receipt, which its leaf hashes. */
export type ReceiptFields = Omit<TaskReceipt, 'signature' | 'batch'>;

const utf8 = new TextEncoder();

/**
 * The exact bytes a node signs for one outcome. Every field is length-prefixed (unsigned 32-bit
 * big-endian byte count, then the bytes), in this order, so no two different receipts encode
 * alike:
 *
 * `"monadmesh-receipt-v1"`, jobId, index (u32), attempt (u32), leaseId, codeCid, inputCid,
 * ok (one byte, 1 or 0), outputHash, fingerprintClass (`""` when absent), peerId.
 *
 * Strings are UTF-8; CIDs are their binary form (so any multibase spelling of a CID signs alike);
 * the two integers are the 4-byte big-endian values themselves, without a length.
 *
 * @example
 * const bytes = receiptBytes({ jobId, index: 0, attempt: 1, leaseId, codeCid, inputCid, ok: true, outputHash, peerId });
 * const signature = await privateKey.sign(bytes);
 */
export function receiptBytes(fields: ReceiptFields): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  const u32 = (n: number, name: string) => {
    if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
      throw new RangeError(`receipt ${name} must be an integer from 0 to 2^32-1, got ${n}`);
    }
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, n);
    parts.push(out);
  };
  const bytes = (b: Uint8Array) => {
    u32(b.length, 'field length');
    parts.push(b);
  };
  const text = (s: string) => bytes(utf8.encode(s));
  const cid = (s: string, name: string) => {
    const parsed = cidBytes(s, name === 'codeCid');
    if (!parsed) throw new TypeError(`receipt ${name} is not a CID: ${s}`);
    bytes(parsed);
  };
  text(RECEIPT_DOMAIN);
  text(fields.jobId);
  u32(fields.index, 'index');
  u32(fields.attempt, 'attempt');
  text(fields.leaseId);
  cid(fields.codeCid, 'codeCid');
  cid(fields.inputCid, 'inputCid');
  parts.push(Uint8Array.of(fields.ok ? 1 : 0));
  cid(fields.outputHash, 'outputHash');
  text(fields.fingerprintClass ?? '');
  text(fields.peerId);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The binary form of a CID string; code CIDs (`keep`) are remembered, the last 64: every receipt
 * of a job names the same one, and decoding base32 was a tenth of the hub's time per result.
 */
const codeCids = new Map<string, Uint8Array>();
function cidBytes(text: string, keep: boolean): Uint8Array | undefined {
  const known = codeCids.get(text);
  if (known) return known;
  const parsed = cidV1Bytes(text) ?? parseCid(text)?.bytes;
  if (parsed && keep) {
    if (codeCids.size >= 64) codeCids.delete(codeCids.keys().next().value!);
    codeCids.set(text, parsed);
  }
  return parsed;
}

/** The Merkle leaf hash of one receipt: `SHA-256(0x00 || receiptBytes(fields))`. */
export function receiptLeaf(fields: ReceiptFields): Uint8Array {
  return merkleLeafHash(receiptBytes(fields));
}

/**
 * The exact bytes a node signs for a batch: length-prefixed (u32 big-endian) UTF-8
 * `"monadmesh-receipt-batch-v1"` and peer id, then the tree's size (u32 big-endian) and its
 * 32-byte root. The size is signed so that a proof names one position in one tree.
 */
export function receiptBatchBytes(batch: {
  peerId: string;
  size: number;
  root: Uint8Array;
}): Uint8Array<ArrayBuffer> {
  if (batch.root.length !== 32) throw new RangeError('a batch root is 32 bytes');
  const domain = utf8.encode(RECEIPT_BATCH_DOMAIN);
  const peer = utf8.encode(batch.peerId);
  const out = new Uint8Array(4 + domain.length + 4 + peer.length + 4 + 32);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const part of [domain, peer]) {
    view.setUint32(at, part.length);
    out.set(part, at + 4);
    at += 4 + part.length;
  }
  view.setUint32(at, batch.size);
  out.set(batch.root, at + 4);
  return out;
}

// Proof hashes as hex, for every receipt of every frame (a table: the hub's hottest code was
// `toString(16).padStart` per byte).
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const toHex = (b: Uint8Array) => {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
};
const fromHex = (h: string) => {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(h.slice(i * 2, i * 2 + 2), 16);
  return out;
};

/**
 * The tree of a batch of receipts (in the order of the frame's results) and the bytes to sign.
 *
 * @example
 * const { signed } = receiptBatch(fields);
 * send({ type: 'task.results', results, signature: encodeSignature(await identity.sign(signed)) });
 */
/**
 * The receipt fields of a results frame's outcomes, in frame order, as node and hub both build
 * them for `receiptBatch` (so both sign and check the same bytes).
 */
export function resultsReceiptFields(
  results: TaskOutcome[],
  peerId: string,
  fingerprintClass?: string,
): ReceiptFields[] {
  return results.map((o) => ({
    jobId: o.jobId,
    index: o.index,
    attempt: o.receipt.attempt,
    leaseId: o.leaseId,
    codeCid: o.receipt.codeCid,
    inputCid: o.receipt.inputCid,
    ok: o.ok,
    outputHash: o.receipt.outputHash,
    ...(fingerprintClass ? { fingerprintClass } : {}),
    peerId,
  }));
}

export function receiptBatch(fields: ReceiptFields[]): {
  tree: MerkleTree;
  signed: Uint8Array<ArrayBuffer>;
  /** The receipt of result `i` once `signature` is known: the fields, the batch place and proof. */
  receipt(i: number, signature: string): TaskReceipt;
} {
  const peerIds = new Set(fields.map((f) => f.peerId));
  if (peerIds.size !== 1) throw new RangeError('a batch holds receipts of exactly one peer');
  const tree = new MerkleTree(fields.map(receiptLeaf));
  const peerId = fields[0]!.peerId;
  return {
    tree,
    signed: receiptBatchBytes({ peerId, size: tree.size, root: tree.root }),
    receipt: (i, signature) => ({
      ...fields[i]!,
      batch: { size: tree.size, index: i, proof: tree.proof(i).map(toHex) },
      signature,
    }),
  };
}

/**
 * The bytes the receipt's signature must verify against (with its peer id's key): the batch
 * bytes of the root its proof leads to, or undefined when the proof leads nowhere. Anyone holding
 * a `TaskReceipt` checks it with this and an Ed25519 verify; nothing else is needed.
 *
 * @example
 * const signed = receiptSignedBytes(receipt);
 * const ok = signed !== undefined && (await publicKeyOf(receipt.peerId).verify(signed, decodeSignature(receipt.signature)));
 */
export function receiptSignedBytes(receipt: TaskReceipt): Uint8Array<ArrayBuffer> | undefined {
  const { signature: _, batch, ...fields } = receipt;
  const root = merkleRootFromProof(receiptLeaf(fields), batch.index, batch.size, batch.proof.map(fromHex));
  return root && receiptBatchBytes({ peerId: fields.peerId, size: batch.size, root });
}

/** The CIDv1 (raw, sha2-256) string of a JSON text's UTF-8 bytes. */
export async function jsonCid(json: string): Promise<string> {
  return (await cidOf(utf8.encode(json))).toString();
}

/**
 * `inputCid` of an inline JSON input: the CIDv1 (raw, sha2-256) of `JSON.stringify(input)` of the
 * input as decoded from its frame. The room stores each input as exactly that text (the API
 * re-serializes what it parsed), and `JSON.stringify(JSON.parse(s)) === s` for such text, so the
 * node and the room hash the same bytes.
 */
export function inputCidOf(input: JsonValue): Promise<string> {
  return jsonCid(JSON.stringify(input));
}

/**
 * The JSON text an outcome is hashed as: `JSON.stringify(output)` for an output, and for an error
 * `{kind, message, stack?}` in that key order (the order the room's schema rebuilds it in).
 */
export function outcomeJson(
  outcome: { ok: true; output: JsonValue } | { ok: false; error: TaskError },
): string {
  if (outcome.ok) return JSON.stringify(outcome.output);
  const { kind, message, stack } = outcome.error;
  return JSON.stringify(stack === undefined ? { kind, message } : { kind, message, stack });
}

/** `outputHash` of an outcome: the CIDv1 (raw, sha2-256) of `outcomeJson(outcome)`. */
export function outcomeHashOf(
  outcome: { ok: true; output: JsonValue } | { ok: false; error: TaskError },
): Promise<string> {
  return jsonCid(outcomeJson(outcome));
}

/** A signature's bytes as receipts carry them (base64, no padding). */
export function encodeSignature(signature: Uint8Array): ReceiptSignature {
  return base64.baseEncode(signature);
}

/** The bytes of a receipt's signature, or undefined when it is not 64 bytes of base64. */
export function decodeSignature(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!ReceiptSignature.safeParse(text).success) return undefined;
  try {
    const bytes = base64.baseDecode(text);
    return bytes.length === 64 ? new Uint8Array(bytes) : undefined;
  } catch {
    return undefined;
  }
}
