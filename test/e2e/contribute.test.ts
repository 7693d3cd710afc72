import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type CDPSession, chromium, type Page } from 'playwright';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { JobStatus, JsonValue, NodeInfo, TaskResult } from '../../protocol/index.ts';
import { leaseTiming } from '../../protocol/limits.ts';
import { type BuiltTemplates, buildTemplates } from '../../scripts/build-wasm.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.ts';
import { buildWebApp, ROOT } from '../../scripts/local-mesh.ts';
import { cpythonOutputs, pythonTemplateSource } from '../../templates/python/run-template.ts';
import { useLocalMesh } from './local-mesh-fixture.ts';

// Contributing from tabs end to end: `wrangler dev` serving the freshly built web app, one
// headless node (the real CLI, capacity 1, a relay) and headless Chromium with /contribute open in
// two browser contexts (one node per browser profile: the key lives in IndexedDB under a Web
// Lock), one worker each. A Python job and a WebAssembly job run at once on the three nodes, with
// outputs checked against CPython and the natively built C template; a tab closed in the middle
// and a tab asleep (its page paused) past its leases' lifetime lose no task. /nodes shows the
// three nodes and their links. Screenshots go to test-artifacts/contribute/.
const ARTIFACTS = join(ROOT, 'test-artifacts/contribute');

let built: BuiltTemplates;
const mesh = useLocalMesh({
  capacity: 1,
  before: async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [built] = await Promise.all([buildTemplates(), buildWebApp({ logLevel: 'error' })]);
  },
});

let browser: Browser;
let headlessId = '';
let sieveCid = '';
/** Pages to screenshot when a test fails. */
const open = new Map<string, Page>();
/** Tabs contributing now, by name. */
const tabs = new Map<string, Tab>();

const log = (line: string) => process.stderr.write(`[contribute e2e] ${line}\n`);

/** What the contribute page's debug hook (`window.__monadmesh`) returns from `stats()`. */
interface TabStats {
  completed: number;
  failed: number;
  connected: boolean;
}

interface Tab {
  name: string;
  context: BrowserContext;
  page: Page;
  /** Sandbox Web Workers the page started, by script (a cold start each: Pyodide costs seconds). */
  workers: Record<string, number>;
  /** The tab's libp2p peer id, which is its node id at the hub. */
  peerId: string;
}

beforeAll(async () => {
  headlessId = /connected to \S+ as (\S+)/.exec(mesh.node.output())?.[1] ?? '';
  expect(headlessId).toMatch(/^12D3KooW/);
  const res = await mesh.call('/blobs', {
    method: 'PUT',
    body: readFileSync(built.cWasm) as Uint8Array<ArrayBuffer>,
  });
  expect(res.status).toBe(201);
  sieveCid = ((await res.json()) as { cid: string }).cid;
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state !== 'fail') return;
  for (const [name, page] of open) {
    await page
      .screenshot({
        path: join(ARTIFACTS, `failed-${ctx.task.name.replace(/\W+/g, '-')}-${name}.png`),
        fullPage: true,
      })
      .catch(() => {});
  }
});

afterAll(async () => {
  await browser?.close();
});

/** A new browser profile with /contribute open, contributing with one worker, connected. */
async function contribute(name: string): Promise<Tab> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  open.set(name, page);
  page.on('pageerror', (e) => log(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    // SES names each intrinsic it removes while locking a sandbox worker down: not news.
    if (m.type() === 'error' && !m.text().startsWith('Removing intrinsics'))
      log(`${name}: page error: ${m.text()}`);
  });
  const workers: Record<string, number> = {};
  page.on('worker', (w) => {
    const script = /(python|sandbox)-web-worker/.exec(w.url())?.[0] ?? w.url();
    workers[script] = (workers[script] ?? 0) + 1;
  });
  await page.goto(`${mesh.url}/contribute`);
  await page.getByRole('spinbutton', { name: 'Workers' }).fill('1');
  await page.getByRole('button', { name: 'Start contributing' }).click();
  await expect
    .poll(() => page.getByTestId('node-status').textContent(), { timeout: 60_000 })
    .toBe('Connected');
  const peerId = await page.evaluate(() => window.__monadmesh?.peerId ?? '');
  expect(peerId).toMatch(/^12D3KooW/);
  const tab = { name, context, page, peerId, workers };
  tabs.set(name, tab);
  return tab;
}

