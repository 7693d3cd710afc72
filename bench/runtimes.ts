import { readFileSync } from 'node:fs';
import { ConsoleStdout, File, OpenFile, WASI } from '@bjorn3/browser_wasi_shim';
import type { ExecRequest } from '../browser-node/src/core/executor.ts';
import { seededUint32 } from '../browser-node/src/core/seeded-random.ts';
import { ThreadExecutor } from '../browser-node/src/headless/thread-executor.ts';
import type { JsonValue } from '../protocol/job.ts';
import { buildTemplates } from '../scripts/build-wasm.ts';
import { percentile, table, writeResult } from './report.ts';

// `npm run bench -- runtimes`: what each runtime costs a headless node beside the same code run
// natively by Node on the same machine, in the same run. "Ours" is a ThreadExecutor (worker thread,
// SES lockdown, compartment or WASI shim, JSON in and out); "native" is Node in this process:
// the JS template imported and called directly, the .wasm compiled by `WebAssembly` and run with
// the WASI shim's in-memory stdio, without our worker or sandbox. Both sides use one thread.
// - overhead: trivial inputs; cold = the first task of new code (ours also with a fresh worker),
//   warm = p50 of one task at a time once compiled;
// - throughput: a CPU-bound template, tasks per second on one thread.
// (CPython beside Pyodide comes with the Python runtime.)

const WARM_RUNS = 300;
const THROUGHPUT_TASKS = Number(process.env.BENCH_TASKS ?? 40);

const built = await buildTemplates();
const templates = new URL('../templates/js/', import.meta.url);
const piUrl = new URL('monte-carlo-pi.js', templates);
const piSource = readFileSync(piUrl, 'utf8');
const cWasm = new Uint8Array(readFileSync(built.cWasm));
const asWasm = new Uint8Array(readFileSync(built.asWasm));

interface Workload {
  runtime: 'js' | 'wasm';
  code: string | Uint8Array;
  input: (i: number) => JsonValue;
}

const request = (w: Workload, cid: string, i: number): ExecRequest => ({
  runtime: w.runtime,
  code: w.code,
  codeCid: cid,
  input: w.input(i),
  timeoutMs: 120_000,
  memoryMb: 128,
  seed: `bench:${i}`,
  clock: 0,
});

// ---- native runners ------------------------------------------------------------------------------

/** The sandbox's Math.random, so native JS does the same work (sfc32 instead of V8's xorshift). */
function seedMathRandom(seed: string): void {
  const next = seededUint32(seed);
  Math.random = () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
}

let imports = 0;
/** Import a JS module as new code (a fresh data: URL each time, so nothing is cached). */
async function nativeImport(source: string): Promise<(input: JsonValue) => unknown> {
  const url = `data:text/javascript,${encodeURIComponent(`${source}\n//${++imports}`)}`;
  return ((await import(url)) as { default: (input: JsonValue) => unknown }).default;
}

function nativeWasi(module: WebAssembly.Module, input: JsonValue): JsonValue {
  const out: Uint8Array[] = [];
  const stdin = new OpenFile(new File(new TextEncoder().encode(JSON.stringify(input))));
  const wasi = new WASI(
    ['task'],
    [],
    [stdin, new ConsoleStdout((b) => out.push(b.slice())), new ConsoleStdout(() => {})],
    { debug: false },
  );
  const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi.wasiImport });
  const code = wasi.start(instance as { exports: { memory: WebAssembly.Memory; _start: () => unknown } });
  if (code !== 0) throw new Error(`native wasm exited with ${code}`);
  return JSON.parse(Buffer.concat(out).toString('utf8')) as JsonValue;
}

/** Run `workload` natively: the function to call once per task, after compiling it. */
async function nativeCompile(w: Workload): Promise<(i: number) => unknown> {
  if (w.runtime === 'js') {
    const f = await nativeImport(w.code as string);
    return (i) => {
      seedMathRandom(`bench:${i}`);
      return JSON.parse(JSON.stringify(f(w.input(i)) ?? null));
    };
  }
  const module = await WebAssembly.compile(w.code as Uint8Array<ArrayBuffer>);
  return (i) => nativeWasi(module, w.input(i));
}

