import { base64 } from 'multiformats/bases/base64';
import { z } from 'zod';
import { Cid, cidOf, parseCid } from './cid.ts';
import type { JsonValue, TaskError } from './job.ts';

/**
 * Signed receipts: a node signs every outcome it reports with its libp2p Ed25519 key, over bytes
 * that the room can rebuild from what it knows itself (the lease, the input it stored, the output
 * it received, the node's fingerprint class). Verification and anchoring keep the receipt with
 * the result, so anyone holding it can check later which peer claimed which output for which
 * input and code.
 */

/** Domain separation: the first field of every receipt, so a receipt signature is never valid for anything else. */
export const RECEIPT_DOMAIN = 'monadmesh-receipt-v1';

/** An Ed25519 signature (64 bytes) in base64: RFC 4648 standard alphabet, no padding (86 characters). */
export const ReceiptSignature = z
  .string()
  .regex(/^[A-Za-z0-9+/]{86}$/, 'not a base64 Ed25519 signature (64 bytes, no padding)');
export type ReceiptSignature = z.infer<typeof ReceiptSignature>;

/** What a node attaches to each outcome in `task.results`: its signature and the two hashes it signed. */
export const OutcomeReceipt = z.object({
  signature: ReceiptSignature,
  /** See `inputCidOf`. */
  inputCid: Cid,
  /** See `outcomeHashOf`. */
  outputHash: Cid,
});
export type OutcomeReceipt = z.infer<typeof OutcomeReceipt>;

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
    signature: ReceiptSignature,
  })
  .meta({ id: 'TaskReceipt' });
export type TaskReceipt = z.infer<typeof TaskReceipt>;

/** The signed part of a receipt. */
export type ReceiptFields = Omit<TaskReceipt, 'signature'>;

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
    const parsed = parseCid(s);
    if (!parsed) throw new TypeError(`receipt ${name} is not a CID: ${s}`);
    bytes(parsed.bytes);
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
