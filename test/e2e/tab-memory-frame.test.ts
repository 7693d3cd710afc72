import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium } from 'playwright';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.ts';

// What the browser host's memory budget will stand on (issue 14), checked in this Chromium: a
// dedicated worker whose JS heap runs out takes its renderer down. In the page itself that is the
// tab (and in a same-site frame too: measured 2026-12-06, see docs/architecture.md; not repeated
// here, each costs ~25 s); in a cross-site iframe (site isolation: its own renderer) only the
// frame dies, the page sees its heartbeat stop, and a new frame runs work again.
//
// The page reports to the test server by `fetch`, not through Playwright: Playwright marks the
// whole page crashed (and refuses `evaluate`) when any of its frames' renderers crashes, an
// out-of-process iframe's too. V8's heap is lowered to 256 MB (`--js-flags`) so a bomb ends in
// seconds rather than the ~70–110 s and ~4.4 GB a default heap took on the 23 GB test machine.

const BOMB = `onmessage = (e) => {
  if (e.data === 'honest') { postMessage('honest ok'); return; }
  postMessage('started');
  const a = []; for (;;) a.push({ x: a.length, s: 'y'.repeat(100) });
};`;

/** A page that runs the worker in itself (`?in=page`) or in a frame (`?in=frame&frame=<origin>`). */
const PAGE = `<!doctype html><body><script>
const report = (m) => fetch('/report?m=' + encodeURIComponent(m));
const inPage = (what) => new Promise((resolve) => {
  const w = new Worker('/worker.js');
  w.onmessage = (e) => { if (e.data !== 'started') resolve('worker: ' + e.data); };
  w.onerror = (e) => resolve('worker error: ' + e.message);
  w.postMessage(what);
});
// A frame beats every 100 ms on its port; 3 s of silence means it is gone.
const inFrame = (what) => new Promise((resolve) => {
  const f = document.createElement('iframe');
  f.src = new URLSearchParams(location.search).get('frame') + '/frame.html';
  let last = performance.now();
  const channel = new MessageChannel();
  const finish = (m) => { clearInterval(timer); f.remove(); resolve(m); };
  channel.port1.onmessage = (e) => { last = performance.now(); if (e.data !== 'beat' && e.data !== 'worker: started') finish(e.data); };
  f.onload = () => f.contentWindow.postMessage(what, '*', [channel.port2]);
  const timer = setInterval(() => { if (performance.now() - last > 3000) finish('frame silent'); }, 200);
  document.body.append(f);
});
const where = new URLSearchParams(location.search).get('in');
(async () => {
  await report('page up');
  const run = where === 'frame' ? inFrame : inPage;
  await report('bomb: ' + await run('bomb'));
  await report('after: ' + await run('honest'));
})();
</script>`;

const FRAME = `<!doctype html><body><script>
onmessage = (e) => {
  const port = e.ports[0];
  setInterval(() => port.postMessage('beat'), 100);
  const w = new Worker('/worker.js');
  w.onmessage = (m) => port.postMessage('worker: ' + m.data);
  w.onerror = (er) => port.postMessage('worker error: ' + er.message);
  w.postMessage(e.data);
};
</script>`;

let server: Server;
let port = 0;
let browser: Browser;
let reports: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/report') reports.push(url.searchParams.get('m') ?? '');
    const body =
      url.pathname === '/worker.js'
        ? BOMB
        : url.pathname === '/frame.html'
          ? FRAME
          : url.pathname === '/'
            ? PAGE
            : 'ok';
    res.setHeader('content-type', url.pathname.endsWith('.js') ? 'text/javascript' : 'text/html');
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, '--js-flags=--max-old-space-size=256'],
    headless: true,
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

/**
 * Opens the page on `localhost` with the worker in the page or in a frame of `frameHost` (another
 * site: `127.0.0.1`; the same site: `localhost`) and waits for the page's last report or a crash.
 */
async function visit(where: 'page' | 'frame', frameHost = '127.0.0.1') {
  reports = [];
  const page = await browser.newPage();
  let crashed = false;
  let deadline = Date.now() + 90_000;
  page.on('crash', () => {
    crashed = true;
    // The frame case: the page notices 3 s of silence, then starts a new frame.
    deadline = Math.min(deadline, Date.now() + 15_000);
  });
  await page.goto(`http://localhost:${port}/?in=${where}&frame=http://${frameHost}:${port}`);
  // A crash event also comes for a frame's renderer: only the page's own reports tell it lived.
  while (!reports.some((m) => m.startsWith('after:')) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  await page.close().catch(() => {});
  return { reports: reports.slice(), crashed };
}

describe('a JS heap bomb in a tab', () => {
  test('behavior: in a cross-site frame, only the frame dies and a new frame works', async () => {
    const seen = await visit('frame');
    // `crashed`: Playwright's event for the frame's renderer; the page went on reporting.
    expect(seen).toEqual({
      reports: ['page up', 'bomb: frame silent', 'after: worker: honest ok'],
      crashed: true,
    });
  });
});
