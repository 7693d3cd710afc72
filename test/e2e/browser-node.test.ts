import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { CircuitFiles } from '../../client/circuit.ts';
import { loadCircuit } from '../../client/circuit-files.ts';
import { createClient, type MeshClient } from '../../client/index.ts';
import { createApiKey, DEV_PRIVATE_KEYS } from '../../client/sign-in.ts';
import { chunkBlob } from '../../protocol/blob-dag.ts';
import { verifyGroth16 } from '../../protocol/groth16.ts';
import type { NodeInfo, TaskResult } from '../../protocol/index.ts';
import { type BuiltTemplates, buildTemplates } from '../../scripts/build-wasm.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.ts';
import { buildCircuits, testBuildDir } from '../../scripts/circuits.ts';
import { collatzReference } from '../../scripts/collatz-reference.ts';
import {
  type ApiServer,
  buildWebApp,
  type Proc,
  ROOT,
  startApi,
  startNode,
} from '../../scripts/local-mesh.ts';

// A browser compute node end to end: `wrangler dev` serving the freshly built web app, two
// headless nodes (the real CLI; each relays, and holds a reservation on the other) and one
// headless Chromium on /contribute running a node in the tab. The tab reserves a slot on a relay
// named by the hub, so it gets /p2p-circuit/webrtc addresses; peers reach it (and it them) over
// WebRTC set up through a relay; an ipfs:// input reaches every node with the origin serving each
// block about once; and when its relay dies the tab moves to the other one and keeps working.

const ARTIFACTS = join(ROOT, 'test-artifacts/browser-node');

let api: ApiServer;
let client: MeshClient;
const headless: { proc: Proc; peerId: string }[] = [];
let browser: Browser | undefined;
let page: Page;
let browserPeer = '';
let built: BuiltTemplates;
let circuit: CircuitFiles;
const circuitDir = testBuildDir('e2e-browser-node');

/** What the contribute page's debug hook (`window.__monadmesh`) returns. */
interface Conn {
  peerId: string;
  remoteAddr: string;
  direction: string;
  limited: boolean;
}
interface ConnEvent extends Conn {
  type: 'open' | 'close';
  at: number;
}

const log = (line: string) => process.stderr.write(`[browser-node e2e] ${line}\n`);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const t0 = Date.now();
  [api, built, circuit] = await Promise.all([
    startApi(),
    buildTemplates(),
    buildCircuits({ names: ['sum_range'], out: circuitDir }).then(() => loadCircuit(circuitDir, 'sum_range')),
    buildWebApp({ logLevel: 'error' }),
  ]);
  const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
  client = createClient({ url: api.url, apiKey: key });
  // One after the other: the second finds the first as its relay in the hub's welcome.
  for (let i = 0; i < 2; i++) {
    const proc = await startNode(api.url, { capacity: 1, args: ['--verbose'] });
    headless.push({ proc, peerId: /peer id (\w+)/.exec(proc.output())![1]! });
  }
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  const context = await browser.newContext();
  page = await context.newPage();
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  page.on('console', (m) => {
    // SES names each intrinsic it removes while locking a sandbox worker down: not news.
    if ((m.type() === 'error' || m.type() === 'warning') && !m.text().startsWith('Removing intrinsics'))
      log(`page ${m.type()}: ${m.text()}`);
  });
  log(`set up in ${Date.now() - t0} ms`);
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    await page
      ?.screenshot({
        path: join(ARTIFACTS, `failed-${ctx.task.name.replace(/\W+/g, '-')}.png`),
        fullPage: true,
      })
      .catch(() => {});
  }
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(headless.map((n) => n.proc.stop('SIGKILL')));
  await api?.stop();
  rmSync(circuitDir, { recursive: true, force: true });
});

const nodes = async () =>
  ((await (await fetch(`${api.url}/api/v1/nodes`)).json()) as { nodes: NodeInfo[] }).nodes;
const browserInfo = async () => (await nodes()).find((n) => n.kind === 'browser');
const connections = () =>
  page.evaluate(() =>
    (window as unknown as { __monadmesh: { connections(): Conn[] } }).__monadmesh.connections(),
  );
const events = () =>
  page.evaluate(() => (window as unknown as { __monadmesh: { events(): ConnEvent[] } }).__monadmesh.events());
/** The relay the tab's reservation is on, from its relayed address at the hub. */
const relayOf = (addrs: string[]) =>
  addrs.map((a) => /\/p2p\/(\w+)\/p2p-circuit\/webrtc/.exec(a)?.[1]).find((p) => p !== undefined);