const stats = (tab: Tab) =>
  tab.page.evaluate(() => (window.__monadmesh?.stats() as TabStats | undefined) ?? null);

/** A tab's libp2p connections, as "<peer>: <transport>" with the peers named. */
async function connectionsOf(tab: Tab): Promise<string> {
  const conns = await tab.page.evaluate(() => window.__monadmesh?.connections() ?? []);
  const name = (peer: string) =>
    peer === headlessId ? 'headless' : ([...tabs.values()].find((t) => t.peerId === peer)?.name ?? peer);
  const how = (c: { remoteAddr: string; limited: boolean }) =>
    c.remoteAddr.includes('/webrtc')
      ? 'WebRTC'
      : c.limited
        ? 'relayed'
        : c.remoteAddr.includes('/ws')
          ? 'WebSocket'
          : c.remoteAddr;
  return conns.map((c) => `${name(c.peerId)}: ${how(c)}`).join(', ');
}

async function close(tab: Tab): Promise<void> {
  open.delete(tab.name);
  tabs.delete(tab.name);
  await tab.page.close();
  await tab.context.close();
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

const listed = async () =>
  ((await (await fetch(`${mesh.url}/api/v1/nodes`)).json()) as { nodes: NodeInfo[] }).nodes;

const status = async (id: string) => (await (await mesh.call(`/jobs/${id}`)).json()) as JobStatus;

/** Every task of a job as the room has it now (pending, leased or final), in input order. */
async function tasks(id: string): Promise<TaskResult[]> {
  const text = await (await mesh.call(`/jobs/${id}/results?format=ndjson`)).text();
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TaskResult);
}

interface Lease {
  jobId: string;
  index: number;
}

/**
 * Waits until the tab has a result in one of the jobs and holds leases in them, then pauses its
 * page in the debugger: its main thread stops, so its node sends nothing more (no results, no
 * heartbeats). After letting a frame already on its way land, returns the leases the tab still
 * holds: exactly the tasks it will lose. A tab whose leases all landed meanwhile runs on and is
 * tried again.
 */
