import { afterAll, expect, test } from 'vitest';
import { RuntimeFingerprint } from '../../../protocol/mesh.ts';
import { computeFingerprint } from '../core/fingerprint.ts';
import { browserEngine } from './browser-engine.ts';
import { WebWorkerExecutor } from './web-worker-executor.ts';

const executor = new WebWorkerExecutor({ workers: 1, runtimes: ['js'] });
afterAll(() => executor.close());

test('behavior: a browser node fingerprints its engine and the float results of its sandbox', async () => {
  const first = RuntimeFingerprint.parse(await computeFingerprint({ executor, engine: browserEngine() }));
  expect(first.engine).toMatchObject({
    name: 'chromium',
    version: expect.stringMatching(/^\d+\./),
    pyodide: expect.stringMatching(/^\d+\.\d+/),
    wasiHost: expect.stringMatching(/^@bjorn3\/browser_wasi_shim@\d/),
  });
  const again = await computeFingerprint({ executor, engine: browserEngine() });
  expect(again.probeHash).toBe(first.probeHash);
});

test('behavior: browsers are told apart by their user agent', () => {
  const edge =
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86';
  const firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
  const safari =
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15';
  expect(browserEngine(edge)).toMatchObject({
    name: 'edge',
    version: '131.0.2903.86',
    platform: 'Windows NT 10.0',
  });
  expect(browserEngine(firefox)).toMatchObject({ name: 'firefox', version: '133.0', platform: 'X11' });
  expect(browserEngine(safari)).toMatchObject({ name: 'safari', version: '18.1', platform: 'Macintosh' });
});
