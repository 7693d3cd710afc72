import type { MiddlewareHandler } from 'hono';
import { sign, verify } from 'hono/jwt';
import { account } from '../durable-objects/stubs.ts';
import { API_KEY_PREFIX, MeshError, SESSION_TTL_SECONDS } from '../protocol/index.ts';
import type { AppEnv } from './app-env.ts';
import type { Env } from './env.ts';

function secretOf(env: Env): string {
  const secret = env.SESSION_SECRET;
  if (!secret || secret.length < 16) {
    throw new MeshError(
      'misconfigured',
      'SESSION_SECRET is not set (at least 16 characters): `wrangler secret put SESSION_SECRET` in production, .dev.vars locally',
    );
  }
  return secret;
}

/** A signed session token (HS256 JWT) for a wallet that signed in with SIWE. */
export async function issueSession(env: Env, address: string): Promise<{ token: string; expiresAt: number }> {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + SESSION_TTL_SECONDS;
  const token = await sign({ sub: address, iat: now, exp, typ: 'session' }, secretOf(env), 'HS256');
  return { token, expiresAt: exp * 1000 };
}

/** `mmk_<address hex>_<secret>` → the owner, when the secret is a live key of that wallet. */
async function addressFromKey(env: Env, key: string): Promise<string | undefined> {
  const match = /^mmk_([0-9a-f]{40})_([0-9a-f]{64})$/.exec(key);
  if (!match) return undefined;
  const address = `0x${match[1]}`;
  return (await account(env, address).verifyKey(match[2]!)) ? address : undefined;
}

async function addressFromSession(env: Env, token: string): Promise<string | undefined> {
  try {
    const payload = await verify(token, secretOf(env), 'HS256');
    return payload.typ === 'session' && typeof payload.sub === 'string' ? payload.sub : undefined;
  } catch (err) {
    if (err instanceof MeshError) throw err;
    return undefined;
  }
}

/**
 * Requires `Authorization: Bearer <session token | API key>`; WebSocket upgrades may pass the
 * same value as `?token=` because browsers cannot set headers on them. Sets `address`.
 */
export const requireAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  // Several routers guard overlapping paths (`/jobs`, `/jobs/*` here and in the anchors' router):
  // a request they all match is checked once, not once per router (each check of an API key is a
  // call to its Account object).
  if (c.get('address') !== undefined) {
    await next();
    return;
  }
  const header = c.req.header('Authorization');
  const fromQuery = c.req.header('Upgrade')?.toLowerCase() === 'websocket' ? c.req.query('token') : undefined;
  const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : fromQuery;
  if (!token) {
    throw new MeshError(
      'unauthorized',
      'sign in first: send Authorization: Bearer <session token or API key>',
    );
  }
  const address = token.startsWith(API_KEY_PREFIX)
    ? await addressFromKey(c.env, token)
    : await addressFromSession(c.env, token);
  if (!address) throw new MeshError('unauthorized', 'the session token or API key is invalid or expired');
  c.set('address', address);
  await next();
};
