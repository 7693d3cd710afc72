import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ConsoleStdout, File, OpenFile, WASI } from '@bjorn3/browser_wasi_shim';
import type { ExecRequest } from '../browser-node/src/core/executor.ts';
import type { SandboxPool } from '../browser-node/src/core/sandbox-pool.ts';
import { seededUint32 } from '../browser-node/src/core/seeded-random.ts';
import { ProcessExecutor } from '../browser-node/src/headless/process-executor.ts';
import { ThreadExecutor } from '../browser-node/src/headless/thread-executor.ts';
import type { JsonValue } from '../protocol/job.ts';
import { buildTemplates } from '../scripts/build-wasm.ts';
import { pythonTemplateInputs, pythonTemplateSource } from '../templates/python/run-template.ts';
import { percentile, table, writeResult } from './report.ts';

// `npm run bench -- runtimes`: what each runtime costs a headless node beside the same code run
// natively by Node on the same machine, in the same run. "Ours" is the node's executor: a
// ProcessExecutor (a sandbox child process, the default) and, beside it for JS and WebAssembly, a
// ThreadExecutor (a worker thread in the node's process, `--isolation thread`): SES lockdown,
// compartment or WASI shim, JSON in and out; "native" is Node in this process:
// the JS template imported and called directly, the .wasm compiled by `WebAssembly` and run with
// the WASI shim's in-memory stdio, without our worker or sandbox. Both sides use one thread.
// - overhead: trivial inputs; cold = the first task of new code (ours also with a fresh worker),
//   warm = p50 of one task at a time once compiled;
// - throughput: a CPU-bound template, tasks per second on one thread.
// Python: "ours" is Pyodide in a ProcessExecutor Python sandbox, "native" the machine's CPython
// (`python3`) in a long-lived process (bench/cpython-runner.py) that gets one JSON task per line on
// stdin and answers one line on stdout. Its times are round trips from Node through the pipe, the
// native counterpart of our message round trip to the worker, except "inside the runtime", which
// is the time spent in the interpreter process: for ours the worker's `durationMs` (the per-task
// reset, compiling and executing the code, `main`, JSON in and out), for CPython the runner's own
// count (parsing the line, `main`, JSON out; it executes the code once per new code, not per task).
// Pyodide's cold start (a new worker loading Pyodide from node_modules, to its first result) is
// measured on its own, the p50 of a few, beside a new python3 process to its first result.

const WARM_RUNS = 300;
const THROUGHPUT_TASKS = Number(process.env.BENCH_TASKS ?? 40);

const built = await buildTemplates();
const templates = new URL('../templates/js/', import.meta.url);
const piUrl = new URL('monte-carlo-pi.js', templates);
const piSource = readFileSync(piUrl, 'utf8');
const cWasm = new Uint8Array(readFileSync(built.cWasm));
const asWasm = new Uint8Array(readFileSync(built.asWasm));

interface Workload {
  runtime: 'js' | 'wasm' | 'python';
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

type Isolation = 'process' | 'thread';
const executorOf = (isolation: Isolation, prewarm = true): SandboxPool =>
  isolation === 'process'
    ? new ProcessExecutor({ processes: 1, prewarm, warmMemoryMb: 128 })
    : new ThreadExecutor({ threads: 1, prewarm, warmMemoryMb: 128 });

async function overhead(name: string, w: Workload, isolation: Isolation): Promise<Row[]> {
  name = `${name} [${isolation}]`;
  const executor = executorOf(isolation, false);
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

async function throughput(name: string, w: Workload, isolation: Isolation): Promise<Row> {
  name = `${name} [${isolation}]`;
  const executor = executorOf(isolation);
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

// ---- Python: Pyodide beside CPython -------------------------------------------------------------

const COLD_STARTS = 3;
/** New code in a warm worker is timed a few times (each a different text), as one sample is noisy. */
const NEW_CODES = 5;
const [cpythonExecutable, cpythonVersion] = execFileSync(
  'python3',
  ['-c', 'import sys; print(sys.executable); print(sys.version.split()[0])'],
  { encoding: 'utf8' },
)
  .trim()
  .split('\n') as [string, string];
const cpythonRunner = fileURLToPath(new URL('./cpython-runner.py', import.meta.url));
const readJson = (path: string) => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));
const pyodideVersion = (readJson('../node_modules/pyodide/package.json') as { version: string }).version;
const pyodidePython = (readJson('../node_modules/pyodide/pyodide-lock.json') as { info: { python: string } })
  .info.python;

/** A CPython process running `cpython-runner.py` (the real executable, not the pyenv shim). */
class CPython {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #waiting: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  #buffered = '';

