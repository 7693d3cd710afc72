import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadOrCreateIdentity } from '../../browser-node/src/core/identity.ts';
import { FileKeyStore } from '../../browser-node/src/headless/file-key-store.ts';
import {
  createClient,
  DEV_PRIVATE_KEYS,
  linkNodeWithPrivateKey,
  type MeshClient,
} from '../../client/index.ts';
import { createApiKey } from '../../client/sign-in.ts';
import type { JobStatus, ResultsPage } from '../../protocol/index.ts';
import { type ApiServer, type Proc, startApi, startNode } from '../../scripts/local-mesh.ts';

// Real processes against `wrangler dev`: three honest anonymous nodes and four saboteurs with
// fresh keys each run (one that always lies, one that lies at a rate, and a Sybil: two always-lying
// nodes linked to one wallet): half the identities (3 of 6). No wrong output and no wrong failure
// is accepted, with redundancy 3 or the default trust; the Sybil's two nodes never give two
// answers to one task. (Redundancy 3 is beaten only by all three saboteurs telling one task the
// same lie; their lies depend on their keys, and a made-up failure is one of four kinds, so that
// is under one run in a thousand. With a single kind of made-up failure it failed a run here.)

let api: ApiServer;
let client: MeshClient;
let key: string;
const nodes: Proc[] = [];
const dir = mkdtempSync(join(tmpdir(), 'monadmesh-verify-'));

/** A saboteur linked to development wallet `wallet` (a Sybil of that wallet when several are). */
async function linkedSaboteur(name: string, wallet: number, rate: string): Promise<Proc> {
  const keyFile = join(dir, `${name}-key`);
  const { peerId } = await loadOrCreateIdentity(new FileKeyStore(keyFile));
  const linkFile = join(dir, `${name}-link.json`);
  const link = await linkNodeWithPrivateKey({
    url: api.url,
    peerId: peerId.toString(),
    privateKey: DEV_PRIVATE_KEYS[wallet]!,
  });
  writeFileSync(linkFile, JSON.stringify(link));
  return startNode(api.url, { capacity: 1, keyFile, args: ['--owner-link', linkFile, '--saboteur', rate] });
}

beforeAll(async () => {
  api = await startApi();
  key = (await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] })).key;
  client = createClient({ url: api.url, apiKey: key });
  const started = await Promise.all([
    startNode(api.url, { capacity: 1, anonymous: true }),
    startNode(api.url, { capacity: 1, anonymous: true }),
    startNode(api.url, { capacity: 1, anonymous: true }),
    startNode(api.url, { capacity: 1, anonymous: true, args: ['--saboteur', '1'] }),
    startNode(api.url, { capacity: 1, anonymous: true, args: ['--saboteur', '0.3'] }),
  ]);
  nodes.push(...started);
  nodes.push(await linkedSaboteur('sybil-a', 1, '1'), await linkedSaboteur('sybil-b', 1, '1'));
}, 240_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const get = async <T>(path: string): Promise<T> =>
  (await (
    await fetch(`${api.url}/api/v1${path}`, { headers: { authorization: `Bearer ${key}` } })
  ).json()) as T;

/** Until the job finishes, or stops moving with nothing leased (it waits for more identities). */
async function settled(id: string): Promise<JobStatus> {
  let last = '';
  let still = 0;
  for (;;) {
    const status = await get<JobStatus>(`/jobs/${id}`);
    if (status.state !== 'running') return status;
    const now = JSON.stringify(status.counts);
    still = now === last && status.counts.leased === 0 ? still + 1 : 0;
    if (still >= 10) return status;
    last = now;
    await new Promise((r) => setTimeout(r, 500));
  }
}

// Inputs that fail on purpose: a failure is an answer to verify too.
const SOURCE = `export default (x) => { if (x % 7 === 3) throw new Error('seven-three'); return x * x + 1; }`;
const expected = (x: number) => (x % 7 === 3 ? 'user_error' : x * x + 1);

async function check(id: string) {
  const page = await get<ResultsPage>(`/jobs/${id}/results?limit=1000`);
  for (const r of page.results) {
    if (r.state === 'succeeded') expect(r.output).toBe(expected(r.index));
    else if (r.state === 'failed')
      expect(r.error?.kind).toBe(expected(r.index) === 'user_error' ? 'user_error' : 'none');
    else expect(r.waiting).toMatch(/verifying/);
    for (const v of [r.verification].filter((x) => x !== undefined)) {
      const identities = v.replicas.map((p) => p.identity);
      expect(new Set(identities).size).toBe(identities.length);
    }
  }
  return page.results;
}

test('default: redundancy 3 beside saboteurs and a Sybil: every task right, each identity one vote', async () => {
  const inputs = Array.from({ length: 24 }, (_, i) => i);
  const job = await client.map(SOURCE, inputs, { redundancy: 3 });
  const status = await settled(job.id);
  const results = await check(job.id);
  expect(status.state).toBe('failed'); // the tasks that throw, confirmed by three identities
  expect(results.filter((r) => r.state === 'succeeded').length).toBe(
    inputs.filter((x) => x % 7 !== 3).length,
  );
  // The saboteurs were outvoted somewhere: some replicas disagree with what was accepted.
  const dissent = results.flatMap((r) => r.verification?.replicas.filter((p) => p.agreed === false) ?? []);
  expect(dissent.length).toBeGreaterThan(0);
}, 300_000);

test('behavior: the default trust beside the same saboteurs: right, or waiting for identities, never wrong', async () => {
  const inputs = Array.from({ length: 24 }, (_, i) => i);
  const job = await client.map(SOURCE, inputs);
  const status = await settled(job.id);
  expect(status.verification).toEqual({ kind: 'adaptive', trust: 0.98 });
  const results = await check(job.id);
  // Three honest identities agreeing reach 0.985; a task a saboteur disputed may wait for more
  // identities than this mesh has, and says so.
  for (const r of results.filter((x) => x.state === 'pending')) expect(r.waiting).toMatch(/another identity/);
  if (status.state === 'running') expect(status.counts.pending).toBeGreaterThan(0);
}, 300_000);
