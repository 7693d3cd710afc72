import { readFileSync } from 'node:fs';
import type { ExecRequest } from '../browser-node/src/core/executor.ts';
import { ThreadExecutor } from '../browser-node/src/headless/thread-executor.ts';
import type { JsonValue } from '../protocol/job.ts';
import { buildTemplates } from '../scripts/build-wasm.ts';
import { percentile, table, writeResult } from './report.ts';

// `npm run bench -- wasm`: what running a WebAssembly task costs a headless node, beside the work
// itself, with trivial inputs so the work is close to nothing:
// - cold: a fresh executor's first task (worker start with SES lockdown, compile, run), and the
//   first task of a new module on a warm worker (compile + run);
// - warm: one task at a time on a warm worker (instantiate, WASI set-up, run, parse the output);
// - throughput: 2,000 tasks on two threads.
// JS tasks (`x => x`) are measured the same way for comparison.

const built = await buildTemplates();
const modules = {
  'wasm C (prime sieve)': { code: new Uint8Array(readFileSync(built.cWasm)), input: { lo: 0, hi: 10 } },
  'wasm AssemblyScript (collatz)': {
    code: new Uint8Array(readFileSync(built.asWasm)),
    input: { from: 1, to: 2 },
  },
} as const;

const request = (
  runtime: 'js' | 'wasm',
  code: string | Uint8Array,
  codeCid: string,
  input: JsonValue,
): ExecRequest => ({
  runtime,
  code,
  codeCid,
  input,
  timeoutMs: 30_000,
  memoryMb: 64,
  seed: 'bench',
  clock: 0,
});

async function measure(name: string, make: (i: number) => ExecRequest) {
  const fresh = new ThreadExecutor({ threads: 1, prewarm: false, warmMemoryMb: 64 });
  let t = performance.now();
  const first = await fresh.run(make(0));
  const coldWorker = performance.now() - t;
  if (!first.ok) throw new Error(`${name}: ${JSON.stringify(first.error)}`);
  // A new module (new CID) on the now-warm worker: compile + first run.
  t = performance.now();
  await fresh.run({ ...make(0), codeCid: `${make(0).codeCid}-other` });
  const coldModule = performance.now() - t;
  const samples: number[] = [];
  const inside: number[] = [];
  for (let i = 0; i < 300; i++) {
    t = performance.now();
    const r = await fresh.run(make(i));
    samples.push(performance.now() - t);
    inside.push(r.durationMs);
  }
  await fresh.close();

  const pool = new ThreadExecutor({ threads: 2, warmMemoryMb: 64 });
  await Promise.all([pool.run(make(0)), pool.run(make(1))]);
  t = performance.now();
  await Promise.all(Array.from({ length: 2000 }, (_, i) => pool.run(make(i))));
  const throughputMs = performance.now() - t;
  await pool.close();
  return {
    name,
    'cold worker ms': coldWorker,
    'cold module ms': coldModule,
    'warm mean ms': samples.reduce((a, b) => a + b, 0) / samples.length,
    'warm p50 ms': percentile(samples, 50),
    'warm p99 ms': percentile(samples, 99),
    'in-sandbox p50 ms': percentile(inside, 50),
    'tasks/s (2 threads)': Math.round(2000 / (throughputMs / 1000)),
  };
}

const rows = [
  await measure('js (x => x)', (i) => request('js', 'export default (x) => x', 'js-identity', i)),
];
for (const [name, { code, input }] of Object.entries(modules)) {
  rows.push(await measure(name, () => request('wasm', code, name, input)));
}
process.stdout.write(`${table(rows)}\n`);
process.stderr.write(`wrote ${writeResult('wasm', { rows })}\n`);
