import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, test } from 'vitest';
import { HELLO_PROOF_DOMAIN, HelloProof, helloProofBytes, signHelloProof } from './hello-proof.ts';
import { NodeToHub } from './mesh.ts';
import { decodeSignature, RECEIPT_DOMAIN } from './receipt.ts';

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
const peerId = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA';

describe('helloProofBytes', () => {
  test('default: the documented layout, byte for byte', () => {
    const text = (s: string) => {
      const b = new TextEncoder().encode(s);
      return b.length.toString(16).padStart(8, '0') + hex(b);
    };
    const at = 1_767_225_600_123;
    expect(hex(helloProofBytes({ peerId, host: 'mesh.test:8787', at }))).toBe(
      text(HELLO_PROOF_DOMAIN) + text(peerId) + text('mesh.test:8787') + at.toString(16).padStart(16, '0'),
    );
    expect(HELLO_PROOF_DOMAIN).not.toBe(RECEIPT_DOMAIN);
  });

  test('behavior: every field changes the bytes; the length prefixes keep fields apart', () => {
    const base = { peerId, host: 'mesh.test', at: 1000 };
    const bytes = hex(helloProofBytes(base));
    for (const changed of [
      { ...base, peerId: `${peerId}x` },
      { ...base, host: 'mesh.test:443' },
      { ...base, at: 1001 },
    ])
      expect(hex(helloProofBytes(changed))).not.toBe(bytes);
    expect(hex(helloProofBytes({ peerId: 'ab', host: 'c', at: 0 }))).not.toBe(
      hex(helloProofBytes({ peerId: 'a', host: 'bc', at: 0 })),
    );
  });

  test('error: at must be a non-negative safe integer', () => {
    for (const at of [-1, 1.5, Number.NaN, 2 ** 53])
      expect(() => helloProofBytes({ peerId, host: 'h', at })).toThrow(RangeError);
  });
});

describe('signHelloProof', () => {
  test('default: a proof that verifies with the peer id key and fits node.hello', async () => {
    const key = await generateKeyPair('Ed25519');
    const id = peerIdFromPrivateKey(key).toString();
    const proof = await signHelloProof({ peerId: id, host: 'mesh.test', at: 42 }, (b) => key.sign(b));
    expect(HelloProof.parse(proof)).toEqual({
      at: 42,
      signature: expect.stringMatching(/^[A-Za-z0-9+/]{86}$/),
    });
    const sig = decodeSignature(proof.signature)!;
    expect(await key.publicKey.verify(helloProofBytes({ peerId: id, host: 'mesh.test', at: 42 }), sig)).toBe(
      true,
    );
    expect(await key.publicKey.verify(helloProofBytes({ peerId: id, host: 'other.test', at: 42 }), sig)).toBe(
      false,
    );
    const hello = {
      type: 'node.hello',
      protocol: '/monadmesh/hub/1.0.0',
      nodeId: id,
      kind: 'headless',
      runtimes: ['js'],
      capacity: 1,
      version: 't',
      peerId: id,
      proof,
    };
    expect(NodeToHub.parse(hello)).toEqual(hello);
    // Signed now when no `at` is given.
    const now = await signHelloProof({ peerId: id, host: 'mesh.test' }, (b) => key.sign(b));
    expect(Math.abs(now.at - Date.now())).toBeLessThan(5000);
  });
});