  constructor() {
    this.#child = spawn(cpythonExecutable, [cpythonRunner], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#child.stdout.setEncoding('utf8');
    this.#child.stdout.on('data', (chunk: string) => {
      this.#buffered += chunk;
      for (let end = this.#buffered.indexOf('\n'); end !== -1; end = this.#buffered.indexOf('\n')) {
        const line = this.#buffered.slice(0, end);
        this.#buffered = this.#buffered.slice(end + 1);
        this.#waiting.shift()?.resolve(line);
      }
    });
    this.#child.on('exit', (code) => {
      for (const w of this.#waiting.splice(0)) w.reject(new Error(`cpython-runner exited with ${code}`));
    });
  }

  /** One task; `code` when it is new code. `us`: the time spent in the Python process. */
  async run(task: {
    code?: string;
    input: JsonValue;
    seed: string;
  }): Promise<{ us: number; output: JsonValue }> {
    const line = await new Promise<string>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#child.stdin.write(`${JSON.stringify(task)}\n`);
    });
    const tab = line.indexOf('\t');
    return { us: Number(line.slice(0, tab)), output: JSON.parse(line.slice(tab + 1)) as JsonValue };
  }

  async close(): Promise<void> {
    const exited = once(this.#child, 'exit');
    this.#child.stdin.end();
    await exited;
  }
}

const pythonExecutor = () => executorOf('process', false);

async function pythonOk(executor: SandboxPool, req: ExecRequest, what: string) {
  const result = await executor.run(req);
  if (!result.ok) throw new Error(`${what}: ${JSON.stringify(result.error)}`);
  return result;
}

async function pythonOverhead(name: string, w: Workload): Promise<Row[]> {
  const code = w.code as string;
  // Cold start: a new worker (Pyodide loaded from node_modules) / a new python3 process.
  const coldStart: number[] = [];
  const nativeColdStart: number[] = [];
  for (let r = 0; r < COLD_STARTS; r++) {
    const executor = pythonExecutor();
    let t = now();
    await pythonOk(executor, request(w, `${name}-start-${r}`, 0), name);
    coldStart.push(now() - t);
    await executor.close();
    t = now();
    const cpython = new CPython();
    await cpython.run({ code, input: w.input(0), seed: 'bench:0' });
    nativeColdStart.push(now() - t);
    await cpython.close();
  }

  const executor = pythonExecutor();
  await pythonOk(executor, request(w, `${name}-a`, 0), name);
  const newCode = (k: number) => `${code}# ${k}\n`;
  const coldCode: number[] = [];
  let t = 0;
  for (let k = 0; k < NEW_CODES; k++) {
    t = now();
    await pythonOk(executor, { ...request(w, `${name}-new-${k}`, 0), code: newCode(k) }, name);
    coldCode.push(now() - t);
  }
  const warm: number[] = [];
  const warmInside: number[] = [];
  for (let i = 0; i < WARM_RUNS; i++) {
    t = now();
    const result = await executor.run(request(w, `${name}-b`, i));
    warm.push(now() - t);
    if (!result.ok) throw new Error(`${name}: ${JSON.stringify(result.error)}`);
    warmInside.push(result.durationMs);
  }
  await executor.close();

  const cpython = new CPython();
  await cpython.run({ code, input: w.input(0), seed: 'bench:0' });
  const nativeColdCode: number[] = [];
  for (let k = 0; k < NEW_CODES; k++) {
    t = now();
    await cpython.run({ code: newCode(k), input: w.input(0), seed: 'bench:0' });
    nativeColdCode.push(now() - t);
  }
  const nativeWarm: number[] = [];
  const nativeInside: number[] = [];
  for (let i = 0; i < WARM_RUNS; i++) {
    t = now();
    const { us } = await cpython.run({ input: w.input(i), seed: `bench:${i}` });
    nativeWarm.push(now() - t);
    nativeInside.push(us);
  }
  await cpython.close();
  return [
    row(
      name,
      `cold start: new worker / process, p50 of ${COLD_STARTS}`,
      percentile(coldStart, 50),
      percentile(nativeColdStart, 50),
      'ms',
    ),
    row(
      name,
      `cold: new code, warm worker, p50 of ${NEW_CODES}`,
      percentile(coldCode, 50),
      percentile(nativeColdCode, 50),
      'ms',
    ),
    row(name, 'warm task p50', percentile(warm, 50) * 1000, percentile(nativeWarm, 50) * 1000, 'µs'),
    row(
      name,
      'warm task p50, inside the runtime',
      percentile(warmInside, 50) * 1000,
      percentile(nativeInside, 50),
      'µs',
    ),
  ];
}