async function pauseHoldingLeases(tab: Tab, jobs: string[]): Promise<{ cdp: CDPSession; held: Lease[] }> {
  const cdp = await tab.context.newCDPSession(tab.page);
  await cdp.send('Debugger.enable');
  const t0 = Date.now();
  const ofTab = async () =>
    (await Promise.all(jobs.map(async (jobId) => (await tasks(jobId)).map((r) => ({ jobId, r })))))
      .flat()
      .filter(({ r }) => r.nodeId === tab.peerId);
  for (;;) {
    const mine = await ofTab();
    if (mine.some(({ r }) => r.state === 'succeeded') && mine.some(({ r }) => r.state === 'leased')) {
      await cdp.send('Debugger.pause');
      await new Promise((r) => setTimeout(r, 1500));
      const held = (await ofTab())
        .filter(({ r }) => r.state === 'leased')
        .map(({ jobId, r }) => ({ jobId, index: r.index }));
      // Two at least (one running, one queued): the queued one surely cannot be delivered any more.
      if (held.length >= 2) return { cdp, held };
      await cdp.send('Debugger.resume');
    }
    const states = await Promise.all(jobs.map(async (id) => (await status(id)).state));
    expect(states, `the jobs ended before ${tab.name} had a result in and a lease`).toContain('running');
    expect(Date.now() - t0, `${tab.name} never had a result in and a lease`).toBeLessThan(90_000);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- the two jobs ---------------------------------------------------------------------------------

/** Monte Carlo π (the Python template): about 100–150 ms of Pyodide per task. */
const PYTHON_INPUTS: JsonValue[] = Array.from({ length: 45 }, () => ({ samples: 300_000 }));

/** Prime sieve (the C template built for WASI): `count` slices of `span` from `from` up. */
const sieveInputs = (count: number, from: number, span = 50_000_000): JsonValue[] =>
  Array.from({ length: count }, (_, i) => ({ lo: from + i * span, hi: from + (i + 1) * span }));

/** The C template compiled natively, run on each input: the reference. */
function nativeSieve(inputs: JsonValue[]): string[] {
  return inputs.map((input) =>
    JSON.stringify(
      JSON.parse(
        execFileSync(built.cNative, { input: JSON.stringify(input), encoding: 'utf8' }),
      ) as JsonValue,
    ),
  );
}

const submitPython = (inputs: JsonValue[]) =>
  mesh.submit({
    runtime: 'python',
    source: pythonTemplateSource('monte-carlo-pi'),
    inputs,
    label: 'pi',
    redundancy: 1, // the tabs are anonymous: one node's word is enough here
  });
const submitSieve = (inputs: JsonValue[]) =>
  mesh.submit({ runtime: 'wasm', codeCid: sieveCid, inputs, label: 'sieve', redundancy: 1 });

/**
 * Waits for the job to end and checks it: succeeded, one result per input (no task missing or
 * doubled), each equal to the reference. Returns the results.
 */
async function finishedAndCorrect(
  id: string,
  inputs: JsonValue[],
  reference: (results: TaskResult[]) => string[],
): Promise<TaskResult[]> {
  const { status: final, results } = await mesh.finished(id, 180_000);
  expect(final, JSON.stringify(final)).toMatchObject({ state: 'succeeded', total: inputs.length });
  expect(final.counts).toMatchObject({ succeeded: inputs.length, failed: 0, pending: 0, leased: 0 });
  expect(results.map((r) => r.index)).toEqual(inputs.map((_, i) => i));
  for (const r of results) expect(r.state, JSON.stringify(r)).toBe('succeeded');
  expect(results.map((r) => JSON.stringify(r.output))).toEqual(reference(results));
  return results;
}

const pythonReference = (id: string) => (results: TaskResult[]) =>
  cpythonOutputs(
    'monte-carlo-pi',
    results.map((r) => ({ input: PYTHON_INPUTS[r.index]!, seed: `${id}:${r.index}` })),
  );

/** How many tasks each node ran (by the results), with short names. */
function tally(results: TaskResult[], names: Map<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const name = names.get(r.nodeId ?? '') ?? `other ${r.nodeId}`;
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

describe('contributing from tabs', () => {
  test('default: two tabs and a headless node share a Python and a WASM job; the map shows them; closing a tab mid-job loses no task', async () => {
    const t0 = Date.now();
    const [a, b] = await Promise.all([contribute('tab-a'), contribute('tab-b')]);
    expect(a.peerId).not.toBe(b.peerId);
    const names = new Map([
      [a.peerId, 'tab A'],
      [b.peerId, 'tab B'],
      [headlessId, 'headless'],
    ]);
    log(`two tabs connected in ${Date.now() - t0} ms`);

    // ---- the node map, in a third profile, while the three nodes run ----
    const viewer = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const map = await viewer.newPage();
    open.set('map', map);
    await map.goto(`${mesh.url}/nodes`);
    const svg = map.getByTestId('node-map');
    const dots = svg.locator('circle.node-dot');
    const count = async (key: string) =>
      Number(await map.getByTestId(`node-count-${key}`).first().textContent());
    await expect.poll(() => dots.count(), { timeout: 30_000 }).toBe(3);
    await expect.poll(() => map.getByTestId('node-list').locator('tbody tr').count()).toBe(3);
    expect(await count('total')).toBe(3);
    expect(await count('browser')).toBe(2);
    expect(await count('headless')).toBe(1);
    const rows = await map
      .getByTestId('node-list')
      .locator('tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => ({
          id: tr.getAttribute('data-node-id'),
          kind: tr.querySelectorAll('td')[0]?.textContent ?? '',
          place: tr.querySelectorAll('td')[2]?.textContent ?? '',
        })),
      );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.kind]))).toEqual({
      [a.peerId]: 'browser',
      [b.peerId]: 'browser',
      [headlessId]: 'headless (relay)',
    });
    // Each tab dials the headless relay (a WebSocket; its reservation there gives it a
    // /p2p-circuit/webrtc address): a link each. The tabs reach each other later, over WebRTC.
    const links = () =>
      svg
        .locator('path.peer-link')
        .evaluateAll((ps) =>
          ps.map((p) => [p.getAttribute('data-from'), p.getAttribute('data-to')].sort().join(' ')),
        );
    for (const tab of [a, b]) {
      await expect.poll(links, { timeout: 30_000 }).toContain([tab.peerId, headlessId].sort().join(' '));
    }
    expect(await count('links')).toBe((await links()).length);
    const located = Object.fromEntries(
      await dots.evaluateAll((els) =>
        els.map((e) => [e.getAttribute('data-kind'), e.getAttribute('data-located')]),
      ),
    );
    const locations = (await listed()).map((n) => `${n.kind}: ${JSON.stringify(n.location)}`);
    log(
      `map: ${(await links()).length} link(s); on the map (not in the "location unknown" strip): ${JSON.stringify(located)}; places in the list: ${JSON.stringify(rows.map((r) => r.place))}; API locations: ${locations.join(', ')}`,
    );
    await shot(map, 'map-three-nodes');

    // ---- a WASM job, and a Python job beside it ----
    // The WASM job goes first: a tab's sandbox workers are warm, so tab B has a result in within
    // seconds. Its first Python task waits for Pyodide's cold start in the tab (20 s and more on a
    // loaded 2-core machine), by which time the headless node could have finished both jobs.
    const sieve = sieveInputs(45, 1_000_000_000);
    const t1 = Date.now();
    const wasmId = await submitSieve(sieve);
    let firstB = 0;
    for (;;) {
      firstB = Date.now() - t1;
      const results = await tasks(wasmId);
      if (results.some((r) => r.nodeId === b.peerId && r.state === 'succeeded')) break;
      expect(Date.now() - t1, 'tab B never finished a task').toBeLessThan(90_000);
      expect(
        results.every((r) => r.state === 'succeeded'),
        'the WASM job ended before tab B finished a task',
      ).toBe(false);
      await new Promise((r) => setTimeout(r, 100));
    }
    const pyId = await submitPython(PYTHON_INPUTS);
    await Promise.all([shot(a.page, 'tab-a-running'), shot(b.page, 'tab-b-running'), shot(map, 'map-busy')]);
    const named = (pair: string) =>
      pair
        .split(' ')
        .map((id) => names.get(id))
        .join('–');
    const transports = await Promise.all([a, b].map(connectionsOf));
    log(
      `tab B had its first result in ${firstB} ms after submitting the WASM job; while busy: links on the map ${(await links()).map(named).join(', ')}; connections of tab A ${transports[0]}, of tab B ${transports[1]}`,
    );

    // Close tab B in the middle of its work: while it holds leases whose results it has not sent.
    // (Its page is stopped a moment before, so those leases are known exactly; see pauseHoldingLeases.)
    const { held: heldByB } = await pauseHoldingLeases(b, [pyId, wasmId]);
    await close(b);
    const atClose = [...(await tasks(pyId)), ...(await tasks(wasmId))];
    const doneAtClose = atClose.filter((r) => r.state === 'succeeded').length;
    log(
      `closed tab B ${Date.now() - t1} ms after submitting: ${doneAtClose}/${atClose.length} tasks done, ${atClose.filter((r) => r.nodeId === b.peerId && r.state === 'succeeded').length} of them by tab B, which held ${heldByB.length} lease(s) and had started workers ${JSON.stringify(b.workers)}`,
    );
    // In the middle: at the close the jobs still had tasks to do, at least tab B's held ones
    // (usually about a quarter of all tasks; fewer when tab B's first result comes late).
    expect(doneAtClose, 'the jobs were done before tab B could be closed').toBeLessThan(atClose.length);

    const [py, wasm] = await Promise.all([
      finishedAndCorrect(pyId, PYTHON_INPUTS, pythonReference(pyId)),
      finishedAndCorrect(wasmId, sieve, () => nativeSieve(sieve)),
    ]);
    const all = [...py, ...wasm];
    const retried = all.filter((r) => r.attempts > 1);
    const median = (results: TaskResult[], kind: 'headless' | 'browser') => {
      const ms = results
        .filter((r) => (r.nodeId === headlessId) === (kind === 'headless'))
        .map((r) => r.durationMs ?? 0)
        .sort((x, y) => x - y);
      return ms.length ? Math.round(ms[Math.floor(ms.length / 2)]!) : undefined;
    };
    log(
      `median task time (ms): Python headless ${median(py, 'headless')}, tabs ${median(py, 'browser')}; WASM headless ${median(wasm, 'headless')}, tabs ${median(wasm, 'browser')}`,
    );
    log(
      `both jobs done ${Date.now() - t1} ms after submitting; tab A started workers ${JSON.stringify(a.workers)}; Python ${JSON.stringify(tally(py, names))}, WASM ${JSON.stringify(tally(wasm, names))}; ${retried.length} task(s) retried: ${JSON.stringify(retried.map((r) => ({ index: r.index, attempts: r.attempts, on: names.get(r.nodeId ?? '') })))}`,
    );
    // Every node ran tasks of the jobs (tab B before it was closed): both kinds of node.
    const ranOn = new Set(all.map((r) => r.nodeId));
    for (const id of [a.peerId, b.peerId, headlessId]) expect(ranOn, names.get(id)).toContain(id);
    // What tab B held when it was closed ran again elsewhere. (The page runs again for a moment as
    // it closes, when the debugger lets go: a result it had already computed may still go out,
    // and counts, for a lease it still held. The tasks it had not run cannot.)
    let rerun = 0;
    for (const { jobId, index } of heldByB) {
      const r = (jobId === pyId ? py : wasm)[index]!;
      if (r.nodeId === b.peerId) {
        expect(r.attempts, JSON.stringify(r)).toBe(1);
        continue;
      }
      // A new tab's lost lease is counted as lost, not as an attempt of the task.
      expect(r.attempts, JSON.stringify(r)).toBe(1);
      expect(r.lost, JSON.stringify(r)).toBeGreaterThanOrEqual(1);
      rerun++;
    }
    expect(rerun, 'no task tab B held ran elsewhere').toBeGreaterThan(0);

    // The map lets tab B and its links go: what is drawn is what the nodes report.
    await expect.poll(() => dots.count(), { timeout: 30_000 }).toBe(2);
    expect(await count('browser')).toBe(1);
    await expect
      .poll(
        async () => {
          const nodes = await listed();
          const known = new Set(nodes.map((n) => n.peerId));
          const reported = nodes.flatMap((n) =>
            (n.peers ?? []).filter((p) => known.has(p)).map((p) => [n.peerId, p].sort().join(' ')),
          );
          return [...new Set(reported)].sort().join(', ') === (await links()).sort().join(', ');
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    expect(await links()).toEqual([[a.peerId, headlessId].sort().join(' ')]);
    // Tab A stays connected and counted its tasks.
    await expect.poll(() => a.page.getByTestId('node-status').textContent()).toBe('Connected');
    const done = all.filter((r) => r.nodeId === a.peerId).length;
    await expect.poll(async () => (await stats(a))?.completed ?? 0).toBeGreaterThanOrEqual(done);
    await shot(a.page, 'tab-a-after');
    await shot(map, 'map-after-close');
    open.delete('map');
    await viewer.close();
  });

  // A sleeping tab, as far as the mesh can tell: its page's JS stops (no heartbeats, no results)
  // while its socket stays open. `Page.setWebLifecycleState({ state: 'frozen' })` would be the
  // natural tool, but it does nothing here: Chromium only freezes hidden pages and a headless page
  // is always visible (on Chromium 156 the page's timers and its node ran on through it). Pausing
  // the page in the debugger stops its main thread instead; its Web Workers run on, but nothing
  // they finish leaves the tab.
  test('behavior: a sleeping tab loses no task: its leases expire and run elsewhere, and it works again after', async () => {
    // A new tab, alone with the headless node. Not the first test's survivor: that one may have had
    // 50 results accepted there, which makes it established, and an established node's lost leases
    // count as attempts (a run once had the tab cross 50 between leasing the two tasks it held).
    for (const other of [...tabs.values()]) await close(other);
    const tab = await contribute('tab-c');
    const names = new Map([
      [tab.peerId, 'tab'],
      [headlessId, 'headless'],
    ]);
    const inputs = sieveInputs(30, 4_000_000_000);
    const t0 = Date.now();
    const id = await submitSieve(inputs);

    const { cdp, held: leases } = await pauseHoldingLeases(tab, [id]);
    const held = leases.map((l) => l.index);
    const sleptAt = Date.now();
    const byTab = (list: TaskResult[]) =>
      list.filter((r) => r.nodeId === tab.peerId && r.state === 'succeeded').map((r) => r.index);
    const doneAtSleep = byTab(await tasks(id));
    log(
      `the tab fell asleep ${sleptAt - t0} ms after submitting, holding the lease(s) of task(s) ${JSON.stringify(held)}`,
    );

    // Asleep longer than a lease lives, until the headless node has run the tab's tasks (and the
    // rest). Meanwhile, note whether and when the hub stops listing the tab (its socket closed).
    const heldDoneAfter = new Map<number, number>();
    let now: TaskResult[] = [];
    let lastSeen: number | undefined;
    let leftHubAfter: number | undefined;
    for (;;) {
      const [list, nodes] = await Promise.all([tasks(id), listed()]);
      now = list;
      const elapsed = Date.now() - sleptAt;
      for (const index of held)
        if (now[index]?.state === 'succeeded' && !heldDoneAfter.has(index)) heldDoneAfter.set(index, elapsed);
      const info = nodes.find((n) => n.nodeId === tab.peerId);
      if (info) lastSeen = info.lastSeenAt;
      else leftHubAfter ??= elapsed;
      if (elapsed > leaseTiming.leaseTtlMs && now.every((r) => r.state === 'succeeded')) break;
      expect(
        elapsed,
        `the job did not finish while the tab slept: ${JSON.stringify(await status(id))}`,
      ).toBeLessThan(leaseTiming.leaseTtlMs + 30_000);
      await new Promise((r) => setTimeout(r, 500));
    }
    log(
      `the job finished while the tab slept (${Date.now() - sleptAt} ms); the held tasks were done after ${JSON.stringify(Object.fromEntries(heldDoneAfter))} ms of sleep; the hub last heard from the tab ${lastSeen === undefined ? 'never' : `${lastSeen - sleptAt} ms`} after it fell asleep, and ${leftHubAfter === undefined ? 'listed it all along' : `stopped listing it after ${leftHubAfter} ms`}`,
    );
    expect(byTab(now), 'the sleeping tab kept delivering results').toEqual(doneAtSleep);
    expect(lastSeen, 'the hub kept hearing from the sleeping tab').toBeLessThan(sleptAt);
    for (const index of held) {
      expect(now[index]!.nodeId, `task ${index}`).toBe(headlessId);
      // Its expired lease is counted as lost, not as an attempt (the tab is new: not established).
      expect(now[index]!.attempts, `task ${index}`).toBe(1);
      expect(now[index]!.lost, `task ${index}`).toBeGreaterThanOrEqual(1);
      // While the hub still holds the tab's socket, only the leases' expiry frees its tasks: not
      // before a lease's lifetime after the tab's last heartbeat.
      if (leftHubAfter === undefined || leftHubAfter > heldDoneAfter.get(index)!)
        expect(heldDoneAfter.get(index), `task ${index}`).toBeGreaterThan(
          leaseTiming.leaseTtlMs - leaseTiming.heartbeatMs - 2000,
        );
    }

    await cdp.send('Debugger.resume');
    const wokeAt = Date.now();
    const results = await finishedAndCorrect(id, inputs, () => nativeSieve(inputs));
    log(
      `the job: ${JSON.stringify(tally(results, names))}; retried ${JSON.stringify(results.filter((r) => r.attempts > 1).map((r) => ({ index: r.index, attempts: r.attempts, on: names.get(r.nodeId ?? '') })))}`,
    );

    // Awake again: connected, and it takes tasks of the next job.
    await expect
      .poll(() => tab.page.getByTestId('node-status').textContent(), { timeout: 30_000 })
      .toBe('Connected');
    log(`the tab woke up; ${Date.now() - wokeAt} ms later its stats are ${JSON.stringify(await stats(tab))}`);
    const next = sieveInputs(16, 6_000_000_000);
    const nextResults = await finishedAndCorrect(await submitSieve(next), next, () => nativeSieve(next));
    log(
      `the next job: ${JSON.stringify(tally(nextResults, names))}; the tab's stats ${JSON.stringify(await stats(tab))}`,
    );
    expect(nextResults.some((r) => r.nodeId === tab.peerId)).toBe(true);
    await shot(tab.page, 'tab-after-sleep');
  });
});
