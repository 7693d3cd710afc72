import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './local-mesh.ts';

// `npm test`: types and lint, the contracts (forge build and test) and the web app's build; then
// every vitest project (unit, workers, e2e, browser, frontend); then the production bundle of the
// Worker (`wrangler deploy --dry-run`), so what passes here also deploys.
//
// The stages run one after another; the lanes of a stage run side by side, each its steps in
// order. The end-to-end files run one at a time, each waiting most of its time on the
// `wrangler dev` and nodes it starts, and Vitest runs a project without file parallelism in a
// group of its own, never beside the other projects. So the e2e files run in Vitest processes of
// their own: most of them in one lane, beside the other projects' run, which is followed in its
// lane by the rest of them (those of the client, the CLI and the chain; each e2e file starts its
// own `wrangler dev`, anvil and nodes on free ports and in fresh folders, so two files may run at
// once). On the 2-core machine that took `npm test` from ~1,130 s (one Vitest run) to 814–881 s.
const dir = mkdtempSync(join(tmpdir(), 'monadmesh-test-'));
const bin = (name: string) => join(ROOT, 'node_modules', name);
const reports: string[] = [];
const vitest = (name: string, args: string[]): Step => {
  const report = join(dir, `${name}.json`);
  reports.push(report);
  return {
    name,
    args: [
      bin('vitest/vitest.mjs'),
      'run',
      ...args,
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
    ],
  };
};
/** The e2e files that run after the other projects, in their lane. */
const LATER_E2E = [
  'client/client.e2e.test.ts',
  'client/blobs.e2e.test.ts',
  'cli/cli.e2e.test.ts',
  'test/e2e/anchoring.test.ts',
  'test/e2e/chain-registry.test.ts',
  'test/e2e/zk-verifier.test.ts',
  'test/e2e/proven.test.ts',
  // Probabilistic: the sleeper must decide some tasks alone before it lies, which it did less
  // often beside the other projects (twice it decided none); by then they have finished.
  'test/e2e/sleeper.test.ts',
];

// A file renamed or moved would otherwise silently leave both e2e runs.
for (const file of LATER_E2E) {
  if (!existsSync(join(ROOT, file)))
    throw new Error(`scripts/test.ts: LATER_E2E names ${file}, which does not exist`);
}

interface Step {
  name: string;
  args: string[];
}
type Lane = Step[];
const stages: Lane[][] = [
  [
    [{ name: 'typecheck', args: [bin('typescript/bin/tsc'), '-p', '.'] }],
    [{ name: 'lint', args: [bin('@biomejs/biome/bin/biome'), 'check', '.'] }],
    // forge build (the generated contracts/abi.ts must match it) and every forge test.
    [{ name: 'contracts', args: [join(ROOT, 'scripts/contracts.ts'), 'test'] }],
    // The Worker serves the web app as static assets: workerd (tests, wrangler) needs the build.
    [
      {
        name: 'web app build',
        args: [bin('vite/bin/vite.js'), 'build', '--config', 'frontend/vite.config.ts', '--logLevel', 'warn'],
      },
    ],
  ],
  [
    [vitest('e2e', ['--project', 'e2e', ...LATER_E2E.flatMap((f) => ['--exclude', f])])],
    [
      vitest('unit, workers, frontend, browser', [
        '--project',
        'unit',
        '--project',
        'workers',
        '--project',
        'frontend',
        '--project',
        'browser',
      ]),
      vitest('e2e: client, CLI, chain', ['--project', 'e2e', ...LATER_E2E]),
    ],
  ],
  [
    [
      {
        name: 'worker bundle',
        args: [bin('wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', 'dist/worker'],
      },
    ],
  ],
];

/** Run one step; with others beside it, each line of its output is prefixed with its name. */
function run(step: Step, alone: boolean): Promise<boolean> {
  const t0 = Date.now();
  process.stderr.write(`\n== ${step.name}\n`);
  const child = spawn(process.execPath, step.args, {
    cwd: ROOT,
    stdio: alone ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  if (!alone) {
    for (const [from, to] of [
      [child.stdout!, process.stdout],
      [child.stderr!, process.stderr],
    ] as const) {
      createInterface({ input: from, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
        to.write(`[${step.name}] ${line}\n`),
      );
    }
  }
  return new Promise((resolve) => {
    // A process that could not start (no memory, too many processes) fails its step; the run goes on.
    child.on('error', (error) => {
      process.stderr.write(`== ${step.name}: FAILED to start: ${error.message}\n`);
      resolve(false);
    });
    child.on('close', (code, signal) => {
      const ok = code === 0;
      process.stderr.write(
        `== ${step.name}: ${ok ? 'ok' : `FAILED (${signal ?? `exit ${code}`})`} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
      );
      resolve(ok);
    });
  });
}

const started = Date.now();
let failed = false;
for (const lanes of stages) {
  const alone = lanes.length === 1 && lanes[0]!.length === 1;
  const results = await Promise.all(
    lanes.map(async (lane) => {
      let ok = true;
      for (const step of lane) ok = (await run(step, alone)) && ok;
      return ok;
    }),
  );
  if (results.includes(false)) failed = true;
}
let passed = 0;
let failedTests = 0;
let skipped = 0;
for (const report of reports) {
  if (!existsSync(report)) {
    process.stdout.write(`\nno test report at ${report}: that Vitest run did not finish\n`);
    failed = true;
    continue;
  }
  const r = JSON.parse(readFileSync(report, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
  };
  passed += r.numPassedTests;
  failedTests += r.numFailedTests;
  skipped += r.numPendingTests;
}
process.stdout.write(
  `\n${passed} passed, ${failedTests} failed, ${skipped} skipped (npm test took ${((Date.now() - started) / 1000).toFixed(0)} s)\n`,
);
process.exit(failed ? 1 : 0);
