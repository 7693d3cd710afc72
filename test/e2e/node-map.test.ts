import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createClient, type MeshClient } from '../../client/index.ts';
import { createApiKey, DEV_PRIVATE_KEYS } from '../../client/sign-in.ts';
import type { NodeInfo } from '../../protocol/index.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.ts';
import {
  type ApiServer,
  buildWebApp,
  type Proc,
  ROOT,
  startApi,
  startNode,
} from '../../scripts/local-mesh.ts';

// The node map end to end: `wrangler dev` serving the freshly built web app, three headless nodes
// (the real CLI: each a libp2p peer and a relay, so they connect to each other through the relays
// the hub hands out), and Debian's Chromium on /nodes. The map and the list must show the three
// nodes and their links, live: busy while a job runs, and a node killed with SIGKILL must vanish
// without a reload. Screenshots go to test-artifacts/node-map/.
const ARTIFACTS = join(ROOT, 'test-artifacts/node-map');

let api: ApiServer;
const nodes: { proc: Proc; nodeId: string }[] = [];
let browser: Browser | undefined;
let page: Page;
let client: MeshClient;
/** Requests the page tried to make off loopback (there must be none: the atlas is bundled). */
const external: string[] = [];

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

async function node(): Promise<{ proc: Proc; nodeId: string }> {
  const proc = await startNode(api.url, { capacity: 2 });
  const nodeId = /connected to \S+ as (\S+)/.exec(proc.output())?.[1];
  if (!nodeId) throw new Error(`no node id in:\n${proc.output()}`);
  return { proc, nodeId };
}

const listed = async () =>
  ((await (await fetch(`${api.url}/api/v1/nodes`)).json()) as { nodes: NodeInfo[] }).nodes;

const map = () => page.getByTestId('node-map');
const dots = () => map().locator('circle.node-dot');
const listRows = () => page.getByTestId('node-list').locator('tbody tr');
const count = async (key: string) =>
  Number(await page.getByTestId(`node-count-${key}`).first().textContent());
const attrs = (name: string) => dots().evaluateAll((els, n) => els.map((e) => e.getAttribute(n)), name);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const t0 = Date.now();
  [api] = await Promise.all([startApi(), buildWebApp({ logLevel: 'error' })]);
  const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
  client = createClient({ url: api.url, apiKey: key });
  nodes.push(await node());
  nodes.push(...(await Promise.all([node(), node()])));
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await context.route(/^https?:\/\/(?!(127\.0\.0\.1|localhost)[:/])/, (route) => {
    external.push(route.request().url());
    return route.abort();
  });
  page = await context.newPage();
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  page.on('console', (m) => {
    if (m.type() === 'error') process.stderr.write(`[page error] ${m.text()}\n`);
  });
  process.stderr.write(`[node-map e2e] set up in ${Date.now() - t0} ms\n`);
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail')
    await shot(`failed-${ctx.task.name.replace(/\W+/g, '-')}`).catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(nodes.map((n) => n.proc.stop('SIGKILL')));
  await api?.stop();
});

