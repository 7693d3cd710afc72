import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright';
import type { CircuitSignals } from 'snarkjs';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../scripts/chromium.ts';
import type { BuiltCircuit } from '../scripts/circuits.ts';
import { ROOT } from '../scripts/local-mesh.ts';

/**
 * Proving in headless Chromium (Debian's), as a tab node will: snarkjs's browser build and each
 * circuit's wasm and proving key served from a loopback server, nothing from the internet. Returns
 * the proving times per template (ms), after one warm-up proof each. Used by bench/zk.ts.
 */
export async function proveInChromium(
  built: Record<string, BuiltCircuit>,
  inputs: Record<string, CircuitSignals>,
  proofs: number,
): Promise<Record<string, number[]>> {
  const files: Record<string, { path: string; type: string }> = {
    '/snarkjs.min.js': {
      path: join(ROOT, 'node_modules/snarkjs/build/snarkjs.min.js'),
      type: 'text/javascript',
    },
  };
  for (const [name, a] of Object.entries(built)) {
    files[`/${name}.wasm`] = { path: a.wasm, type: 'application/wasm' };
    files[`/${name}.zkey`] = { path: a.zkey, type: 'application/octet-stream' };
  }
  const server = createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><script src="/snarkjs.min.js"></script>');
      return;
    }
    const file = files[req.url ?? ''];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.type });
    res.end(readFileSync(file.path));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
    await page.goto(origin);
    const times: Record<string, number[]> = {};
    for (const name of Object.keys(built)) {
      // Inputs cross into the page as strings (bigints do not).
      const input = JSON.parse(
        JSON.stringify(inputs[name], (_, v) => (typeof v === 'bigint' ? v.toString() : v)),
      );
      times[name] = await page.evaluate(
        async ({ name, input, proofs }) => {
          const snarkjs = (globalThis as unknown as { snarkjs: typeof import('snarkjs') }).snarkjs;
          const out: number[] = [];
          for (let i = 0; i < proofs + 1; i++) {
            const t = performance.now();
            await snarkjs.groth16.fullProve(input, `/${name}.wasm`, `/${name}.zkey`);
            if (i > 0) out.push(performance.now() - t);
          }
          return out;
        },
        { name, input, proofs },
      );
    }
    return times;
  } finally {
    await browser.close();
    server.close();
  }
}
