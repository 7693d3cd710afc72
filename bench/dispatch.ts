import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { Tinypool } from 'tinypool';
import { identityFromKey } from '../browser-node/src/core/identity.ts';
import { signOutcome } from '../browser-node/src/core/sign-outcome.ts';
import { ThreadExecutor } from '../browser-node/src/headless/thread-executor.ts';
import { createApiKey, DEV_PRIVATE_KEYS } from '../client/sign-in.ts';
import {
  HubToNode,
  type JobStatus,
  MESH_PROTOCOL,
  type NodeToHub,
  RoomToWatcher,
  signHelloProof,
  type TaskOutcome,
} from '../protocol/index.ts';
import { startApi, startNode } from '../scripts/local-mesh.ts';
import { percentile, table, writeResult } from './report.ts';

// npm run bench -- dispatch [--tasks 10000] [--latency-jobs 40]
//
// The same trivial function over the same inputs, four ways on this machine:
//   1. tinypool: a local worker-thread pool calling the function directly (the floor);
//   2. sandbox: our ThreadExecutor locally (SES compartments in worker threads), no network;
//   3. control plane: `wrangler dev` with a no-op node that answers every lease at once (the ceiling);
//   4. mesh: submitted to `wrangler dev`, leased by two headless nodes over WebSockets.
// Two nodes share the machine's cores, so every variant uses the same number of threads.

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: { tasks: { type: 'string', default: '10000' }, 'latency-jobs': { type: 'string', default: '40' } },
});
const TASKS = Number(values.tasks);
const LATENCY_JOBS = Number(values['latency-jobs']);
const THREADS = availableParallelism();
const SOURCE = 'export default (x) => x * 2';
const inputs = Array.from({ length: TASKS }, (_, i) => i);
const expected = (i: number) => i * 2;
const baselineWorker = new URL('./dispatch-baseline-worker.ts', import.meta.url).href;

async function runTinypool() {
  const pool = new Tinypool({ filename: baselineWorker, minThreads: THREADS, maxThreads: THREADS });
  await Promise.all(Array.from({ length: THREADS * 4 }, () => pool.run({ source: SOURCE, input: 0 })));
  const t0 = performance.now();
  let first = 0;
  const out = await Promise.all(
    inputs.map((input) =>
      pool.run({ source: SOURCE, input }).then((r: string) => {
        first ||= performance.now() - t0;
        return JSON.parse(r) as number;
      }),
    ),
  );
  const ms = performance.now() - t0;
  await pool.destroy();
  if (out.some((v, i) => v !== expected(i))) throw new Error('tinypool produced a wrong result');
  return { ms, firstMs: first };
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

/**
 * The control plane alone: `wrangler dev` and one no-op node that answers every lease at once
 * with made-up outputs, signed as a real node signs them. What remains is the Worker, the hub,
 * the room and the WebSockets: the ceiling the mesh path can reach on this machine.
 */
async function runControlPlane() {
  const api = await startApi();
  const identity = identityFromKey(await generateKeyPair('Ed25519'));
  try {
    const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/api/v1/mesh/connect`);
    const inbox: HubToNode[] = [];
    let wake: (() => void) | undefined;
    ws.addEventListener('message', (e) => {
      inbox.push(HubToNode.parse(JSON.parse(String(e.data))));
      wake?.();
    });
    const next = async <T extends HubToNode['type']>(type: T): Promise<Extract<HubToNode, { type: T }>> => {
      for (;;) {
        const i = inbox.findIndex((m) => m.type === type);
        if (i >= 0) return inbox.splice(i, 1)[0] as Extract<HubToNode, { type: T }>;
        await new Promise<void>((r) => {
          wake = r;
        });
      }
    };
    const send = (m: NodeToHub) => ws.send(JSON.stringify(m));
    await new Promise((r) => ws.addEventListener('open', r));
    send({
      type: 'node.hello',
      protocol: MESH_PROTOCOL,
      nodeId: 'bench-noop-node',
      kind: 'headless',
      runtimes: ['js'],
      capacity: THREADS,
      version: 'bench',
      peerId: identity.peerId.toString(),
      proof: await signHelloProof({ peerId: identity.peerId.toString(), host: new URL(api.url).host }, (b) =>
        identity.sign(b),
      ),
    });
    await next('hub.welcome');
    const t0 = performance.now();
    const res = await fetch(`${api.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ runtime: 'js', source: SOURCE, inputs }),
    });
    if (res.status !== 201) throw new Error(`submit failed: ${res.status}`);
    send({ type: 'lease.request', credit: 256 });
    let done = 0;
    let firstMs = 0;
    while (done < TASKS) {
      const { tasks } = await next('task.leased');
      firstMs ||= performance.now() - t0;
      done += tasks.length;
      const results = await Promise.all(
        tasks.map(async (t): Promise<TaskOutcome> => {
          const output = expected(t.index);
          const receipt = await signOutcome(identity, t, { ok: true, output });
          return {
            ok: true,
            jobId: t.jobId,
            index: t.index,
            leaseId: t.leaseId,
            output,
            logs: '',
            durationMs: 0,
            receipt,
          };
        }),
      );
      send({ type: 'task.results', results, credit: tasks.length });
    }
    const ms = performance.now() - t0;
    for (let accepted = 0; accepted < TASKS; ) {
      const ack = await next('results.ack');
      if (ack.ignored.length) throw new Error(`results not counted: ${ack.ignored[0]!.reason}`);
      accepted += ack.accepted;
    }
    ws.close();
    return { ms, firstMs };
  } finally {
    await api.stop();
  }
}

