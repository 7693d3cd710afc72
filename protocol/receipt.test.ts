import { generateKeyPair } from '@libp2p/crypto/keys';
import { CID } from 'multiformats/cid';
import { describe, expect, test } from 'vitest';
import { cidOf } from './cid.ts';
import type { JsonValue } from './job.ts';
import {
  decodeSignature,
  encodeSignature,
  inputCidOf,
  outcomeHashOf,
  outcomeJson,
  RECEIPT_BATCH_DOMAIN,
  RECEIPT_DOMAIN,
  type ReceiptFields,
  receiptBatch,
  receiptBatchBytes,
  receiptBytes,
  receiptSignedBytes,
  TaskReceipt,
} from './receipt.ts';

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
const cid = async (text: string) => (await cidOf(new TextEncoder().encode(text))).toString();

const base: ReceiptFields = {
  jobId: '7d7ec5f6-2f43-4d2a-9bde-0f3c3e4ab001',
  index: 7,
  attempt: 2,
  leaseId: '0b8f2c1e-44a6-4f8f-8d40-6cf1d1c4e0a2',
  codeCid: await cid('export default (x) => x * 2'),
  inputCid: await cid('21'),
  ok: true,
  outputHash: await cid('42'),
  fingerprintClass: '0123456789abcdef',
  peerId: '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA',
};

describe('receiptBytes', () => {
  test('default: the documented layout, byte for byte', () => {
    const bytes = receiptBytes(base);
    const u32 = (n: number) => n.toString(16).padStart(8, '0');
    const text = (s: string) => u32(new TextEncoder().encode(s).length) + hex(new TextEncoder().encode(s));
    const cidField = (s: string) => u32(CID.parse(s).bytes.length) + hex(CID.parse(s).bytes);
    expect(hex(bytes)).toBe(
      text(RECEIPT_DOMAIN) +
        text(base.jobId) +
        u32(7) +
        u32(2) +
        text(base.leaseId) +
        cidField(base.codeCid) +
        cidField(base.inputCid) +
        '01' +
        cidField(base.outputHash) +
        text('0123456789abcdef') +
        text(base.peerId),
    );
    expect(new TextDecoder().decode(bytes.subarray(4, 24))).toBe('monadmesh-receipt-v1');
    // Same fields, same bytes.
    expect(hex(receiptBytes({ ...base }))).toBe(hex(bytes));
  });

  test('behavior: changing any field changes the bytes', async () => {
    const variants: Partial<ReceiptFields>[] = [
      { jobId: `${base.jobId}x` },
      { index: 8 },
      { attempt: 3 },
      { leaseId: `${base.leaseId}x` },
      { codeCid: await cid('export default (x) => x * 3') },
      { inputCid: await cid('22') },
      { ok: false },
      { outputHash: await cid('43') },
      { fingerprintClass: '0123456789abcdee' },
      { fingerprintClass: undefined },
      { peerId: '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SB' },
    ];
    const seen = new Set([hex(receiptBytes(base))]);
    for (const v of variants) seen.add(hex(receiptBytes({ ...base, ...v })));
    expect(seen.size).toBe(variants.length + 1);
  });

  test('behavior: fields cannot slide into each other', () => {
    const a = receiptBytes({ ...base, jobId: 'ab', leaseId: 'c' });
    const b = receiptBytes({ ...base, jobId: 'a', leaseId: 'bc' });
    expect(hex(a)).not.toBe(hex(b));
    const c = receiptBytes({ ...base, index: 1, attempt: 23 });
    const d = receiptBytes({ ...base, index: 12, attempt: 3 });
    expect(hex(c)).not.toBe(hex(d));
  });

  test('behavior: a CID signs alike in any multibase spelling', async () => {
    const parsed = CID.parse(base.inputCid);
    const base36 = (await import('multiformats/bases/base36')).base36;
    expect(hex(receiptBytes({ ...base, inputCid: parsed.toString(base36) }))).toBe(hex(receiptBytes(base)));
  });

  test('error: refuses what it cannot encode unambiguously', () => {
    expect(() => receiptBytes({ ...base, index: 1.5 })).toThrow(/index must be an integer/);
    expect(() => receiptBytes({ ...base, attempt: -1 })).toThrow(/attempt must be an integer/);
    expect(() => receiptBytes({ ...base, index: 2 ** 32 })).toThrow(/index/);
    expect(() => receiptBytes({ ...base, outputHash: 'not-a-cid' })).toThrow(/outputHash is not a CID/);
  });
});

