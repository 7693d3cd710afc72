import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Tinypool } from 'tinypool';
import { ThreadExecutor } from '../browser-node/src/headless/thread-executor.ts';
import { createApiKey, DEV_PRIVATE_KEYS } from '../client/sign-in.ts';
import { type JobStatus, RoomToWatcher } from '../protocol/index.ts';
import { type ApiServer, startApi, startNode } from '../scripts/local-mesh.ts';
import { NoopNode } from './noop-node.ts';
import { percentile, table, writeResult } from './report.ts';

// npm run bench -- dispatch [--tasks 10000] [--latency-jobs 40] [--cpu-tasks 200] [--cpu-ms 80]
//
// The same functions over the same inputs, several ways on this machine:
//   1. tinypool: a local worker-thread pool calling the function directly (the floor);
//   2. sandbox: our ThreadExecutor locally (SES compartments in worker threads), no network;
//   3. control plane: `wrangler dev` with a no-op node that answers every lease at once (the ceiling);
//   4. mesh: submitted to `wrangler dev`, leased by two headless nodes over WebSockets;
// for a trivial function (what the path costs per task), and for a CPU-bound one (tasks of about
// `--cpu-ms` each: how close the mesh comes to a local pool with as many threads, run just before
// and just after the mesh's job). Two nodes share the machine's cores, so every variant uses the
// same number of threads. One-input jobs measure submit-to-first-result two ways, in turns:
// submitting then watching (two round trips), and `POST /jobs?wait` (one request).

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    tasks: { type: 'string', default: '10000' },
    'latency-jobs': { type: 'string', default: '40' },
    'cpu-tasks': { type: 'string', default: '200' },
    'cpu-ms': { type: 'string', default: '80' },
    /** The mesh nodes' sandboxes: `process` (the default on Linux) or `thread` (`--isolation`). */
    isolation: { type: 'string', default: 'process' },
  },
});
const ISOLATION = values.isolation === 'thread' ? 'thread' : 'process';
const TASKS = Number(values.tasks);
const LATENCY_JOBS = Number(values['latency-jobs']);
const CPU_TASKS = Number(values['cpu-tasks']);
const CPU_MS = Number(values['cpu-ms']);
const THREADS = availableParallelism();
const SOURCE = 'export default (x) => x * 2';
const inputs = Array.from({ length: TASKS }, (_, i) => i);
const expected = (i: number) => i * 2;
const baselineWorker = new URL('./dispatch-baseline-worker.ts', import.meta.url).href;

/** A CPU-bound function: `iterations` of floating-point work, seeded by the input. */
const cpuSource = (iterations: number) =>
  `export default (k) => { let s = k; for (let i = 1; i <= ${iterations}; i++) s += Math.sqrt(i + k) * Math.sin(i); return Math.round(s * 1000) / 1000; }`;

/** Iterations of `cpuSource` that take about `CPU_MS` here, run directly. */
async function calibrate(): Promise<number> {
  const probe = 2_000_000;
  const fn = (
    (await import(`data:text/javascript,${encodeURIComponent(cpuSource(probe))}`)) as {
      default: (k: number) => number;
    }
  ).default;
  fn(0);
  const t0 = performance.now();
  for (let k = 1; k <= 3; k++) fn(k);
  const perIteration = (performance.now() - t0) / 3 / probe;
  return Math.round(CPU_MS / perIteration);
}

async function runTinypool(source: string, jobInputs: number[]) {
  const pool = new Tinypool({ filename: baselineWorker, minThreads: THREADS, maxThreads: THREADS });
  await Promise.all(Array.from({ length: THREADS * 4 }, () => pool.run({ source, input: 0 })));
  const t0 = performance.now();
  let first = 0;
  const out = await Promise.all(
    jobInputs.map((input) =>
      pool.run({ source, input }).then((r: string) => {
        first ||= performance.now() - t0;
        return JSON.parse(r) as number;
      }),
    ),
  );
  const ms = performance.now() - t0;
  await pool.destroy();
  return { ms, firstMs: first, out };
}