async function pythonThroughput(name: string, w: Workload): Promise<Row> {
  const code = w.code as string;
  const executor = pythonExecutor();
  const check = await pythonOk(executor, request(w, name, 0), name);
  let t = now();
  for (let i = 0; i < THROUGHPUT_TASKS; i++) await pythonOk(executor, request(w, name, i), name);
  const ours = THROUGHPUT_TASKS / ((now() - t) / 1000);
  await executor.close();

  const cpython = new CPython();
  const same = await cpython.run({ code, input: w.input(0), seed: 'bench:0' });
  if (JSON.stringify(same.output) !== JSON.stringify(check.output)) {
    throw new Error(
      `${name}: CPython output ${JSON.stringify(same.output)} differs from ours ${JSON.stringify(check.output)}`,
    );
  }
  t = now();
  for (let i = 0; i < THROUGHPUT_TASKS; i++) await cpython.run({ input: w.input(i), seed: `bench:${i}` });
  const native = THROUGHPUT_TASKS / ((now() - t) / 1000);
  await cpython.close();
  return row(name, 'CPU-bound template, 1 thread', ours, native, 'tasks/s');
}

const piPyInputs = pythonTemplateInputs('monte-carlo-pi');
const piPySamples = (piPyInputs[0] as { samples: number }).samples;

const ISOLATIONS: Isolation[] = ['process', 'thread'];
const rows: Row[] = [];
for (const isolation of ISOLATIONS) {
  rows.push(
    ...(await overhead(
      'js (x => x)',
      { runtime: 'js', code: 'export default (x) => x', input: (i) => i },
      isolation,
    )),
    ...(await overhead(
      'wasm C (prime sieve)',
      { runtime: 'wasm', code: cWasm, input: () => ({ lo: 0, hi: 10 }) },
      isolation,
    )),
    ...(await overhead(
      'wasm AS (collatz)',
      { runtime: 'wasm', code: asWasm, input: () => ({ from: 1, to: 2 }) },
      isolation,
    )),
    await throughput(
      'js monte-carlo-pi (1e6 samples)',
      { runtime: 'js', code: piSource, input: () => ({ samples: 1_000_000 }) },
      isolation,
    ),
    await throughput(
      'wasm C prime sieve (1e7 wide)',
      {
        runtime: 'wasm',
        code: cWasm,
        input: (i) => ({ lo: i * 10_000_000, hi: (i + 1) * 10_000_000 }),
      },
      isolation,
    ),
    await throughput(
      'wasm AS collatz (1..2e5)',
      { runtime: 'wasm', code: asWasm, input: () => ({ from: 1, to: 200_000 }) },
      isolation,
    ),
  );
}
rows.push(
  ...(await pythonOverhead('python (main(x): x)', {
    runtime: 'python',
    code: 'def main(x):\n    return x\n',
    input: (i) => i,
  })),
  await pythonThroughput(`python monte-carlo-pi (${piPySamples.toExponential().replace('+', '')} samples)`, {
    runtime: 'python',
    code: pythonTemplateSource('monte-carlo-pi'),
    input: (i) => piPyInputs[i % piPyInputs.length]!,
  }),
);
process.stdout.write(`${table(rows)}\n`);
process.stderr.write(
  `wrote ${writeResult('runtimes', {
    tasksPerThroughputRun: THROUGHPUT_TASKS,
    python: { cpython: cpythonVersion, pyodide: pyodideVersion, pyodidePython },
    rows,
  })}\n`,
);