describe('inputCidOf and outcomeHashOf', () => {
  test('default: CIDv1 raw sha2-256 of the JSON text', async () => {
    expect(await inputCidOf({ a: [1, 'two', null] })).toBe(await cid('{"a":[1,"two",null]}'));
    expect(await outcomeHashOf({ ok: true, output: 42 })).toBe(await cid('42'));
    const parsed = CID.parse(await inputCidOf(1));
    expect(parsed.version).toBe(1);
    expect(parsed.code).toBe(0x55); // raw
    expect(parsed.multihash.code).toBe(0x12); // sha2-256
  });

  test('behavior: the text the room stores hashes like the value a node decodes from it', async () => {
    // The room stores JSON.stringify(input); the node hashes JSON.stringify(JSON.parse(that)).
    const tricky: JsonValue[] = [
      { b: 1, a: 2, 10: 'x', 2: 'y', ['__proto__']: 'own', 'é\u2028': '\ud800' },
      [-0, 1e21, 1e-7, 0.1 + 0.2, 2 ** 53 + 1, -1.5e-300],
      'line\nbreak "quoted" \\ \u0000',
      { nested: { deep: [[[{}]]] } },
    ];
    expect(Object.keys(tricky[0]!)).toContain('__proto__');
    for (const input of tricky) {
      const stored = JSON.stringify(input);
      expect(JSON.stringify(JSON.parse(stored))).toBe(stored);
      expect(await inputCidOf(JSON.parse(stored) as JsonValue)).toBe(await cid(stored));
    }
  });

  test('behavior: an error hashes the same whatever order its fields came in', async () => {
    const a = { kind: 'user_error', message: 'm', stack: 's' } as const;
    const b = { stack: 's', message: 'm', kind: 'user_error' } as const;
    expect(outcomeJson({ ok: false, error: b })).toBe('{"kind":"user_error","message":"m","stack":"s"}');
    expect(await outcomeHashOf({ ok: false, error: a })).toBe(await outcomeHashOf({ ok: false, error: b }));
    expect(outcomeJson({ ok: false, error: { kind: 'timeout', message: 'm', stack: undefined } })).toBe(
      '{"kind":"timeout","message":"m"}',
    );
    // An output that looks like an error is still told apart by the `ok` field of the receipt.
    expect(outcomeJson({ ok: true, output: { kind: 'user_error', message: 'm' } })).toBe(
      outcomeJson({ ok: false, error: { kind: 'user_error', message: 'm' } }),
    );
    expect(hex(receiptBytes({ ...base, ok: true }))).not.toBe(hex(receiptBytes({ ...base, ok: false })));
  });
});

describe('signatures and the TaskReceipt schema', () => {
  test('default: 64 bytes round-trip through base64 without padding', () => {
    const sig = Uint8Array.from({ length: 64 }, (_, i) => i * 3);
    const text = encodeSignature(sig);
    expect(text).toHaveLength(86);
    expect(text).not.toContain('=');
    expect(decodeSignature(text)).toEqual(sig);
    const batch = { size: 1, index: 0, proof: [] };
    expect(TaskReceipt.parse({ ...base, batch, signature: text })).toEqual({
      ...base,
      batch,
      signature: text,
    });
  });

  test('error: anything but 64 bytes of unpadded base64 is no signature', () => {
    const good = encodeSignature(new Uint8Array(64));
    expect(decodeSignature(`${good}==`)).toBeUndefined();
    expect(decodeSignature(good.slice(1))).toBeUndefined();
    expect(decodeSignature(encodeSignature(new Uint8Array(63)))).toBeUndefined();
    expect(decodeSignature(`${good.slice(0, 85)}-`)).toBeUndefined();
    const batch = { size: 1, index: 0, proof: [] };
    expect(TaskReceipt.safeParse({ ...base, batch, signature: 'abc' }).success).toBe(false);
    expect(TaskReceipt.safeParse({ ...base, batch, fingerprintClass: 'XYZ', signature: good }).success).toBe(
      false,
    );
    expect(
      TaskReceipt.safeParse({ ...base, batch: { ...batch, proof: ['zz'] }, signature: good }).success,
    ).toBe(false);
  });
});