async function runSandbox() {
  const executor = new ThreadExecutor({ threads: THREADS });
  const req = (input: number) => ({
    runtime: 'js' as const,
    code: SOURCE,
    codeCid: 'bench',
    input,
    timeoutMs: 30_000,
    memoryMb: 128,
    seed: `bench:${input}`,
    clock: 0,
  });
  await Promise.all(Array.from({ length: THREADS * 4 }, () => executor.run(req(0))));
  const t0 = performance.now();
  let first = 0;
  const out = await Promise.all(
    inputs.map((input) =>
      executor.run(req(input)).then((r) => {
        first ||= performance.now() - t0;
        if (!r.ok) throw new Error(r.error.message);
        return r.output;
      }),
    ),
  );
  const ms = performance.now() - t0;
  await executor.close();
  if (out.some((v, i) => v !== expected(i))) throw new Error('sandbox produced a wrong result');
  return { ms, firstMs: first };
}

async function submit(api: ApiServer, key: string, source: string, jobInputs: number[]) {
  const res = await fetch(`${api.url}/api/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ runtime: 'js', source, inputs: jobInputs }),
  });
  const body = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`submit failed: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

/**
 * The control plane alone: `wrangler dev` and a no-op node that answers every lease at once with
 * made-up outputs, signed as a real node signs them. Twice on one API: the owner's own node (linked
 * to the submitting wallet, as `npm run dev`'s node and the mesh rows' nodes are: the adaptive
 * policy takes its word), then an anonymous one, whose every answer goes through verification
 * (replicas, votes, known-answer checks). A warm-up job first each time, as a node that has been
 * working has a full lease window (a new key starts small; see the hub's admission).
 */
async function runControlPlane() {
  const api = await startApi();
  try {
    const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
    const once = async (ownerKey?: `0x${string}`) => {
      const node = await NoopNode.connect(api.url, {
        credit: 1024,
        capacity: THREADS,
        ...(ownerKey ? { ownerKey } : {}),
      });
      await submit(
        api,
        key,
        SOURCE,
        Array.from({ length: 2000 }, (_, i) => i),
      );
      await node.acceptedAtLeast(2000);
      const before = node.frames.accepted;
      const t0 = performance.now();
      const id = await submit(api, key, SOURCE, inputs);
      const submitMs = performance.now() - t0;
      await node.acceptedAtLeast(before + TASKS);
      const ms = node.lastAckAt - t0;
      if (node.errors.length) throw new Error(`no-op node: ${node.errors[0]}`);
      node.close();
      return { ms, firstMs: node.firstLease.get(id)! - t0, submitMs };
    };
    const owners = await once(DEV_PRIVATE_KEYS[0]);
    const anonymous = await once();
    return { owners, anonymous };
  } finally {
    await api.stop();
  }
}

/** Submit, open the watcher, resolve at the first result and at the end. */
async function watchRun(api: ApiServer, key: string, source: string, jobInputs: number[]) {
  const t0 = performance.now();
  const id = await submit(api, key, source, jobInputs);
  const submitMs = performance.now() - t0;
  const ws = new WebSocket(`${api.url.replace('http', 'ws')}/api/v1/jobs/${id}/events?token=${key}`);
  let firstMs = 0;
  const doneMs = await new Promise<number>((resolve, reject) => {
    ws.addEventListener('message', (e) => {
      const msg = RoomToWatcher.parse(JSON.parse(String(e.data)));
      const now = performance.now() - t0;
      if (msg.type === 'job.snapshot' && msg.job.counts.succeeded > 0) firstMs ||= now;
      if (msg.type === 'tasks.updated' && msg.updates.some((u) => u.state === 'succeeded')) firstMs ||= now;
      if (msg.type === 'job.finished' || (msg.type === 'job.snapshot' && msg.job.state !== 'running')) {
        firstMs ||= now;
        resolve(now);
      }
    });
    ws.addEventListener('error', () => reject(new Error('watcher failed')));
  });
  ws.close();
  return { id, submitMs, firstMs, doneMs };
}

/** Submit with `?wait`: the response is the finished job with its results (one request). */
async function waitRun(api: ApiServer, key: string, input: number) {
  const t0 = performance.now();
  const res = await fetch(`${api.url}/api/v1/jobs?wait=10`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ runtime: 'js', source: SOURCE, inputs: [input] }),
  });
  const body = (await res.json()) as { state: string; results?: { output: number }[] };
  const ms = performance.now() - t0;
  if (res.status !== 201 || body.state !== 'succeeded' || body.results?.[0]?.output !== expected(input)) {
    throw new Error(`a one-input job with ?wait did not come back finished: ${JSON.stringify(body)}`);
  }
  return ms;
}

