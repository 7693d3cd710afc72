import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Browser,
  type BrowserContext,
  type CDPSession,
  chromium,
  type Page,
  type WebSocketRoute,
} from 'playwright';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createClient, type MeshClient } from '../../client/index.ts';
import { createApiKey, DEV_PRIVATE_KEYS } from '../../client/sign-in.ts';
import type { NodeStanding } from '../../protocol/index.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.ts';
import { type ApiServer, buildWebApp, ROOT, startApi } from '../../scripts/local-mesh.ts';

// The contribute page's CPU share and pause rules in real headless Chromium, with the tab as the
// only node of a `wrangler dev` mesh. CPU use is the renderer processes' CPU time as Chromium
// itself reports it (DevTools protocol `SystemInfo.getProcessInfo`; dedicated workers run in
// their page's renderer), over the wall time of a job of CPU-bound tasks: one worker at 100%,
// then the same job at a 50% share. Then the pause rules, and a dropped connection to the hub
// (cut by the test, which routes the tab's hub socket through itself).

const ARTIFACTS = join(ROOT, 'test-artifacts/contribute-controls');
const log = (line: string) => process.stderr.write(`[contribute-controls e2e] ${line}\n`);

let api: ApiServer;
let client: MeshClient;
let browser: Browser | undefined;
let page: Page;
let context: BrowserContext;
/** The tab's sockets to the hub, as routed through the test. */
const hubSockets: { page: WebSocketRoute; server: WebSocketRoute }[] = [];
let cdp: CDPSession;

interface Stats {
  completed: number;
  running: number;
  pausedFor: string[];
  cpuShare: number;
  cpuMs: number;
  standing?: NodeStanding;
}
const stats = () =>
  page.evaluate(() => (window as unknown as { __monadmesh: { stats(): Stats } }).__monadmesh.stats());

/** CPU seconds of all renderer processes (this browser has one page). */
async function rendererCpu(): Promise<number> {
  const { processInfo } = (await cdp.send('SystemInfo.getProcessInfo' as never)) as {
    processInfo: { type: string; cpuTime: number }[];
  };
  return processInfo.filter((p) => p.type === 'renderer').reduce((a, p) => a + p.cpuTime, 0);
}

// A CPU-bound task: n rounds of integer arithmetic (about 200 ms on this machine's V8, measured below).
const code =
  'export default (n) => { let x = 1; for (let i = 0; i < n; i++) x = (x * 48271 + i) % 2147483647; return x; }';
function reference(n: number): number {
  let x = 1;
  for (let i = 0; i < n; i++) x = (x * 48271 + i) % 2147483647;
  return x;
}
/** Rounds that take about `ms` here. */
function calibrate(ms: number): number {
  let n = 1_000_000;
  for (;;) {
    const t0 = performance.now();
    reference(n);
    const took = performance.now() - t0;
    if (took > 50) return Math.round((n * ms) / took);
    n *= 2;
  }
}

/** Runs `tasks` tasks in the tab; the renderers' CPU time over the job's wall time, in cores. */
async function measuredCores(
  tasks: number,
  rounds: number,
): Promise<{ cores: number; wallS: number; taskMs: number }> {
  const cpu0 = await rendererCpu();
  const t0 = performance.now();
  const inputs = Array.from({ length: tasks }, (_, i) => rounds + i);
  const job = await client.map(code, inputs, { timeoutMs: 30_000, redundancy: 1 });
  await job.wait();
  const wallS = (performance.now() - t0) / 1000;
  const cores = ((await rendererCpu()) - cpu0) / wallS;
  let i = 0;
  let taskMs = 0;
  for await (const r of job.results()) {
    taskMs += r.durationMs ?? 0;
    expect(r).toMatchObject({ state: 'succeeded', output: reference(inputs[r.index]!) });
    i++;
  }
  expect(i).toBe(tasks);
  return { cores, wallS, taskMs };
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [api] = await Promise.all([startApi(), buildWebApp({ logLevel: 'error' })]);
  const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
  client = createClient({ url: api.url, apiKey: key });
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  cdp = await browser.newBrowserCDPSession();
  context = await browser.newContext();
  // A stand-in battery the test can unplug: headless Chromium on a server reports none.
  await context.addInitScript(() => {
    const battery = Object.assign(new EventTarget(), { charging: true, level: 1 });
    Object.defineProperty(navigator, 'getBattery', { value: async () => battery });
    (window as unknown as { __battery: typeof battery }).__battery = battery;
  });
  // The tab's socket to the hub passes through the test, so the test can cut it (the recovery test).
  await context.routeWebSocket(/\/api\/v1\/mesh\/connect/, (ws) => {
    const server = ws.connectToServer();
    hubSockets.push({ page: ws, server });
  });
  page = await context.newPage();
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  await page.goto(`${api.url}/contribute`);
  await page.getByRole('spinbutton', { name: 'Workers' }).fill('1');
  await page.getByRole('button', { name: 'Start contributing' }).click();
  await page
    .getByTestId('node-status')
    .filter({ hasText: /^Connected$/ })
    .waitFor({ timeout: 60_000 });
});

afterAll(async () => {
  await browser?.close();
  await api?.stop();
});

