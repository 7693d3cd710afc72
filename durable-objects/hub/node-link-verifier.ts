import { verifyMessage } from 'viem';
import { checkNodeLinkMessage, type NodeOwnerLink } from '../../protocol/index.ts';

/**
 * Checks a node's wallet link: the SIWE message must be for `domain` (the host the node
 * connected to), name the node's `peerId`, be within its validity, and be signed by the address
 * it names (an EOA signature, `viem` `verifyMessage`, as for sign-in). Returns the wallet
 * (lowercase) or why the link is refused.
 *
 * @example
 * const link = await verifyNodeLink(hello.owner, { peerId: hello.peerId, domain: 'example.org' });
 * if ('error' in link) standing.ownerError = link.error;
 */
export async function verifyNodeLink(
  link: NodeOwnerLink,
  expected: { peerId: string; domain: string | undefined; now?: Date },
): Promise<{ address: `0x${string}` } | { error: string }> {
  if (!expected.domain) return { error: 'the hub does not know which host this node connected to' };
  let checked: ReturnType<typeof checkNodeLinkMessage>;
  try {
    checked = checkNodeLinkMessage(link.message, {
      peerId: expected.peerId,
      domain: expected.domain,
      ...(expected.now ? { now: expected.now } : {}),
    });
  } catch (err) {
    return { error: `the link cannot be read: ${(err as Error).message}` };
  }
  if ('error' in checked) return checked;
  const valid = await verifyMessage({
    address: checked.address,
    message: link.message,
    signature: link.signature as `0x${string}`,
  }).catch(() => false);
  if (!valid) return { error: `the link is not signed by ${checked.address}` };
  return checked;
}
