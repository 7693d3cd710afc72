import { createSiweMessage, parseSiweMessage, validateSiweMessage } from 'viem/siwe';
import { z } from 'zod';

/** The SIWE resource that names the node a link is for. */
export const nodeLinkResource = (peerId: string) => `urn:monadmesh:node:${peerId}`;

/** How long a link stays valid; the contribute page asks for a new signature after that. */
export const NODE_LINK_TTL_MS = 30 * 24 * 60 * 60 * 1000;

export interface NodeLinkFields {
  peerId: string;
  address: `0x${string}`;
  /** The API's host (`example.org`, `127.0.0.1:8787`): the hub refuses links for another. */
  domain: string;
  /** The page's origin. */
  uri: string;
  chainId: number;
  /** Any 8+ alphanumeric characters; a link is not a login, so no server nonce is needed. */
  nonce: string;
  issuedAt?: Date;
}

/**
 * The message a wallet signs to link a node: an EIP-4361 message (what wallets show readably)
 * with the node's peer id as its only resource and a 30-day expiry. Replaying it is harmless: it
 * only credits that wallet, and only for results signed by that node's key.
 */
export function nodeLinkMessage(f: NodeLinkFields): string {
  const issuedAt = f.issuedAt ?? new Date();
  return createSiweMessage({
    address: f.address,
    domain: f.domain,
    uri: f.uri,
    chainId: f.chainId,
    nonce: f.nonce,
    version: '1',
    issuedAt,
    expirationTime: new Date(issuedAt.getTime() + NODE_LINK_TTL_MS),
    statement: `Count the work of MonadMesh node ${f.peerId} for this account.`,
    resources: [nodeLinkResource(f.peerId)],
  });
}

/**
 * Checks a link message's fields (not its signature: that needs `verifyMessage`): it must be a
 * SIWE message for `domain`, within its validity, naming exactly `peerId`. Returns the wallet
 * address (lowercase) or why not.
 */
export function checkNodeLinkMessage(
  message: string,
  expected: { peerId: string; domain: string; now?: Date },
): { address: `0x${string}` } | { error: string } {
  const fields = parseSiweMessage(message);
  if (!fields.address || !fields.domain || !fields.uri || !fields.version || !fields.chainId) {
    return { error: 'the link is not an EIP-4361 message (address, domain, uri, version, chain id)' };
  }
  if (fields.domain !== expected.domain) {
    return { error: `the link is for ${fields.domain}, not ${expected.domain}` };
  }
  const resources = fields.resources ?? [];
  if (resources.length !== 1 || resources[0] !== nodeLinkResource(expected.peerId)) {
    return { error: `the link does not name this node (${expected.peerId})` };
  }
  const now = expected.now ?? new Date();
  // SIWE's own check ignores issuedAt: a link dated ahead (beyond clock skew) is not yet valid.
  if (fields.issuedAt && fields.issuedAt.getTime() > now.getTime() + 5 * 60_000) {
    return { error: 'the link is dated in the future; check the clock and sign a new one' };
  }
  if (!validateSiweMessage({ message: fields, domain: expected.domain, time: now })) {
    return { error: 'the link has expired or is not valid yet; sign a new one' };
  }
  return { address: fields.address.toLowerCase() as `0x${string}` };
}

/** `GET /api/v1/accounts/{address}`: what a wallet's linked nodes have done. */
export const AccountWork = z
  .object({
    address: z.string(),
    work: z.object({
      /** Results accepted from the wallet's nodes while linked. */
      tasks: z.number().int().min(0),
      /** Task time those results reported, in ms. */
      cpuMs: z.number().min(0),
      nodes: z.array(
        z.object({
          nodeId: z.string(),
          tasks: z.number().int().min(0),
          cpuMs: z.number().min(0),
          lastAt: z.number().int(),
        }),
      ),
    }),
  })
  .meta({ id: 'AccountWork' });
export type AccountWork = z.infer<typeof AccountWork>;