/** How many times wrangler's access log shows `GET /api/v1/blobs/<cid>` since `from`. */
function servedSince(from: number, cid: string): number {
  return api.proc
    .output()
    .slice(from)
    .split('\n')
    .filter((line) => line.includes(`GET /api/v1/blobs/${cid}`)).length;
}

/** About `rows / 20` KiB of JSON, different for each seed. */
function documentOf(rows: number, seed: number) {
  return {
    seed,
    rows: Array.from({ length: rows }, (_, i) => ({
      id: i,
      value: (i * 7919 + seed) % 10007,
      tag: `row-${i}`,
    })),
  };
}
const code =
  'export default (doc) => ({ seed: doc.seed, rows: doc.rows.length, sum: doc.rows.reduce((a, r) => a + r.value, 0) })';
const expected = (doc: ReturnType<typeof documentOf>) => ({
  seed: doc.seed,
  rows: doc.rows.length,
  sum: doc.rows.reduce((a, r) => a + r.value, 0),
});

async function runJob(inputs: string[]): Promise<TaskResult[]> {
  // The tab is anonymous: one node's word is enough here (verification has its own tests).
  const job = await client.map(code, inputs, { timeoutMs: 60_000, redundancy: 1 });
  await job.wait();
  const results: TaskResult[] = [];
  for await (const result of job.results()) results.push(result);
  return results;
}

/** WebRTC set-up times seen by the tab: from a relayed (signalling) connection to the WebRTC one. */
function webrtcSetupMs(log: ConnEvent[]): number[] {
  const out: number[] = [];
  for (const [i, e] of log.entries()) {
    if (e.type !== 'open' || !e.remoteAddr.includes('/webrtc') || e.limited) continue;
    const relayed = log.slice(0, i).findLast((r) => r.type === 'open' && r.limited && r.peerId === e.peerId);
    if (relayed) out.push(Math.round(e.at - relayed.at));
  }
  return out;
}

