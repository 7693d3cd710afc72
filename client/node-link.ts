import { privateKeyToAccount } from 'viem/accounts';
import { generateSiweNonce } from 'viem/siwe';
import { type NodeOwnerLink, nodeLinkMessage } from '../protocol/index.ts';
import { type Eip1193Provider, personalSign, walletAccount } from './sign-in.ts';

interface LinkTarget {
  /** The API the node connects to (its host must be the link's domain). */
  url: string;
  /** The node's libp2p peer id. */
  peerId: string;
  chainId?: number;
}

function fields(target: LinkTarget, address: `0x${string}`, chainId: number) {
  const api = new URL(target.url);
  return {
    peerId: target.peerId,
    address,
    domain: api.host,
    uri: api.origin,
    chainId,
    nonce: generateSiweNonce(),
  };
}

/**
 * Have a browser wallet sign that a node's work counts for it (`personal_sign` of an EIP-4361
 * message naming the node; no transaction, no gas). Give the result to the node as `owner`.
 *
 * @example const owner = await linkNodeWithEip1193({ url: location.origin, peerId, provider })
 */
export async function linkNodeWithEip1193(
  options: LinkTarget & { provider: Eip1193Provider },
): Promise<NodeOwnerLink> {
  const { address, chainId } = await walletAccount(options.provider, options.chainId);
  const message = nodeLinkMessage(fields(options, address, chainId));
  const signature = await personalSign(options.provider, message, address);
  return { message, signature };
}

/** The same from a script, with the wallet's private key (e.g. for a headless node's `--owner-link`). */
export async function linkNodeWithPrivateKey(
  options: LinkTarget & { privateKey: `0x${string}` },
): Promise<NodeOwnerLink> {
  const account = privateKeyToAccount(options.privateKey);
  const message = nodeLinkMessage(fields(options, account.address, options.chainId ?? 31337));
  return { message, signature: await account.signMessage({ message }) };
}