async function outputsOf(api: ApiServer, key: string, id: string): Promise<number[]> {
  const headers = { authorization: `Bearer ${key}` };
  const status = (await (await fetch(`${api.url}/api/v1/jobs/${id}`, { headers })).json()) as JobStatus;
  if (status.counts.succeeded !== status.total)
    throw new Error(`mesh job did not succeed: ${JSON.stringify(status.counts)}`);
  return (await (await fetch(`${api.url}/api/v1/jobs/${id}/results?format=ndjson`, { headers })).text())
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { output: number }).output);
}

async function runMesh(cpu: { source: string; inputs: number[] }) {
  const api = await startApi();
  const perNode = Math.max(1, Math.floor(THREADS / 2));
  const nodes = await Promise.all([
    startNode(api.url, { capacity: perNode, args: ['--isolation', ISOLATION] }),
    startNode(api.url, { capacity: perNode, args: ['--isolation', ISOLATION] }),
  ]);
  try {
    const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
    // Warm the nodes' code caches and workers, and let their lease windows grow.
    await watchRun(
      api,
      key,
      SOURCE,
      Array.from({ length: 2000 }, (_, i) => i),
    );
    // The two ways to a one-input job's result, taken in turns (the machine's speed drifts).
    const latencies: number[] = [];
    const waited: number[] = [];
    for (let i = 0; i < LATENCY_JOBS; i++) {
      latencies.push((await watchRun(api, key, SOURCE, [i])).firstMs);
      waited.push(await waitRun(api, key, i));
    }
    const big = await watchRun(api, key, SOURCE, inputs);
    const out = await outputsOf(api, key, big.id);
    if (out.some((v, i) => v !== expected(i))) throw new Error('mesh produced a wrong result');
    await watchRun(api, key, cpu.source, [0, 1]);
    // The local pool just before and just after, so that both see the machine as the mesh did
    // (this machine's speed drifts by tens of percent within a minute).
    const poolBefore = await runTinypool(cpu.source, cpu.inputs);
    const cpuRun = await watchRun(api, key, cpu.source, cpu.inputs);
    const poolAfter = await runTinypool(cpu.source, cpu.inputs);
    const cpuOut = await outputsOf(api, key, cpuRun.id);
    return {
      trivial: big,
      latencies,
      waited,
      perNode,
      cpu: { ms: cpuRun.doneMs, firstMs: cpuRun.firstMs, out: cpuOut },
      cpuPool: {
        ms: (poolBefore.ms + poolAfter.ms) / 2,
        firstMs: (poolBefore.firstMs + poolAfter.firstMs) / 2,
        out: poolBefore.out,
        beforeMs: poolBefore.ms,
        afterMs: poolAfter.ms,
      },
    };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await api.stop();
  }
}

const iterations = await calibrate();
const cpu = { source: cpuSource(iterations), inputs: Array.from({ length: CPU_TASKS }, (_, i) => i) };
process.stderr.write(
  `dispatch: ${TASKS} tasks of ${JSON.stringify(SOURCE)}, and ${CPU_TASKS} CPU-bound tasks of ${iterations} iterations (~${CPU_MS} ms each), on ${THREADS} threads\n`,
);
const pool = await runTinypool(SOURCE, inputs);
if (pool.out.some((v, i) => v !== expected(i))) throw new Error('tinypool produced a wrong result');
const sandbox = await runSandbox();
const control = await runControlPlane();
const mesh = await runMesh(cpu);
const cpuPool = mesh.cpuPool;
if (mesh.cpu.out.some((v, i) => v !== cpuPool.out[i]))
  throw new Error('the CPU-bound job differs between the mesh and the pool');

