import { privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { ApiErrorBody, ApiKeyCreated, NonceResponse, SessionResponse } from '../protocol/index.ts';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

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

/** Decode a response with a schema, or throw the API's error message. */
export async function decode<T>(res: Response, schema: { parse(v: unknown): T }): Promise<T> {
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const err = ApiErrorBody.safeParse(body);
    throw new Error(err.success ? `${err.data.error.code}: ${err.data.error.message}` : `HTTP ${res.status}`);
  }
  return schema.parse(body);
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
  const base = new URL(options.url);
  const { nonce } = await decode(await f(`${base.origin}/api/v1/auth/nonce`), NonceResponse);
  const issuedAt = new Date();
  const message = createSiweMessage({
    address: account.address,
    chainId: options.chainId ?? 31337,
    domain: base.host,
    nonce,
    uri: base.origin,
    version: '1',
    issuedAt,
    expirationTime: new Date(issuedAt.getTime() + (options.ttlSeconds ?? 300) * 1000),
    statement: 'Sign in to MonadMesh',
  });
  const signature = await account.signMessage({ message });
  return decode(
    await f(`${base.origin}/api/v1/auth/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message, signature }),
    }),
    SessionResponse,
  );
}

/** Sign in and create an API key (`mmk_...`) for scripts. */
export async function createApiKey(options: SignInOptions & { label?: string }): Promise<ApiKeyCreated> {
  const f = options.fetch ?? fetch;
  const session = await signInWithPrivateKey(options);
  return decode(
    await f(`${new URL(options.url).origin}/api/v1/auth/keys`, {
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
