import { describe, expect, test } from 'vitest';
import { ApiErrorBody } from '../../protocol/index.ts';
import { api, signIn, submit } from './helpers.ts';

// Every malformed request gets a 4xx with a JSON error body: never a 5xx, never a half-made job.
describe('bad input', () => {
  const deep = (n: number): unknown => (n === 0 ? 1 : [deep(n - 1)]);

  test('error: malformed requests get a JSON 4xx with a stable code', async () => {
    const token = await signIn();
    const id = await submit(token, {});
    const cases: [string, string, RequestInit & { token?: string }][] = [
      ['POST', '/jobs', { token, body: 'null' }],
      ['POST', '/jobs', { token, body: '[]' }],
      ['POST', '/jobs', { token, body: '"a string"' }],
      ['POST', '/jobs', { token, body: '{"runtime":"js","source":"x","inputs":[1]' }],
      ['POST', '/jobs', { token, body: 'runtime=js', headers: { 'content-type': 'text/plain' } }],
      ['POST', '/jobs', { token, body: JSON.stringify({ runtime: 'js', source: 'x', inputs: [deep(100)] }) }],
      ['POST', '/jobs', { token, body: JSON.stringify({ runtime: 'js', source: '', inputs: [1] }) }],
      ['POST', '/jobs', { token, body: JSON.stringify({ runtime: 'js', source: 'x', inputs: [] }) }],
      [
        'POST',
        '/jobs',
        { token, body: JSON.stringify({ runtime: 'js', source: 'x', inputs: [1], timeoutMs: -5 }) },
      ],
      [
        'POST',
        '/jobs',
        { token, body: JSON.stringify({ runtime: 'js', source: 'x', inputs: [1], memoryMb: 1e9 }) },
      ],
      [
        'POST',
        '/jobs',
        { token, body: JSON.stringify({ runtime: 'js', source: 'x', inputs: [1], maxAttempts: 1.5 }) },
      ],
      [
        'POST',
        '/jobs',
        { token, body: JSON.stringify({ runtime: 'js', source: 'x', inputs: [1], label: 'x'.repeat(500) }) },
      ],
      [
        'POST',
        '/jobs',
        {
          token,
          body: JSON.stringify({
            runtime: 'js',
            codeCid: 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG',
            inputs: [1],
          }),
        },
      ],
      ['GET', `/jobs/${id}/results?cursor=-1`, { token }],
      ['GET', `/jobs/${id}/results?limit=0`, { token }],
      ['GET', `/jobs/${id}/results?format=xml`, { token }],
      ['GET', '/jobs?limit=abc', { token }],
      ['GET', '/jobs/not-a-job-id', { token }],
      ['GET', '/jobs/00000000-0000-4000-8000-000000000000', { token }],
      ['POST', '/jobs/00000000-0000-4000-8000-000000000000/cancel', { token }],
      ['DELETE', '/jobs', { token }],
      ['POST', '/auth/verify', { body: 'not json' }],
      ['POST', '/auth/verify', { body: JSON.stringify({ message: 'x'.repeat(10_000), signature: '0x00' }) }],
      ['POST', '/auth/verify', { body: JSON.stringify({ message: 'hello', signature: 'zz' }) }],
      ['POST', '/auth/keys', { token, body: JSON.stringify({ label: 5 }) }],
      ['DELETE', '/auth/keys/nope', { token }],
      ['GET', '/blobs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', {}],
      ['PUT', '/blobs', { token, body: '' }],
      // A node must name the node id it will say hello with: it picks the hub shard.
      ['GET', '/mesh/connect', { headers: { upgrade: 'websocket' } }],
      ['GET', '/mesh/connect?node=short', { headers: { upgrade: 'websocket' } }],
      ['GET', `/mesh/connect?node=${'n'.repeat(129)}`, { headers: { upgrade: 'websocket' } }],
    ];
    for (const [method, path, init] of cases) {
      const res = await api(path, { ...init, method });
      const label = `${method} ${path} ${String(init.body ?? '').slice(0, 60)}`;
      expect(res.status, label).toBeGreaterThanOrEqual(400);
      expect(res.status, label).toBeLessThan(500);
      const body = ApiErrorBody.safeParse(await res.json());
      expect(body.success, label).toBe(true);
    }
    // None of it touched the job that was there.
    const status = (await (await api(`/jobs/${id}`, { token })).json()) as { state: string; total: number };
    expect(status).toMatchObject({ state: 'running', total: 3 });
    const list = (await (await api('/jobs?limit=100', { token })).json()) as { jobs: unknown[] };
    expect(list.jobs.length).toBe(1);
  });
});