const row = (name: string, r: { ms: number; firstMs: number }, tasks = TASKS, floor = pool.ms) => ({
  variant: name,
  'tasks/s': Math.round(tasks / (r.ms / 1000)),
  'wall ms': Math.round(r.ms),
  'ms/task': r.ms / tasks,
  'overhead ms/task vs tinypool': (r.ms - floor) / tasks,
  'first result ms': r.firstMs,
});
const rows = [
  row('tinypool (direct)', pool),
  row('sandbox (local)', sandbox),
  row("control plane only (no-op node, the owner's)", control.owners),
  row('control plane only (anonymous no-op node, verified)', control.anonymous),
  row(`mesh (wrangler dev + 2 nodes, ${ISOLATION} sandboxes)`, {
    ms: mesh.trivial.doneMs,
    firstMs: mesh.trivial.firstMs,
  }),
];
const cpuRows = [
  row(
    `CPU-bound, tinypool (${THREADS} threads; mean of just before and after)`,
    cpuPool,
    CPU_TASKS,
    cpuPool.ms,
  ),
  row(`CPU-bound, mesh (2 nodes × ${mesh.perNode} ${ISOLATION} sandbox)`, mesh.cpu, CPU_TASKS, cpuPool.ms),
];
const cpuRatio = cpuPool.ms / mesh.cpu.ms;
/** Submit, then watch (two round trips: the submission, then the watcher's socket). */
const latency = {
  jobs: LATENCY_JOBS,
  p50Ms: percentile(mesh.latencies, 50),
  p99Ms: percentile(mesh.latencies, 99),
  maxMs: Math.max(...mesh.latencies),
};
/** Submit with `?wait`: one request answered with the result. */
const waitLatency = {
  jobs: LATENCY_JOBS,
  p50Ms: percentile(mesh.waited, 50),
  p99Ms: percentile(mesh.waited, 99),
  maxMs: Math.max(...mesh.waited),
};
process.stdout.write(`\n${table(rows)}\n\n${table(cpuRows)}\n`);
process.stdout.write(
  `\nCPU-bound: the mesh ran at ${cpuRatio.toFixed(2)} of the local pool's speed (pool wall time / mesh wall time)\n`,
);
process.stdout.write(
  `submit-to-first-result over ${LATENCY_JOBS} one-input jobs: submit then watch p50 ${latency.p50Ms.toFixed(1)} ms, p99 ${latency.p99Ms.toFixed(1)} ms; one request (?wait) p50 ${waitLatency.p50Ms.toFixed(1)} ms, p99 ${waitLatency.p99Ms.toFixed(1)} ms\n`,
);
process.stdout.write(
  `submit of the ${TASKS}-input job (HTTP round trip, tasks stored): mesh ${mesh.trivial.submitMs.toFixed(0)} ms, control ${control.owners.submitMs.toFixed(0)} ms\n`,
);
const path = writeResult('dispatch', {
  tasks: TASKS,
  threads: THREADS,
  nodes: 2,
  threadsPerNode: mesh.perNode,
  function: SOURCE,
  variants: rows,
  cpuBound: {
    tasks: CPU_TASKS,
    iterations,
    targetMs: CPU_MS,
    function: cpu.source,
    variants: cpuRows,
    meshOverPool: cpuRatio,
    poolBeforeMs: cpuPool.beforeMs,
    poolAfterMs: cpuPool.afterMs,
  },
  submitMs: { mesh: mesh.trivial.submitMs, control: control.owners.submitMs },
  submitToFirstResult: latency,
  submitWaitToResult: waitLatency,
});
process.stdout.write(`wrote ${path}\n`);
