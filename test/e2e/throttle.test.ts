import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type CDPSession, chromium, type Page } from 'playwright';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createClient, type MeshClient } from '../../client/index.ts';
import { createApiKey, DEV_PRIVATE_KEYS } from '../../client/sign-in.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.ts';
import { type ApiServer, buildWebApp, ROOT, startApi } from '../../scripts/local-mesh.ts';

// The contribute page's CPU share and pause rules in real headless Chromium, with the tab as the
// only node of a `wrangler dev` mesh. CPU use is the renderer processes' CPU time as Chromium
// itself reports it (DevTools protocol `SystemInfo.getProcessInfo`; dedicated workers run in
// their page's renderer), over the wall time of a job of CPU-bound tasks: one worker at 100%,
// then the same job at a 50% share.

const ARTIFACTS = join(ROOT, 'test-artifacts/throttle');
const log = (line: string) => process.stderr.write(`[throttle e2e] ${line}\n`);

let api: ApiServer;
let client: MeshClient;
let browser: Browser | undefined;
let page: Page;
let cdp: CDPSession;

interface Stats {
  completed: number;
  running: number;
  pausedFor: string[];
  cpuShare: number;
  cpuMs: number;
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
  const job = await client.map(code, inputs, { timeoutMs: 30_000 });
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
  const context = await browser.newContext();
  // A stand-in battery the test can unplug: headless Chromium on a server reports none.
  await context.addInitScript(() => {
    const battery = Object.assign(new EventTarget(), { charging: true, level: 1 });
    Object.defineProperty(navigator, 'getBattery', { value: async () => battery });
    (window as unknown as { __battery: typeof battery }).__battery = battery;
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
  const job = await client.map('export default (x) => x * 2', [1, 2, 3]);
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
