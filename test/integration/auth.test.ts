import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { describe, expect, test, vi } from 'vitest';
import { DEV_PRIVATE_KEYS, signInWithEip1193 } from '../../client/sign-in.ts';
import { Account } from '../../durable-objects/account.ts';
import { api, apiKey, call, ORIGIN, signIn, submit } from './helpers.ts';

const wallet = privateKeyToAccount(DEV_PRIVATE_KEYS[0]);
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string } }).error;

async function nonce(): Promise<string> {
  return ((await (await api('/auth/nonce')).json()) as { nonce: string }).nonce;
}

async function signed(overrides: Partial<Parameters<typeof createSiweMessage>[0]> = {}) {
  const message = createSiweMessage({
    address: wallet.address,
    chainId: 31337,
    domain: new URL(ORIGIN).host,
    nonce: await nonce(),
    uri: ORIGIN,
    version: '1',
    issuedAt: new Date(),
    ...overrides,
  });
  return { message, signature: await wallet.signMessage({ message }) };
}

const verify = (body: unknown) => api('/auth/verify', { method: 'POST', body: JSON.stringify(body) });

describe('sign-in with Ethereum', () => {
  test('default: a signed message gives a session that can submit', async () => {
    const res = await verify(await signed());
    expect(res.status).toBe(200);
    const session = (await res.json()) as { token: string; address: string };
    expect(session.address).toBe(wallet.address.toLowerCase());
    expect(await submit(session.token, {})).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('behavior: a browser wallet (EIP-1193 provider) signs in with personal_sign', async () => {
    const other = privateKeyToAccount(DEV_PRIVATE_KEYS[1]);
    const calls: string[] = [];
    const provider = {
      async request({ method, params }: { method: string; params?: unknown[] }) {
        calls.push(method);
        if (method === 'eth_requestAccounts') return [other.address];
        if (method === 'eth_chainId') return '0x7a69';
        if (method === 'personal_sign') return other.signMessage({ message: params![0] as string });
        throw new Error(`unexpected ${method}`);
      },
    };
    const session = await signInWithEip1193({ url: ORIGIN, provider, fetch: call });
    expect(session.address).toBe(other.address.toLowerCase());
    expect(calls).toEqual(['eth_requestAccounts', 'eth_chainId', 'personal_sign']);
    expect((await api('/jobs', { token: session.token })).status).toBe(200);
  });

  test('error: a replayed message is rejected (nonce is single-use)', async () => {
    const body = await signed();
    expect((await verify(body)).status).toBe(200);
    const replay = await verify(body);
    expect(replay.status).toBe(401);
    expect(await errorOf(replay)).toMatchObject({ code: 'nonce_invalid' });
  });

  test('error: an expired message is rejected', async () => {
    const res = await verify(
      await signed({
        issuedAt: new Date(Date.now() - 120_000),
        expirationTime: new Date(Date.now() - 60_000),
      }),
    );
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toMatchObject({ code: 'siwe_invalid' });
  });

  test('error: a nonce the server never issued is rejected', async () => {
    const res = await verify(await signed({ nonce: 'abcdefgh12345678' }));
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toMatchObject({ code: 'nonce_invalid' });
  });

  test('error: a message for another domain is rejected', async () => {
    const res = await verify(await signed({ domain: 'evil.example' }));
    expect(res.status).toBe(401);
    expect((await errorOf(res)).message).toMatch(/evil\.example/);
  });

  test('error: a signature by another key is rejected', async () => {
    const body = await signed();
    const other = privateKeyToAccount(DEV_PRIVATE_KEYS[1]);
    const res = await verify({
      message: body.message,
      signature: await other.signMessage({ message: body.message }),
    });
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toMatchObject({ code: 'siwe_invalid' });
  });

  test('error: garbage is a validation error, not a 500', async () => {
    expect((await verify({ message: 'hello', signature: '0x00' })).status).toBe(401);
    expect((await verify({ message: 1 })).status).toBe(400);
  });
});

describe('authorization', () => {
  test('error: submitting needs a session or key', async () => {
    const res = await api('/jobs', {
      method: 'POST',
      body: JSON.stringify({ runtime: 'js', source: 'x', inputs: [1] }),
    });
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toMatchObject({ code: 'unauthorized' });
    const bad = await api('/jobs', { method: 'GET', token: 'not-a-token' });
    expect(bad.status).toBe(401);
  });

  test('behavior: API keys work like sessions and can be revoked', async () => {
    const key = await apiKey(0);
    expect(key).toMatch(/^mmk_[0-9a-f]{40}_[0-9a-f]{64}$/);
    const id = await submit(key, {});
    expect((await api(`/jobs/${id}`, { token: key })).status).toBe(200);
    const { keys } = (await (await api('/auth/keys', { token: key })).json()) as { keys: { id: string }[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys)
      expect((await api(`/auth/keys/${k.id}`, { method: 'DELETE', token: await signIn(0) })).status).toBe(
        204,
      );
    expect((await api(`/jobs/${id}`, { token: key })).status).toBe(401);
  });

  test('behavior: a request that several routers guard checks its API key once (each check is a call to the Account object)', async () => {
    const key = await apiKey(0);
    const verify = vi.spyOn(Account.prototype, 'verifyKey');
    try {
      const id = await submit(key, {}); // POST /jobs: `/jobs`, `/jobs/*` and the anchors' `/jobs/*`
      expect(verify).toHaveBeenCalledTimes(1);
      expect((await api(`/jobs/${id}`, { token: key })).status).toBe(200);
      expect(verify).toHaveBeenCalledTimes(2);
      // A wrong secret is still refused, by the first check.
      const wrong = `${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}`;
      expect((await api(`/jobs/${id}`, { token: wrong })).status).toBe(401);
      expect(verify).toHaveBeenCalledTimes(3);
    } finally {
      verify.mockRestore();
    }
  });

  test('error: another wallet cannot read, list, watch or cancel your job', async () => {
    const mine = await signIn(0);
    const theirs = await signIn(1);
    const id = await submit(mine, {});
    expect((await api(`/jobs/${id}`, { token: mine })).status).toBe(200);
    for (const [path, method] of [
      [`/jobs/${id}`, 'GET'],
      [`/jobs/${id}/results`, 'GET'],
      [`/jobs/${id}/cancel`, 'POST'],
    ] as const) {
      const res = await api(path, { method, token: theirs });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await errorOf(res)).toMatchObject({ code: 'forbidden' });
    }
    const ws = await api(`/jobs/${id}/events?token=${theirs}`, { headers: { upgrade: 'websocket' } });
    expect(ws.status).toBe(403);
    expect(await errorOf(ws)).toMatchObject({ code: 'forbidden' });
    // The room learns the caller from the Worker: a header the client sets itself is replaced.
    const owner = (await (await api(`/jobs/${id}`, { token: mine })).json()) as { owner: string };
    const forged = await api(`/jobs/${id}/events?token=${theirs}`, {
      headers: { upgrade: 'websocket', 'x-mm-owner': owner.owner },
    });
    expect(forged.status).toBe(403);
    const unknown = await api(`/jobs/${crypto.randomUUID()}/events?token=${theirs}`, {
      headers: { upgrade: 'websocket' },
    });
    expect(unknown.status).toBe(404);
    expect(await errorOf(unknown)).toMatchObject({ code: 'not_found' });
    const listed = (await (await api('/jobs', { token: theirs })).json()) as { jobs: { id: string }[] };
    expect(listed.jobs.map((j) => j.id)).not.toContain(id);
    const own = (await (await api('/jobs', { token: mine })).json()) as { jobs: { id: string }[] };
    expect(own.jobs.map((j) => j.id)).toContain(id);
    // The job is still running: the other wallet's cancel did nothing.
    expect(await (await api(`/jobs/${id}`, { token: mine })).json()).toMatchObject({ state: 'running' });
  });

  test('error: reading, watching or cancelling made-up job ids is a 404 that stores nothing', async () => {
    const token = await signIn();
    // A real job first, so that the rooms listed below are not all empty by chance.
    const id = await submit(token, { inputs: [1] });
    const madeUp: string[] = [];
    for (let i = 0; i < 10; i++) {
      const jobId = crypto.randomUUID();
      madeUp.push(jobId);
      for (const [path, method] of [
        [`/jobs/${jobId}`, 'GET'],
        [`/jobs/${jobId}/results`, 'GET'],
        [`/jobs/${jobId}/proof?task=0`, 'GET'],
        [`/jobs/${jobId}/cancel`, 'POST'],
      ] as const) {
        const res = await api(path, { method, token });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(await errorOf(res)).toMatchObject({ code: 'not_found' });
      }
      const ws = await api(`/jobs/${jobId}/events?token=${token}`, { headers: { upgrade: 'websocket' } });
      expect(ws.status).toBe(404);
    }
    // Each made-up id woke a room; none of them wrote anything (a room makes its tables only
    // when its job is stored), while the real job's room has its tables.
    const tables = (jobId: string) =>
      runInDurableObject(
        env.JOB_ROOM.get(env.JOB_ROOM.idFromName(jobId)),
        (_i, state) =>
          state.storage.sql.exec<{ name: string }>(`SELECT name FROM sqlite_master`).toArray().length,
      );
    for (const jobId of madeUp) expect(await tables(jobId), jobId).toBe(0);
    expect(await tables(id)).toBeGreaterThan(0);
    // The real job beside them is untouched.
    expect(await (await api(`/jobs/${id}`, { token })).json()).toMatchObject({ id, state: 'running' });
  });
});
