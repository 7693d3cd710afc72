import { afterAll, beforeAll, expect } from 'vitest';
import { createApiKey, DEV_PRIVATE_KEYS } from '../../client/sign-in.ts';
import { type JobStatus, TaskResult } from '../../protocol/index.ts';
import { type ApiServer, type Proc, startApi, startNode } from '../../scripts/local-mesh.ts';

export interface Finished {
  id: string;
  status: JobStatus;
  results: TaskResult[];
}

/** The local mesh of one test file, with helpers that speak the API as a script would. */
export interface MeshFixture {
  readonly url: string;
  /** An API key of the dev wallet. */
  readonly key: string;
  /** The headless node process. */
  readonly node: Proc;
  /** An authenticated request to `/api/v1<path>`. */
  call(path: string, init?: RequestInit): Promise<Response>;
  /** Submit a JobSpec; fails the test unless it is accepted. */
  submit(spec: Record<string, unknown>): Promise<string>;
  /** Wait until the job is final and return its status and every result in input order. */
  finished(id: string, timeoutMs?: number): Promise<Finished>;
  /** `submit` then `finished`. */
  run(spec: Record<string, unknown>): Promise<Finished>;
}

/**
 * Registers `beforeAll`/`afterAll` that start `wrangler dev` on a free port with one headless
 * node (the real CLI) and a dev wallet's API key, and stop them afterwards.
 */
export function useLocalMesh(
  options: {
    capacity?: number;
    before?: () => Promise<void> /** Start no headless node. */;
    noNode?: boolean;
  } = {},
): MeshFixture {
  let api: ApiServer | undefined;
  let node: Proc | undefined;
  let key = '';
  beforeAll(async () => {
    await options.before?.();
    api = await startApi(process.env.E2E_ECHO_API ? { echo: 'api' } : {});
    key = (await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] })).key;
    if (!options.noNode) node = await startNode(api.url, { capacity: options.capacity ?? 2 });
  });
  afterAll(async () => {
    await node?.stop('SIGKILL');
    await api?.stop();
  });
  const fixture: MeshFixture = {
    get url() {
      if (!api) throw new Error('the local mesh is not started yet');
      return api.url;
    },
    get key() {
      return key;
    },
    get node() {
      if (!node) throw new Error('the local mesh is not started yet');
      return node;
    },
    call(path, init = {}) {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${key}`);
      const url = `${fixture.url}/api/v1${path}`;
      if ((init.method ?? 'GET') !== 'GET') return fetch(url, { ...init, headers });
      // A GET is tried again when the connection drops under it (undici reuses a keep-alive
      // socket that the server is closing at that moment: "other side closed").
      return (async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await fetch(url, { ...init, headers });
          } catch (error) {
            if (!(error instanceof TypeError) || attempt >= 3) throw error;
          }
        }
      })();
    },
    async submit(spec) {
      const res = await fixture.call('/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(spec),
      });
      const body = (await res.json()) as { id: string };
      expect(res.status, JSON.stringify(body)).toBe(201);
      return body.id;
    },
    async finished(id, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const status = (await (await fixture.call(`/jobs/${id}`)).json()) as JobStatus;
        if (status.state !== 'running') {
          const text = await (await fixture.call(`/jobs/${id}/results?format=ndjson`)).text();
          const results = text
            .trim()
            .split('\n')
            .map((line) => TaskResult.parse(JSON.parse(line)));
          return { id, status, results };
        }
        if (Date.now() > deadline) throw new Error(`job ${id} still running: ${JSON.stringify(status)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async run(spec) {
      return fixture.finished(await fixture.submit(spec));
    },
  };
  return fixture;
}
