import { privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { ApiKeyCreated, NonceResponse, SessionResponse } from '../protocol/index.ts';
import { decode, type FetchLike, send } from './http.ts';

export type { FetchLike } from './http.ts';

export interface SignInOptions {
  /** Base URL of the API, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** `0x`-prefixed private key of the wallet that signs in. */
  privateKey: `0x${string}`;
  chainId?: number;
  /** Seconds the SIWE message stays valid (default 300). */
  ttlSeconds?: number;
  fetch?: FetchLike;
}

/** The part of an EIP-1193 provider (MetaMask, Coinbase Wallet, any injected wallet) sign-in needs. */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

/** The EIP-4361 message for `address` to sign, bound to the API's host and a fresh nonce. */
async function siweMessage(
  url: string,
  address: `0x${string}`,
  chainId: number,
  ttlSeconds: number,
  f: FetchLike,
) {
  const base = new URL(url);
  const { nonce } = await decode(await send(f, `${base.origin}/api/v1/auth/nonce`), NonceResponse);
  const issuedAt = new Date();
  return createSiweMessage({
    address,
    chainId,
    domain: base.host,
    nonce,
    uri: base.origin,
    version: '1',
    issuedAt,
    expirationTime: new Date(issuedAt.getTime() + ttlSeconds * 1000),
    statement: 'Sign in to MonadMesh',
  });
}

async function verify(
  url: string,
  message: string,
  signature: string,
  f: FetchLike,
): Promise<SessionResponse> {
  return decode(
    await send(f, `${new URL(url).origin}/api/v1/auth/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message, signature }),
    }),
    SessionResponse,
  );
}

/**
 * Sign in from a browser wallet: ask the provider for an account, have it sign the SIWE message
 * (`personal_sign`), and exchange the signature for a session token.
 *
 * @example const { token } = await signInWithEip1193({ url: location.origin, provider: window.ethereum })
 */
export async function signInWithEip1193(options: {
  url: string;
  provider: Eip1193Provider;
  chainId?: number;
  fetch?: FetchLike;
}): Promise<SessionResponse> {
  const f = options.fetch ?? fetch;
  const { address, chainId } = await walletAccount(options.provider, options.chainId);
  const message = await siweMessage(options.url, address, chainId, 300, f);
  return verify(options.url, message, await personalSign(options.provider, message, address), f);
}

/** The wallet's first account (asking the user to approve), and its chain unless given. */
export async function walletAccount(
  provider: Eip1193Provider,
  chainId?: number,
): Promise<{ address: `0x${string}`; chainId: number }> {
  const accounts = (await provider.request({ method: 'eth_requestAccounts' })) as string[];
  const address = accounts[0] as `0x${string}` | undefined;
  if (!address) throw new Error('the wallet returned no account');
  return {
    address,
    chainId: chainId ?? Number.parseInt((await provider.request({ method: 'eth_chainId' })) as string, 16),
  };
}

/** EIP-191 signature of `message` by `address`, through the wallet. */
export async function personalSign(
  provider: Eip1193Provider,
  message: string,
  address: `0x${string}`,
): Promise<string> {
  return (await provider.request({ method: 'personal_sign', params: [message, address] })) as string;
}

/**
 * Sign in with Ethereum from a script: fetch a nonce, sign an EIP-4361 message with the key,
 * and exchange it for a session token.
 *
 * @example const { token } = await signInWithPrivateKey({ url, privateKey: ANVIL_KEYS[0] })
 */
export async function signInWithPrivateKey(options: SignInOptions): Promise<SessionResponse> {
  const f = options.fetch ?? fetch;
  const account = privateKeyToAccount(options.privateKey);
  const message = await siweMessage(
    options.url,
    account.address,
    options.chainId ?? 31337,
    options.ttlSeconds ?? 300,
    f,
  );
  return verify(options.url, message, await account.signMessage({ message }), f);
}

/** Sign in and create an API key (`mmk_...`) for scripts. */
export async function createApiKey(options: SignInOptions & { label?: string }): Promise<ApiKeyCreated> {
  const f = options.fetch ?? fetch;
  const session = await signInWithPrivateKey(options);
  return decode(
    await send(f, `${new URL(options.url).origin}/api/v1/auth/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}` },
      body: JSON.stringify(options.label === undefined ? {} : { label: options.label }),
    }),
    ApiKeyCreated,
  );
}

/** The well-known anvil/hardhat development accounts (public test keys: never use them for value). */
export const DEV_PRIVATE_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
] as const;