test('throttling: with one worker at a 50% CPU share the tab uses about half a core, at 100% about one', async () => {
  const rounds = calibrate(200);
  const cpuMsBefore = (await stats()).cpuMs;
  const full = await measuredCores(24, rounds);
  await page.getByRole('slider', { name: 'CPU share' }).fill('50');
  await expect.poll(async () => (await stats()).cpuShare).toBe(0.5);
  const half = await measuredCores(24, rounds);
  await page.screenshot({ path: join(ARTIFACTS, 'contribute-50-percent.png'), fullPage: true });
  log(
    `100%: ${full.cores.toFixed(2)} cores over ${full.wallS.toFixed(1)} s; 50%: ${half.cores.toFixed(2)} cores over ${half.wallS.toFixed(1)} s`,
  );
  expect(full.cores).toBeGreaterThan(0.7);
  expect(half.cores).toBeGreaterThan(0.3);
  expect(half.cores).toBeLessThan(0.65);
  expect(half.cores / full.cores).toBeGreaterThan(0.35);
  expect(half.cores / full.cores).toBeLessThan(0.7);
  // The page's count of CPU time given is the task time its results reported.
  expect((await stats()).cpuMs - cpuMsBefore).toBeCloseTo(full.taskMs + half.taskMs, -1);
  await page.getByRole('slider', { name: 'CPU share' }).fill('100');
});

test('pause rules: hidden and on battery pause the tab only when asked; its work waits, then runs', async () => {
  const setHidden = (hidden: boolean) =>
    page.evaluate((h) => {
      Object.defineProperty(document, 'visibilityState', {
        configurable: true,
        get: () => (h ? 'hidden' : 'visible'),
      });
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
  const setCharging = (charging: boolean) =>
    page.evaluate((c) => {
      const battery = (window as unknown as { __battery: EventTarget & { charging: boolean } }).__battery;
      battery.charging = c;
      battery.dispatchEvent(new Event('chargingchange'));
    }, charging);
  const status = () => page.getByTestId('node-status').textContent();

  // Not asked: hiding the tab changes nothing.
  await setHidden(true);
  await expect.poll(status).toBe('Connected');
  await page.getByRole('checkbox', { name: 'Pause while this tab is hidden' }).check();
  await expect.poll(status).toBe('Paused (tab hidden)');
  // The only node is paused: a job waits.
  const job = await client.map('export default (x) => x * 2', [1, 2, 3], { redundancy: 1 });
  await new Promise((r) => setTimeout(r, 1500));
  expect((await job.status()).counts.succeeded ?? 0).toBe(0);
  await setHidden(false);
  await job.wait();
  expect((await job.status()).counts.succeeded).toBe(3);

  await setCharging(false);
  await expect.poll(status).toBe('Connected');
  await page.getByRole('checkbox', { name: 'Pause on battery' }).check();
  await expect.poll(status).toBe('Paused (on battery)');
  expect((await stats()).pausedFor).toEqual(['battery']);
  await page.screenshot({ path: join(ARTIFACTS, 'contribute-paused-on-battery.png'), fullPage: true });
  await setCharging(true);
  await expect.poll(status).toBe('Connected');
});

test('recovery: a tab whose connection drops mid-job reconnects by itself, and the job loses no task', async () => {
  const status = () => page.getByTestId('node-status').textContent();
  // Tasks of about 100 ms each, so that the poll sees one running (short ones may all be done between two polls).
  const rounds = calibrate(100);
  const inputs = Array.from({ length: 20 }, (_, i) => rounds + i);
  const job = await client.map(code, inputs, { timeoutMs: 30_000, redundancy: 1 });
  await expect.poll(async () => (await stats()).running, { timeout: 30_000 }).toBe(1);
  // The connection drops under both ends while the tab runs a task (and holds more leases).
  const before = hubSockets.length;
  const { page: tabEnd, server } = hubSockets.at(-1)!;
  await Promise.all([
    tabEnd.close({ code: 4000, reason: 'dropped by the test' }),
    server.close({ code: 4000, reason: 'dropped by the test' }),
  ]);
  await expect.poll(status, { timeout: 15_000 }).toBe('Reconnecting…');
  await expect.poll(status, { timeout: 30_000 }).toBe('Connected');
  expect(hubSockets.length).toBe(before + 1);
  await job.wait();
  const outputs: unknown[] = [];
  let retried = 0;
  for await (const r of job.results()) {
    expect(r.state).toBe('succeeded');
    outputs[r.index] = r.output;
    // Lost leases count as attempts only for an established node; either way the task ran again.
    if (r.attempts > 1 || (r.lost ?? 0) > 0) retried++;
  }
  expect(outputs).toEqual(inputs.map(reference));
  // What the tab held when its socket closed went back to the queue at once and ran again; the
  // hub counted those leases as lost, and the result the tab finished meanwhile as late.
  expect(retried).toBeGreaterThan(0);
  const reputation = (await stats()).standing?.reputation;
  expect(reputation?.lost).toBeGreaterThan(0);
  log(`after the drop: ${retried} task(s) ran again; reputation ${JSON.stringify(reputation)}`);
});
