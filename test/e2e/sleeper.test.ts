import { afterAll, beforeAll, expect, test } from 'vitest';
import { createClient, DEV_PRIVATE_KEYS, type MeshClient } from '../../client/index.ts';
import { createApiKey } from '../../client/sign-in.ts';
import type { JobStatus, ResultsPage, TaskResult } from '../../protocol/index.ts';
import { type ApiServer, type Proc, startApi, startNode } from '../../scripts/local-mesh.ts';

// Real processes against `wrangler dev`: three honest anonymous nodes and a sleeper (fresh keys
// each run), which answers its first 40 tasks honestly, earning a record and the right to decide
// tasks alone, then lies in every answer. It is caught, its streak resets (its own log says from
// what), the results it decided alone are verified again by others, and no wrong result stands.
// (With 25 honest answers, a loaded CI machine once had all 25 checked by replicas, so the sleeper
// decided nothing alone before its first lie and there was nothing to verify again: the spot-check
// rate is high while a record is short. 40 leaves room to earn lone decisions.)

const HONEST_FIRST = 40;
let api: ApiServer;
let client: MeshClient;
let key: string;
let sleeper: Proc;
let sleeperId = '';
const nodes: Proc[] = [];

beforeAll(async () => {
  api = await startApi();
  key = (await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] })).key;
  client = createClient({ url: api.url, apiKey: key });
  nodes.push(
    ...(await Promise.all([0, 1, 2].map(() => startNode(api.url, { capacity: 1, anonymous: true })))),
  );
  sleeper = await startNode(api.url, {
    capacity: 1,
    anonymous: true,
    args: ['--saboteur', `1@${HONEST_FIRST}`],
  });
  nodes.push(sleeper);
  sleeperId = /connected to \S+ as (\S+)/.exec(sleeper.output())?.[1] ?? '';
  expect(sleeperId).toMatch(/^12D3KooW/);
}, 240_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  await api?.stop();
});

const get = async <T>(path: string): Promise<T> =>
  (await (
    await fetch(`${api.url}/api/v1${path}`, { headers: { authorization: `Bearer ${key}` } })
  ).json()) as T;

const SOURCE = 'export default (x) => x * x + 1;';

/** The sleeper's log lines about mismatches: `[from, to]` streaks. */
const resets = () =>
  [...sleeper.output().matchAll(/disagreed with the accepted result.*; streak (\d+) -> (\d+)/g)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);

/** Every result of a job once it is final and has not moved for a while (re-verification may reopen it). */
async function settled(id: string): Promise<TaskResult[]> {
  let last = '';
  let still = 0;
  const deadline = Date.now() + 180_000;
  for (;;) {
    const status = await get<JobStatus>(`/jobs/${id}`);
    if (Date.now() > deadline) throw new Error(`job ${id} did not settle: ${JSON.stringify(status)}`);
    const now = JSON.stringify([status.state, status.counts]);
    still = status.state !== 'running' && now === last ? still + 1 : 0;
    if (still >= 6) return (await get<ResultsPage>(`/jobs/${id}/results?limit=1000`)).results;
    last = now;
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('behavior: a sleeper earns trust, lies, is caught; its streak resets and what it decided alone is verified again', async () => {
  // `trust: 0.9`: three agreeing honest identities outvote the sleeper's lie under dispute
  // (confidence 0.93), and a record of a few agreements lets an identity decide alone.
  const jobs: string[] = [];
  for (let round = 0; round < 10 && resets().length === 0; round++) {
    const job = await client.map(
      SOURCE,
      Array.from({ length: 200 }, (_, i) => round * 1000 + i),
      { trust: 0.9 },
    );
    jobs.push(job.id);
    await settled(job.id);
  }
  expect(
    resets().length,
    `the sleeper was never caught; its log:\n${sleeper.output().split('\n').slice(-40).join('\n')}`,
  ).toBeGreaterThan(0);
  // It had earned a record before its first mismatch, and the mismatch reset it.
  const [from, to] = resets()[0]!;
  expect(from).toBeGreaterThan(0);
  expect(to).toBe(0);

  let reverified = 0;
  let solo = 0;
  for (const id of jobs) {
    const results = await settled(id);
    expect((await get<JobStatus>(`/jobs/${id}`)).state).toBe('succeeded');
    for (const r of results) {
      // No wrong result stands, whoever decided it.
      const x = jobs.indexOf(id) * 1000 + r.index;
      expect([r.index, r.state, r.output]).toEqual([r.index, 'succeeded', x * x + 1]);
      const v = r.verification!;
      if (v.reverified) {
        reverified++;
        // It was the sleeper's alone; others have now checked it.
        expect(v.replicas[0]!.nodeId).toBe(sleeperId);
        expect(v.replicas.length).toBeGreaterThan(1);
      }
      if (v.how === 'credible' && v.replicas[0]!.nodeId === sleeperId) solo++;
    }
  }
  process.stderr.write(
    `[sleeper e2e] ${jobs.length} job(s); mismatches logged by the sleeper: ${JSON.stringify(resets())}; results verified again: ${reverified}\n`,
  );
  // What the sleeper decided alone before it was caught went back to be checked; none of its lone
  // decisions stands unchecked.
  expect(reverified).toBeGreaterThan(0);
  expect(solo).toBe(0);
}, 600_000);