const identity = await generateKeyPair('Ed25519');

describe('receiptBatch and receiptSignedBytes', () => {
  const peerId = base.peerId;
  const fieldsOf = (i: number): ReceiptFields => ({
    ...base,
    index: i,
    leaseId: `${base.leaseId.slice(0, -3)}${String(i).padStart(3, '0')}`,
  });

  test('default: one signature over a batch; every receipt alone leads back to the signed bytes', async () => {
    const fields = Array.from({ length: 13 }, (_, i) => fieldsOf(i));
    const batch = receiptBatch(fields);
    const signature = encodeSignature(await identity.sign(batch.signed));
    expect(hex(batch.signed)).toBe(hex(receiptBatchBytes({ peerId, size: 13, root: batch.tree.root })));
    for (let i = 0; i < fields.length; i++) {
      const receipt = batch.receipt(i, signature);
      expect(TaskReceipt.parse(receipt)).toEqual(receipt);
      expect(receipt.batch).toMatchObject({ size: 13, index: i });
      const signed = receiptSignedBytes(receipt);
      expect(signed && hex(signed)).toBe(hex(batch.signed));
      expect(await identity.publicKey.verify(signed!, decodeSignature(signature)!)).toBe(true);
    }
  });

  test('behavior: the signed bytes are the documented layout', () => {
    const root = Uint8Array.from({ length: 32 }, (_, i) => i);
    const u32 = (n: number) => n.toString(16).padStart(8, '0');
    const text = (s: string) => u32(new TextEncoder().encode(s).length) + hex(new TextEncoder().encode(s));
    expect(hex(receiptBatchBytes({ peerId, size: 7, root }))).toBe(
      text(RECEIPT_BATCH_DOMAIN) + text(peerId) + u32(7) + hex(root),
    );
    expect(RECEIPT_BATCH_DOMAIN).not.toBe(RECEIPT_DOMAIN);
  });

  test('error: a receipt whose fields, place or proof were changed leads to other bytes or none', async () => {
    const fields = Array.from({ length: 5 }, (_, i) => fieldsOf(i));
    const batch = receiptBatch(fields);
    const good = batch.receipt(3, encodeSignature(new Uint8Array(64)));
    const want = hex(batch.signed);
    const bytesOf = (r: typeof good) => {
      const b = receiptSignedBytes(r);
      return b && hex(b);
    };
    expect(bytesOf(good)).toBe(want);
    expect(bytesOf({ ...good, outputHash: base.inputCid })).not.toBe(want);
    expect(bytesOf({ ...good, ok: false })).not.toBe(want);
    expect(bytesOf({ ...good, peerId: '12D3KooWAnother' })).not.toBe(want);
    expect(bytesOf({ ...good, batch: { ...good.batch, index: 2 } })).not.toBe(want);
    expect(bytesOf({ ...good, batch: { ...good.batch, size: 6 } })).not.toBe(want);
    expect(bytesOf({ ...good, batch: { ...good.batch, proof: good.batch.proof.slice(1) } })).not.toBe(want);
    expect(bytesOf({ ...good, batch: { ...good.batch, index: 9 } })).toBeUndefined();
  });

  test("error: a batch holds one peer's receipts", () => {
    expect(() => receiptBatch([fieldsOf(0), { ...fieldsOf(1), peerId: '12D3KooWAnother' }])).toThrow(
      /one peer/,
    );
  });
});