describe('browser node', () => {
  test('default: the tab joins, reserves a relay slot and is listed with a /p2p-circuit/webrtc address', async () => {
    const t0 = Date.now();
    await page.goto(`${api.url}/contribute`);
    await page.getByRole('heading', { name: 'Contribute' }).waitFor();
    await page.getByRole('spinbutton', { name: 'Workers' }).fill('1');
    await page.getByRole('button', { name: 'Start contributing' }).click();
    await expect
      .poll(() => page.getByTestId('node-status').textContent(), { timeout: 60_000 })
      .toBe('Connected');
    browserPeer = (await page.getByTestId('peer-id').textContent()) ?? '';
    expect(browserPeer).toMatch(/^12D3KooW/);
    expect(await page.getByTestId('fingerprint').textContent()).toMatch(/^[0-9a-f]{16}$/);

    await expect
      .poll(
        async () => (await browserInfo())?.multiaddrs?.filter((a) => a.includes('/p2p-circuit/webrtc')) ?? [],
        {
          timeout: 30_000,
        },
      )
      .not.toHaveLength(0);
    const info = (await browserInfo())!;
    expect(info.nodeId).toBe(browserPeer);
    expect(info.peerId).toBe(browserPeer);
    expect(headless.map((h) => h.peerId)).toContain(relayOf(info.multiaddrs ?? []));
    // The tab's relay connection is direct (WebSocket), and the page counts its peers.
    const relay = relayOf(info.multiaddrs ?? [])!;
    expect(
      (await connections()).some((c) => c.peerId === relay && !c.limited && c.remoteAddr.includes('/ws')),
    ).toBe(true);
    expect(Number(await page.getByTestId('peers-connected').textContent())).toBeGreaterThanOrEqual(1);
    log(`tab joined and reserved a slot on ${relay} in ${Date.now() - t0} ms`);
  }, 90_000);

  test('default: an ipfs:// input runs on both kinds of node over WebRTC, the origin serving each block about once', async () => {
    const doc = documentOf(120_000, 1);
    const blob = await client.putBlob(doc);
    const { blocks } = await chunkBlob(new TextEncoder().encode(JSON.stringify(doc)));
    expect(blocks.length).toBeGreaterThan(4);

    const mark = api.proc.output().length;
    const t0 = Date.now();
    const results = await runJob(Array.from({ length: 12 }, () => blob.url));
    log(`12 tasks of a ${blocks.length}-block input in ${Date.now() - t0} ms`);
    for (const r of results) expect(r).toMatchObject({ state: 'succeeded', output: expected(doc) });
    const ranOn = new Set(results.map((r) => r.nodeId));
    expect(ranOn).toContain(browserPeer);
    expect([...ranOn].some((n) => headless.some((h) => h.peerId === n))).toBe(true);

    const perBlock = blocks.map((b) => servedSince(mark, b.cid.toString()));
    const fetched = headless.flatMap(
      (h) => h.proc.output().match(new RegExp(`blob ${blob.cid}: .*`, 'g')) ?? [],
    );
    const stats = await page.evaluate(() =>
      (window as unknown as { __monadmesh: { stats(): unknown } }).__monadmesh.stats(),
    );
    log(
      `origin served the blocks ${JSON.stringify(perBlock)} times; headless: ${fetched.join('; ')}; tab: ${JSON.stringify(stats)}`,
    );
    expect(Math.max(...perBlock)).toBeLessThanOrEqual(2);
    expect(perBlock.reduce((a, b) => a + b, 0)).toBeLessThan(blocks.length * 2);

    // The tab and a headless node talk over WebRTC (direct, not limited), set up through a relay.
    // Whether the job needed a peer other than the tab's relay depends on which node the hubs
    // named first (two shards lease at once), so the tab reaches the other headless node as it
    // would a provider: through its relay, WebRTC first.
    const relay = relayOf((await browserInfo())?.multiaddrs ?? []);
    const otherPeer = headless.find((h) => h.peerId !== relay)!.peerId;
    const other = (await nodes()).find((n) => n.peerId === otherPeer)!;
    const reached = await page.evaluate(
      (hint) =>
        (window as unknown as { __monadmesh: { reach(h: unknown): Promise<boolean> } }).__monadmesh.reach(
          hint,
        ),
      { peerId: otherPeer, kind: 'headless', relay: true, multiaddrs: other.multiaddrs ?? [] },
    );
    expect(reached).toBe(true);
    const conns = await connections();
    const webrtc = conns.filter((c) => c.remoteAddr.includes('/webrtc') && !c.limited);
    expect(webrtc.length, JSON.stringify(conns, null, 1)).toBeGreaterThanOrEqual(1);
    expect(headless.map((h) => h.peerId)).toContain(webrtc[0]!.peerId);
    // The page lists it for the user too.
    await expect
      .poll(() => page.getByTestId('connections').getByRole('cell', { name: 'WebRTC', exact: true }).count())
      .toBeGreaterThan(0);
    log(
      `WebRTC connection ${webrtc[0]!.direction} with ${webrtc[0]!.peerId}; set-up times seen by the tab: ${JSON.stringify(webrtcSetupMs(await events()))} ms`,
    );
  }, 120_000);

  test('behavior: the tab is one of the replicas: under redundancy 2 each WebAssembly task is answered by the tab and by the headless wallet; a JS task waits for its own runtime class and says so', async () => {
    // Both headless nodes are linked to the development wallet: one identity, one vote per task.
    // The tab is anonymous: the other identity. So every task needs the tab's answer.
    const wallet = `wallet:${privateKeyToAccount(DEV_PRIVATE_KEYS[0]!).address.toLowerCase()}`;
    const tab = `peer:${browserPeer}`;
    const classes = (await nodes()).map((n) => `${n.kind}: ${n.fingerprint?.class}`);
    log(`runtime classes: ${classes.join(', ')}`);

    // WebAssembly floats are exact by the spec: replicas may come from any runtime class.
    const wasm = readFileSync(built.asWasm);
    const inputs = Array.from({ length: 8 }, (_, i) => ({ from: 1 + i * 5_000, to: 1 + (i + 1) * 5_000 }));
    const job = await client.map(new Uint8Array(wasm), inputs, { redundancy: 2, runtime: 'wasm' });
    await job.wait();
    const results: TaskResult[] = [];
    for await (const result of job.results()) results.push(result);
    for (const r of results) {
      const { from, to } = inputs[r.index]!;
      expect([r.state, r.output]).toEqual(['succeeded', collatzReference(from, to)]);
      const v = r.verification!;
      expect(v.how).toBe('quorum');
      expect(new Map(v.replicas.map((p) => [p.identity, p.agreed]))).toEqual(
        new Map([
          [wallet, true],
          [tab, true],
        ]),
      );
      expect(v.replicas.find((p) => p.identity === tab)?.nodeId).toBe(browserPeer);
    }

    // JavaScript floats may differ between engines (ECMAScript does not pin Math.sin's last bit):
    // replicas come from the class of the task's first lease. When the tab's class is not the
    // headless nodes', a JS task they answered waits for another identity of that class, and says so.
    const headlessClass = (await nodes()).find((n) => n.kind === 'headless')?.fingerprint?.class;
    const tabClass = (await browserInfo())?.fingerprint?.class;
    const js = await client.map('export default (x) => Math.sin(x) * 1e6', [1, 2, 3], { redundancy: 2 });
    if (tabClass !== headlessClass) {
      await expect
        .poll(async () => (await js.resultsPage({ limit: 3 })).results.map((r) => r.waiting ?? r.state), {
          timeout: 30_000,
        })
        .toEqual(
          [1, 2, 3].map(() =>
            expect.stringMatching(/waiting for another identity of runtime class [0-9a-f]{16} /),
          ),
        );
      const waiting = (await js.resultsPage({ limit: 3 })).results.map((r) => r.waiting ?? '');
      // Its first replica came from one class, and the task waits for that class.
      expect(waiting.every((w) => w.includes(headlessClass!) || w.includes(tabClass!))).toBe(true);
      await js.cancel();
    } else {
      await js.wait();
      for await (const r of js.results()) expect(r.verification?.replicas.length).toBe(2);
    }
  }, 180_000);

  test('behavior: a proven (circom) job runs in the tab too: the tab proves tasks with snarkjs in a Web Worker, and the Worker accepts them on their proofs', async () => {
    const inputs = Array.from({ length: 16 }, (_, i) => ({
      values: Array.from({ length: 8 }, (_, j) => ((i * 5 + j * 3) % 20) + 1),
      lo: 1,
      hi: 20,
    }));
    type Reputation = { accepted: number; agreed: number };
    const reputation = async () =>
      (
        (await page.evaluate(() =>
          (window as unknown as { __monadmesh: { stats(): unknown } }).__monadmesh.stats(),
        )) as { standing?: { reputation: Reputation } }
      ).standing?.reputation ?? { accepted: 0, agreed: 0 };
    const before = await reputation();
    const job = await client.prove(circuit, inputs);
    expect((await job.wait()).state).toBe('succeeded');
    const results: TaskResult[] = [];
    for await (const result of job.results()) results.push(result);
    const byTab = results.filter((r) => r.nodeId === browserPeer);
    log(`proven job: ${byTab.length} of ${results.length} tasks proven in the tab`);
    for (const r of results) {
      const { values } = inputs[r.index]!;
      const sum = values.reduce((a, b) => a + b, 0);
      expect((r.output as string[]).slice(0, 3)).toEqual(
        [sum, Math.min(...values), Math.max(...values)].map(String),
      );
      expect(r.verification?.how).toBe('proven');
      expect(verifyGroth16(circuit.verificationKey, r.proof, r.output)).toEqual({ ok: true });
    }
    expect(byTab.length).toBeGreaterThan(0);
    // Accepted on its proofs, but not agreements: proving earns no credibility for unproven jobs.
    await expect
      .poll(async () => (await reputation()).accepted, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(before.accepted + byTab.length);
    expect((await reputation()).agreed).toBe(before.agreed);
  }, 180_000);

  test('the tab moves to the other relay when its relay dies, and keeps running tasks', async () => {
    const relay = relayOf((await browserInfo())?.multiaddrs ?? []);
    const dying = headless.find((h) => h.peerId === relay)!;
    const other = headless.find((h) => h !== dying)!;
    expect(dying).toBeDefined();
    const t0 = Date.now();
    dying.proc.child.kill('SIGKILL');
    await expect
      .poll(async () => relayOf((await browserInfo())?.multiaddrs ?? []), { timeout: 30_000 })
      .toBe(other.peerId);
    log(`the tab announced a reservation on the other relay ${Date.now() - t0} ms after the kill`);
    const addrs = (await browserInfo())?.multiaddrs ?? [];
    expect(
      addrs.filter((a) => a.includes(dying.peerId)),
      JSON.stringify(addrs, null, 1),
    ).toEqual([]);
    expect((await nodes()).map((n) => n.nodeId)).not.toContain(dying.peerId);

    const doc = documentOf(60_000, 2);
    const blob = await client.putBlob(doc);
    const t1 = Date.now();
    const results = await runJob(Array.from({ length: 8 }, () => blob.url));
    const fetched = other.proc.output().match(new RegExp(`blob ${blob.cid}: .*`, 'g')) ?? [];
    const stats = await page.evaluate(() =>
      (window as unknown as { __monadmesh: { stats(): unknown } }).__monadmesh.stats(),
    );
    log(
      `8 tasks after the relay died in ${Date.now() - t1} ms; on ${JSON.stringify(results.map((r) => r.nodeId?.slice(-4)))}; headless: ${fetched.join('; ')}; tab: ${JSON.stringify(stats)}`,
    );
    for (const r of results) expect(r).toMatchObject({ state: 'succeeded', output: expected(doc) });
    expect(new Set(results.map((r) => r.nodeId))).toContain(browserPeer);
  }, 90_000);
});
