import { describe, expect, test } from 'vitest';
import { AppConfig } from '../../protocol/config.ts';
import { appConfigFrom } from '../../worker/routes/config.ts';
import { api, call } from './helpers.ts';

describe('config', () => {
  test('default: Monad testnet from wrangler.toml, no faucet, decodes with AppConfig', async () => {
    const res = await api('/config');
    expect(res.status).toBe(200);
    const body = AppConfig.parse(await res.json());
    expect(body).toEqual({
      chainId: 10143,
      chainName: 'Monad Testnet',
      rpcUrl: 'https://testnet-rpc.monad.xyz',
      faucet: false,
      sandboxOrigin: 'http://sandbox.mesh.test',
    });
  });

  test('error: the sandbox origin serves no API', async () => {
    const res = await call('http://sandbox.mesh.test/api/v1/health');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    expect((await call('http://mesh.test/api/v1/health')).status).toBe(200);
  });

  test('behavior: local development vars give anvil and the faucet', () => {
    expect(
      appConfigFrom({
        CHAIN_ID: '31337',
        CHAIN_NAME: 'Anvil (local)',
        RPC_URL: 'http://127.0.0.1:8545',
        FAUCET: 'true',
      }),
    ).toEqual({ chainId: 31337, chainName: 'Anvil (local)', rpcUrl: 'http://127.0.0.1:8545', faucet: true });
  });

  test('behavior: a malformed chain id falls back to Monad testnet; only "true" enables the faucet', () => {
    expect(appConfigFrom({ CHAIN_ID: 'abc', FAUCET: '1' })).toMatchObject({ chainId: 10143, faucet: false });
  });

  test('behavior: the sandbox origin is the configured one, else the other loopback name, else none', () => {
    expect(appConfigFrom({ SANDBOX_ORIGIN: 'https://sandbox.example.net/x' }).sandboxOrigin).toBe(
      'https://sandbox.example.net',
    );
    expect(appConfigFrom({}, 'http://localhost:8787/api/v1/config').sandboxOrigin).toBe(
      'http://127.0.0.1:8787',
    );
    expect(appConfigFrom({}, 'http://127.0.0.1:8787/api/v1/config').sandboxOrigin).toBe(
      'http://localhost:8787',
    );
    expect(appConfigFrom({}, 'https://monadmesh.example/api/v1/config')).not.toHaveProperty('sandboxOrigin');
    expect(appConfigFrom({ SANDBOX_ORIGIN: 'not a url' })).not.toHaveProperty('sandboxOrigin');
    expect(
      appConfigFrom(
        { SANDBOX_ORIGIN: 'https://sandbox.example.net' },
        'https://sandbox.example.net/api/v1/config',
      ),
    ).not.toHaveProperty('sandboxOrigin');
  });

  test('default: listed in the OpenAPI document', async () => {
    const doc = (await (await api('/openapi.json')).json()) as { paths: Record<string, unknown> };
    expect(doc.paths).toHaveProperty(['/api/v1/config']);
  });
});
