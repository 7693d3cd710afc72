import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './local-mesh.ts';

// `npm test`: types and lint, the contracts (forge build and test), the web app's build, every vitest project (unit, workers, e2e,
// browser, frontend), then the production
// bundle of the Worker (`wrangler deploy --dry-run`), so what passes here also deploys.
const report = join(mkdtempSync(join(tmpdir(), 'monadmesh-test-')), 'vitest.json');
const bin = (name: string) => join(ROOT, 'node_modules', name);
const steps: [string, string[]][] = [
  ['typecheck', [bin('typescript/bin/tsc'), '-p', '.']],
  ['lint', [bin('@biomejs/biome/bin/biome'), 'check', '.']],
  // forge build (the generated contracts/abi.ts must match it) and every forge test.
  ['contracts', [join(ROOT, 'scripts/contracts.ts'), 'test']],
  // The Worker serves the web app as static assets: workerd (tests, wrangler) needs the build.
  [
    'web app build',
    [bin('vite/bin/vite.js'), 'build', '--config', 'frontend/vite.config.ts', '--logLevel', 'warn'],
  ],
  [
    'tests',
    [bin('vitest/vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
  ],
  ['worker bundle', [bin('wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', 'dist/worker']],
];
let failed = false;
for (const [name, args] of steps) {
  process.stderr.write(`\n== ${name}\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  process.stderr.write(
    `== ${name}: ${r.status === 0 ? 'ok' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  if (r.status !== 0) failed = true;
}
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
  };
  process.stdout.write(
    `\n${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped\n`,
  );
}
process.exit(failed ? 1 : 0);