describe('node map', () => {
  test('default: the node map shows the three nodes and the peer links, live', async () => {
    // What the API says locally: every node at wrangler's placeholder location (or none).
    const api0 = await listed();
    process.stderr.write(
      `[node-map e2e] /api/v1/nodes locations: ${JSON.stringify(api0.map((n) => n.location))}\n`,
    );

    await page.goto(`${api.url}/nodes`);
    await expect.poll(() => page.getByTestId('feed-state').textContent(), { timeout: 30_000 }).toBe('Live');
    await expect.poll(() => dots().count(), { timeout: 30_000 }).toBe(3);
    expect((await attrs('data-node-id')).sort()).toEqual(nodes.map((n) => n.nodeId).sort());
    expect(await attrs('data-kind')).toEqual(['headless', 'headless', 'headless']);

    // Links: every headless node relays, and each new node dials the relays in its welcome.
    await expect
      .poll(() => map().locator('path.peer-link').count(), { timeout: 30_000 })
      .toBeGreaterThanOrEqual(1);
    // Give the mesh a moment to settle into its full set of links, then compare with the API.
    await expect
      .poll(
        async () => {
          const fromApi = await listed();
          const known = new Set(fromApi.map((n) => n.peerId));
          const pairs = new Set(
            fromApi.flatMap((n) =>
              (n.peers ?? []).filter((p) => known.has(p)).map((p) => [n.peerId, p].sort().join(' ')),
            ),
          );
          return (await map().locator('path.peer-link').count()) === pairs.size && pairs.size >= 2;
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    const links = await map().locator('path.peer-link').count();
    process.stderr.write(`[node-map e2e] ${links} peer link(s) on the map\n`);

    // Co-located nodes are spread apart: three distinct spots, all inside the map.
    const boxes = await dots().evaluateAll((els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect();
        return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];
      }),
    );
    expect(new Set(boxes.map(String)).size).toBe(3);

    // Counts and the list: the same three nodes.
    expect(await count('total')).toBe(3);
    expect(await count('headless')).toBe(3);
    expect(await count('browser')).toBe(0);
    expect(await count('links')).toBe(links);
    await expect.poll(() => listRows().count()).toBe(3);
    const rows = await listRows().evaluateAll((trs) =>
      trs.map((tr) => ({
        id: tr.getAttribute('data-node-id'),
        cells: [...tr.querySelectorAll('th, td')].map((c) => c.textContent ?? ''),
      })),
    );
    expect(rows.map((r) => r.id).sort()).toEqual(nodes.map((n) => n.nodeId).sort());
    for (const r of rows) {
      expect(r.cells[1]).toBe('headless (relay)');
      expect(r.cells[2]).toBe('idle');
      expect(r.cells[4]).toMatch(/^[12]: /);
    }
    await shot('map-idle');

    // A tooltip on hover.
    await map().locator('g.node').first().hover();
    await expect.poll(() => page.getByRole('tooltip').textContent()).toMatch(/headless · idle/);
    await shot('map-tooltip');
    await page.mouse.move(5, 5);
  });

  test('behavior: nodes turn busy while they run a job, and idle again', async () => {
    // About a second of CPU per task, six tasks: every node gets work.
    const job = await client.map(
      'export default (n) => { let x = 0; for (let i = 0; i < 4e8; i++) x = (x + i * n) % 1000003; return x; }',
      [1, 2, 3, 4, 5, 6],
    );
    await expect.poll(() => count('busy'), { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
    expect(await attrs('data-state')).toContain('busy');
    await shot('map-busy');
    await job.wait();
    await expect.poll(() => count('busy'), { timeout: 30_000 }).toBe(0);
    // Polled: the map may be between two renders (no dots for a moment) when the count turns.
    await expect.poll(() => attrs('data-state'), { timeout: 30_000 }).toEqual(['idle', 'idle', 'idle']);
  });

  test('behavior: the jobs dashboard has a compact live map of the nodes', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
    const panel = page.getByRole('region', { name: 'Compute nodes' });
    await expect.poll(() => panel.locator('circle.node-dot').count(), { timeout: 30_000 }).toBe(3);
    expect(await panel.getByTestId('node-count-total').textContent()).toBe('3');
    await panel.scrollIntoViewIfNeeded();
    await shot('dashboard-panel');
    await panel.getByRole('link', { name: 'Node map and list' }).click();
    await page.waitForURL(/\/nodes$/);
  });

  test('behavior: a node killed with SIGKILL disappears from the map and the list without a reload', async () => {
    await expect.poll(() => dots().count(), { timeout: 30_000 }).toBe(3);
    const victim = nodes.pop()!;
    const t0 = Date.now();
    await victim.proc.stop('SIGKILL');
    await expect.poll(() => dots().count(), { timeout: 30_000 }).toBe(2);
    process.stderr.write(`[node-map e2e] killed node gone from the page after ${Date.now() - t0} ms\n`);
    expect(await attrs('data-node-id')).not.toContain(victim.nodeId);
    await expect.poll(() => listRows().count()).toBe(2);
    expect(await count('total')).toBe(2);
    // Its links went with it; the two survivors may still be linked.
    const ends = await map()
      .locator('path.peer-link')
      .evaluateAll((ps) => ps.flatMap((p) => [p.getAttribute('data-from'), p.getAttribute('data-to')]));
    expect(ends).not.toContain(victim.nodeId);
    await shot('map-after-kill');
    expect(external).toEqual([]);
  });
});
