import { base32 } from 'multiformats/bases/base32';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { identity } from 'multiformats/hashes/identity';
import { sha256, sha512 } from 'multiformats/hashes/sha2';
import { describe, expect, test } from 'vitest';
import { Cid, cidOf, cidV1Bytes } from './cid.ts';

// `cidV1Bytes` decodes base32 CIDv1 strings itself (for speed); it must accept exactly what
// `CID.parse` accepts as a CIDv1, with the same bytes, and refuse everything else.

const utf8 = new TextEncoder();

describe('cidV1Bytes', () => {
  test('behavior: the same bytes as CID.parse for CIDv1 of several codecs, hashes and spellings', async () => {
    const cids = [
      await cidOf(utf8.encode('hello')),
      CID.createV1(0x70 /* dag-pb */, await sha256.digest(utf8.encode('a dag-pb node'))),
      CID.createV1(raw.code, await sha512.digest(utf8.encode('sha-512'))),
      CID.createV1(raw.code, identity.digest(utf8.encode('tiny'))),
      CID.createV1(0x0129, await sha256.digest(utf8.encode('dag-json, a two-byte codec'))),
    ];
    for (const cid of cids) {
      const text = cid.toString();
      expect(text.startsWith('b')).toBe(true);
      expect(cidV1Bytes(text)).toEqual(cid.bytes);
      expect(Cid.safeParse(text).success).toBe(true);
    }
    const v1 = cids[0]!;
    const base58 = (await import('multiformats/bases/base58')).base58btc;
    expect(cidV1Bytes(v1.toString(base58))).toEqual(v1.bytes);
  });

  test('error: anything but a whole, canonical CIDv1 is refused, as CID.parse refuses it', async () => {
    const good = await cidOf(utf8.encode('x'));
    const bytes = good.bytes;
    const spell = (b: Uint8Array) => base32.encode(b);
    const bad = [
      '',
      'b',
      'bafy',
      good.toString().toUpperCase(),
      `${good.toString()}a`,
      good.toString().slice(0, -1),
      spell(bytes.slice(0, -1)), // digest shorter than it says
      spell(Uint8Array.of(...bytes, 0)), // a byte after the digest
      spell(Uint8Array.of(2, ...bytes.slice(1))), // version 2
      spell(Uint8Array.of(0x81, 0x00, ...bytes.slice(1))), // a padded varint for version 1
      CID.createV1(0x70, good.multihash).toV0().toString(), // CIDv0 (Qm…)
      'b!!!!',
      'not a cid',
    ];
    for (const text of bad) {
      expect(cidV1Bytes(text), text).toBeUndefined();
      expect(Cid.safeParse(text).success, text).toBe(false);
    }
    // A codec past 2^53, which CID.parse reads inexactly (and so re-encodes differently), is refused.
    const huge = 'bah777777777767yseadqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dqo';
    expect(cidV1Bytes(huge)).toBeUndefined();
    expect(Cid.safeParse(huge).success).toBe(false);
  });
});