async function runMesh() {
  const api = await startApi();
  const perNode = Math.max(1, Math.floor(THREADS / 2));
  const nodes = await Promise.all([
    startNode(api.url, { capacity: perNode }),
    startNode(api.url, { capacity: perNode }),
  ]);
  try {
    const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

    /** Submit, open the watcher, resolve at the first result and at the end. */
    const run = async (jobInputs: number[]) => {
      const t0 = performance.now();
      const res = await fetch(`${api.url}/api/v1/jobs`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ runtime: 'js', source: SOURCE, inputs: jobInputs }),
      });
      const { id } = (await res.json()) as { id: string };
      const submitMs = performance.now() - t0;
      const ws = new WebSocket(`${api.url.replace('http', 'ws')}/api/v1/jobs/${id}/events?token=${key}`);
      let firstMs = 0;
      const doneMs = await new Promise<number>((resolve, reject) => {
        ws.addEventListener('message', (e) => {
          const msg = RoomToWatcher.parse(JSON.parse(String(e.data)));
          const now = performance.now() - t0;
          if (msg.type === 'job.snapshot' && msg.job.counts.succeeded > 0) firstMs ||= now;
          if (msg.type === 'tasks.updated' && msg.updates.some((u) => u.state === 'succeeded'))
            firstMs ||= now;
          if (msg.type === 'job.finished' || (msg.type === 'job.snapshot' && msg.job.state !== 'running')) {
            firstMs ||= now;
            resolve(now);
          }
        });
        ws.addEventListener('error', () => reject(new Error('watcher failed')));
      });
      ws.close();
      return { id, submitMs, firstMs, doneMs };
    };

    await run(Array.from({ length: 200 }, (_, i) => i)); // warm the nodes' code caches and workers
    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_JOBS; i++) latencies.push((await run([i])).firstMs);
    const big = await run(inputs);
    const status = (await (await fetch(`${api.url}/api/v1/jobs/${big.id}`, { headers })).json()) as JobStatus;
    if (status.counts.succeeded !== TASKS)
      throw new Error(`mesh job did not succeed: ${JSON.stringify(status.counts)}`);
    const lines = (
      await (await fetch(`${api.url}/api/v1/jobs/${big.id}/results?format=ndjson`, { headers })).text()
    )
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { output: number });
    if (lines.some((r, i) => r.output !== expected(i))) throw new Error('mesh produced a wrong result');
    return { ms: big.doneMs, submitMs: big.submitMs, firstMs: big.firstMs, latencies, perNode };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await api.stop();
  }
}

process.stderr.write(`dispatch: ${TASKS} tasks of ${JSON.stringify(SOURCE)} on ${THREADS} threads\n`);
const pool = await runTinypool();
const sandbox = await runSandbox();
const control = await runControlPlane();
const mesh = await runMesh();

const row = (name: string, r: { ms: number; firstMs: number }) => ({
  variant: name,
  'tasks/s': Math.round(TASKS / (r.ms / 1000)),
  'wall ms': Math.round(r.ms),
  'ms/task': r.ms / TASKS,
  'overhead ms/task vs tinypool': (r.ms - pool.ms) / TASKS,
  'first result ms': r.firstMs,
});
const rows = [
  row('tinypool (direct)', pool),
  row('sandbox (local)', sandbox),
  row('control plane only (no-op node)', control),
  row('mesh (wrangler dev + 2 nodes)', mesh),
];
const latency = {
  jobs: LATENCY_JOBS,
  p50Ms: percentile(mesh.latencies, 50),
  p99Ms: percentile(mesh.latencies, 99),
  maxMs: Math.max(...mesh.latencies),
};
process.stdout.write(
  `\n${table(rows)}\n\nsubmit-to-first-result over ${LATENCY_JOBS} one-input jobs: p50 ${latency.p50Ms.toFixed(1)} ms, p99 ${latency.p99Ms.toFixed(1)} ms\n`,
);
process.stdout.write(
  `submit of the ${TASKS}-input job (HTTP round trip, tasks stored): ${mesh.submitMs.toFixed(0)} ms\n`,
);
const path = writeResult('dispatch', {
  tasks: TASKS,
  threads: THREADS,
  nodes: 2,
  threadsPerNode: mesh.perNode,
  function: SOURCE,
  variants: rows,
  submitMs: mesh.submitMs,
  submitToFirstResult: latency,
});
process.stdout.write(`wrote ${path}\n`);
