import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { createApiKey, DEV_PRIVATE_KEYS } from '../../client/sign-in.ts';
import type { JobStatus } from '../../protocol/index.ts';
import { type ApiServer, type Proc, startApi, startNode } from '../../scripts/local-mesh.ts';

const state = mkdtempSync(join(tmpdir(), 'monadmesh-reconnect-'));
let api: ApiServer | undefined;
let node: Proc | undefined;

afterAll(async () => {
  await node?.stop('SIGKILL');
  await api?.stop();
  rmSync(state, { recursive: true, force: true });
});

test('behavior: a node reconnects with backoff after the API restarts, and jobs submitted before and after complete', async () => {
  api = await startApi({ persistTo: state });
  const { port } = api;
  node = await startNode(api.url, { capacity: 1 });
  const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const submit = async (url: string, inputs: number[]) => {
    const res = await fetch(`${url}/api/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ runtime: 'js', source: 'export default (x) => x * 3', inputs }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const waitDone = async (url: string, id: string) => {
    for (let i = 0; i < 600; i++) {
      const s = (await (await fetch(`${url}/api/v1/jobs/${id}`, { headers })).json()) as JobStatus;
      if (s.state !== 'running') return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('job did not finish');
  };

  expect(await waitDone(api.url, await submit(api.url, [1, 2, 3]))).toMatchObject({ state: 'succeeded' });

  // The API goes away: the node notices and retries with growing delays.
  await api.proc.stop();
  await node.waitFor(/disconnected .*reconnecting in \d+ ms/, 15_000);
  await new Promise((r) => setTimeout(r, 1500));
  const retries = node.output().match(/reconnecting in (\d+) ms/g) ?? [];
  expect(retries.length).toBeGreaterThanOrEqual(2);

  // Same port, same state: the key still works, the node is back, and new work runs.
  api = await startApi({ port, persistTo: state });
  await expect
    .poll(() => (node!.output().match(/connected to /g) ?? []).length, { timeout: 20_000 })
    .toBeGreaterThanOrEqual(2);
  const after = await submit(api.url, [4, 5]);
  expect(await waitDone(api.url, after)).toMatchObject({ state: 'succeeded', counts: { succeeded: 2 } });
});