// ---- measurements --------------------------------------------------------------------------------

const now = () => performance.now();
type Row = {
  runtime: string;
  measure: string;
  ours: number;
  native: number;
  'ours/native': number;
  unit: string;
};
const row = (runtime: string, measure: string, ours: number, native: number, unit: string): Row => ({
  runtime,
  measure,
  ours,
  native,
  'ours/native': unit === 'tasks/s' ? native / ours : ours / native,
  unit,
});

async function overhead(name: string, w: Workload): Promise<Row[]> {
  const executor = new ThreadExecutor({ threads: 1, prewarm: false, warmMemoryMb: 128 });
  let t = now();
  const first = await executor.run(request(w, `${name}-a`, 0));
  const coldWorker = now() - t;
  if (!first.ok) throw new Error(`${name}: ${JSON.stringify(first.error)}`);
  t = now();
  await executor.run(request(w, `${name}-b`, 0));
  const coldModule = now() - t;
  const warm: number[] = [];
  for (let i = 0; i < WARM_RUNS; i++) {
    t = now();
    await executor.run(request(w, `${name}-b`, i));
    warm.push(now() - t);
  }
  await executor.close();

  t = now();
  const call = await nativeCompile(w);
  call(0);
  const nativeCold = now() - t;
  const nativeWarm: number[] = [];
  for (let i = 0; i < WARM_RUNS; i++) {
    t = now();
    call(i);
    nativeWarm.push(now() - t);
  }
  return [
    row(name, 'cold: new worker + new code', coldWorker, nativeCold, 'ms'),
    row(name, 'cold: new code, warm worker', coldModule, nativeCold, 'ms'),
    row(name, 'warm task p50', percentile(warm, 50) * 1000, percentile(nativeWarm, 50) * 1000, 'µs'),
  ];
}

async function throughput(name: string, w: Workload): Promise<Row> {
  const executor = new ThreadExecutor({ threads: 1, warmMemoryMb: 128 });
  const check = await executor.run(request(w, name, 0));
  if (!check.ok) throw new Error(`${name}: ${JSON.stringify(check.error)}`);
  let t = now();
  for (let i = 0; i < THROUGHPUT_TASKS; i++) await executor.run(request(w, name, i));
  const ours = THROUGHPUT_TASKS / ((now() - t) / 1000);
  await executor.close();

  const call = await nativeCompile(w);
  const same = call(0);
  if (JSON.stringify(same) !== JSON.stringify(check.output)) {
    throw new Error(
      `${name}: native output ${JSON.stringify(same)} differs from ours ${JSON.stringify(check.output)}`,
    );
  }
  t = now();
  for (let i = 0; i < THROUGHPUT_TASKS; i++) call(i);
  const native = THROUGHPUT_TASKS / ((now() - t) / 1000);
  return row(name, 'CPU-bound template, 1 thread', ours, native, 'tasks/s');
}

const rows: Row[] = [
  ...(await overhead('js (x => x)', { runtime: 'js', code: 'export default (x) => x', input: (i) => i })),
  ...(await overhead('wasm C (prime sieve)', {
    runtime: 'wasm',
    code: cWasm,
    input: () => ({ lo: 0, hi: 10 }),
  })),
  ...(await overhead('wasm AS (collatz)', {
    runtime: 'wasm',
    code: asWasm,
    input: () => ({ from: 1, to: 2 }),
  })),
  await throughput('js monte-carlo-pi (1e6 samples)', {
    runtime: 'js',
    code: piSource,
    input: () => ({ samples: 1_000_000 }),
  }),
  await throughput('wasm C prime sieve (1e7 wide)', {
    runtime: 'wasm',
    code: cWasm,
    input: (i) => ({ lo: i * 10_000_000, hi: (i + 1) * 10_000_000 }),
  }),
  await throughput('wasm AS collatz (1..2e5)', {
    runtime: 'wasm',
    code: asWasm,
    input: () => ({ from: 1, to: 200_000 }),
  }),
];
process.stdout.write(`${table(rows)}\n`);
process.stderr.write(`wrote ${writeResult('runtimes', { tasksPerThroughputRun: THROUGHPUT_TASKS, rows })}\n`);
