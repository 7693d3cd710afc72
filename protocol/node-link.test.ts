import { verifyMessage } from 'viem';
import { expect, test } from 'vitest';
import { DEV_PRIVATE_KEYS, linkNodeWithPrivateKey } from '../client/index.ts';
import { checkNodeLinkMessage, NODE_LINK_TTL_MS, nodeLinkMessage, nodeLinkResource } from './node-link.ts';

const peerId = '12D3KooWLinkedNode111111111111111111111111111111111';

test('default: a signed link names the node, verifies, and is read back as the wallet address', async () => {
  const link = await linkNodeWithPrivateKey({
    url: 'http://127.0.0.1:8787',
    peerId,
    privateKey: DEV_PRIVATE_KEYS[0],
  });
  expect(link.message).toContain(`Count the work of MonadMesh node ${peerId} for this account.`);
  expect(link.message).toContain(nodeLinkResource(peerId));
  const checked = checkNodeLinkMessage(link.message, { peerId, domain: '127.0.0.1:8787' });
  expect(checked).toEqual({ address: '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266' });
  if (!('address' in checked)) throw new Error('unreachable');
  expect(
    await verifyMessage({
      address: checked.address,
      message: link.message,
      signature: link.signature as `0x${string}`,
    }),
  ).toBe(true);
});

test('error: another node, another host, an expired or future link, or not a SIWE message are refused with the reason', () => {
  const base = {
    peerId,
    address: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266' as const,
    domain: 'mesh.example',
    uri: 'https://mesh.example',
    chainId: 10143,
    nonce: 'abcdefgh1234',
    issuedAt: new Date('2026-11-01T00:00:00Z'),
  };
  const message = nodeLinkMessage(base);
  const now = new Date('2026-11-02T00:00:00Z');
  expect(checkNodeLinkMessage(message, { peerId, domain: 'mesh.example', now })).toHaveProperty('address');
  expect(checkNodeLinkMessage(message, { peerId: `${peerId}x`, domain: 'mesh.example', now })).toEqual({
    error: expect.stringContaining('does not name this node'),
  });
  expect(checkNodeLinkMessage(message, { peerId, domain: 'evil.example', now })).toEqual({
    error: 'the link is for mesh.example, not evil.example',
  });
  const later = new Date(base.issuedAt.getTime() + NODE_LINK_TTL_MS + 1000);
  expect(checkNodeLinkMessage(message, { peerId, domain: 'mesh.example', now: later })).toEqual({
    error: expect.stringContaining('expired'),
  });
  const before = new Date('2026-10-01T00:00:00Z');
  expect(checkNodeLinkMessage(message, { peerId, domain: 'mesh.example', now: before })).toHaveProperty(
    'error',
  );
  expect(checkNodeLinkMessage('hello', { peerId, domain: 'mesh.example', now })).toEqual({
    error: expect.stringContaining('not an EIP-4361 message'),
  });
});
