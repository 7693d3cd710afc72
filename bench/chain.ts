import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { bytesToHex, encodeFunctionData, type Hex } from 'viem';
import { createClient } from '../client/index.ts';
import { createApiKey, DEV_PRIVATE_KEYS } from '../client/sign-in.ts';
import { monadMeshRegistryAbi } from '../contracts/abi.ts';
import type { JobProof } from '../protocol/anchor.ts';
import { hexTree, type JobLeaf, jobLeafHash, type TaskLeaf, taskLeafHash } from '../protocol/anchor.ts';
import { chainClients, deployRegistry, RELAYER_KEY } from '../scripts/chain.ts';
import { chainVars, startAnvil, startApi, startNode } from '../scripts/local-mesh.ts';
import { percentile, table, writeResult } from './report.ts';

// `npm run bench -- chain [--jobs N]`: what anchoring costs on-chain and how long it takes.
// 1. Gas, on anvil (the EVM Monad runs): one `commitBatch` per batch of 1, 16 and 256 job leaves,
//    against the baseline of one transaction per job; both the gas used and the gas limit the
//    relayer sets (its estimate plus an eighth), since Monad charges the limit. Also what checking
//    a task on-chain (`verifyTask`) costs a caller, by tree size.
// 2. Time, on the real stack (`wrangler dev` + a headless node + anvil): N jobs finish, then one
//    cron run anchors them: how long the run takes, and each job's time from finished to anchored
//    when the cron fires right after (the deployed cron fires every minute, so add up to 60 s).

const { values } = parseArgs({
  options: { jobs: { type: 'string', default: '32' } },
  allowPositionals: true,
});
const latencyJobs = Number(values.jobs);

const rand32 = (): Hex => `0x${randomBytes(32).toString('hex')}`;
const randomJob = (tasks: number): JobLeaf => {
  const taskLeaves: TaskLeaf[] = Array.from({ length: tasks }, (_, index) => ({
    index,
    state: 1,
    inputHash: rand32(),
    outputHash: rand32(),
    verification: rand32(),
  }));
  return {
    jobId: rand32(),
    specHash: rand32(),
    codeCid: rand32(),
    owner: `0x${randomBytes(20).toString('hex')}`,
    inputsRoot: rand32(),
    tasksRoot: hexTree(taskLeaves.map(taskLeafHash)).root,
    tasks,
    state: 1,
  };
};

const anvil = await startAnvil();
const chain = chainClients(anvil.rpcUrl, anvil.chainId);
const relayer = chain.wallet(RELAYER_KEY);
const registry = await deployRegistry(chain, [relayer.account.address]);

/** Commit one root as the relayer does (estimate + 1/8 as the limit); gas used and limit. */
async function commit(root: Hex, size: number): Promise<{ used: bigint; limit: bigint }> {
  const gas = await chain.public.estimateContractGas({
    address: registry,
    abi: monadMeshRegistryAbi,
    functionName: 'commitBatch',
    args: [root, size],
    account: relayer.account,
  });
  const limit = gas + gas / 8n;
  const hash = await relayer.writeContract({
    address: registry,
    abi: monadMeshRegistryAbi,
    functionName: 'commitBatch',
    args: [root, size],
    gas: limit,
  });
  const receipt = await chain.public.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`commitBatch reverted (${hash})`);
  return { used: receipt.gasUsed, limit };
}

const gasRows: Record<string, string | number>[] = [];
const gasJson: unknown[] = [];
for (const size of [1, 16, 256]) {
  const jobs = Array.from({ length: size }, () => randomJob(8));
  const batch = hexTree(jobs.map(jobLeafHash));
  const batched = await commit(batch.root, size);
  // Baseline: each job its own transaction (a root of one leaf each; other jobs of the same shape).
  let usedEach = 0n;
  let limitEach = 0n;
  for (const job of Array.from({ length: size }, () => randomJob(8))) {
    const one = await commit(bytesToHex(jobLeafHash(job)), 1);
    usedEach += one.used;
    limitEach += one.limit;
  }
  const row = {
    batch: size,
    'gas/batch': Number(batched.used),
    'gas/job': Math.round(Number(batched.used) / size),
    'limit/job': Math.round(Number(batched.limit) / size),
    'gas/job, 1 tx per job': Math.round(Number(usedEach) / size),
    'limit/job, 1 tx per job': Math.round(Number(limitEach) / size),
    saving: `${(Number(usedEach) / Number(batched.used)).toFixed(1)}×`,
  };
  gasRows.push(row);
  gasJson.push({
    batchSize: size,
    gasPerBatch: Number(batched.used),
    gasLimitPerBatch: Number(batched.limit),
    gasPerJob: Number(batched.used) / size,
    gasLimitPerJob: Number(batched.limit) / size,
    baselineGasPerJob: Number(usedEach) / size,
    baselineGasLimitPerJob: Number(limitEach) / size,
  });
}
process.stdout.write(
  `\nGas of anchoring (anvil, ${new Date().toISOString().slice(0, 10)})\n${table(gasRows)}\n`,
);

// What a caller pays to check a task on-chain (a view call, estimated as a transaction).
const verifyRows: Record<string, string | number>[] = [];
for (const [jobs, tasks] of [
  [16, 16],
  [256, 1024],
] as const) {
  const job = randomJob(tasks);
  const taskLeaves = Array.from({ length: tasks }, (_, index) => ({
    index,
    state: 1,
    inputHash: rand32(),
    outputHash: rand32(),
    verification: rand32(),
  }));
  const taskTree = hexTree(taskLeaves.map(taskLeafHash));
  job.tasksRoot = taskTree.root;
  const leaves = [jobLeafHash(job), ...Array.from({ length: jobs - 1 }, () => jobLeafHash(randomJob(1)))];
  const batch = hexTree(leaves);
  await commit(batch.root, jobs);
  const gas = await chain.public.estimateGas({
    to: registry,
    data: encodeFunctionData({
      abi: monadMeshRegistryAbi,
      functionName: 'verifyTask',
      args: [batch.root, job, 0n, batch.proof(0), taskLeaves[5]!, taskTree.proof(5)],
    }),
    account: relayer.account,
  });
  verifyRows.push({ 'jobs in batch': jobs, 'tasks in job': tasks, 'verifyTask gas': Number(gas) });
}
process.stdout.write(`\nChecking a task on-chain\n${table(verifyRows)}\n`);

// ---- time, on the real stack ----------------------------------------------------------------
const api = await startApi({
  vars: { ...chainVars(anvil), REGISTRY_ADDRESS: registry, RELAYER_KEY, ANCHOR_SHARDS: '2' },
});
const key = (await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] })).key;
const client = createClient({ url: api.url, apiKey: key });
const node = await startNode(api.url, { capacity: 4 });
const ids: string[] = [];
for (let i = 0; i < latencyJobs; i++) {
  const job = await client.map('export default (x) => x * x', [i, i + 1, i + 2, i + 3], { redundancy: 1 });
  ids.push(job.id);
}
const finishedAt = new Map<string, number>();
for (const id of ids) finishedAt.set(id, (await client.job(id).wait()).finishedAt!);
// The rooms queue their leaves on their alarms, at once; give them a moment.
await new Promise((r) => setTimeout(r, 500));
const t0 = performance.now();
const res = await fetch(`${api.url}/cdn-cgi/handler/scheduled?cron=*+*+*+*+*`);
const runMs = performance.now() - t0;
if (!res.ok) throw new Error(`cron: HTTP ${res.status}`);
const delays: number[] = [];
const batches = new Set<string>();
for (const id of ids) {
  const proof = (await client.job(id).proof()) as JobProof;
  if (!proof.anchored) throw new Error(`job ${id} not anchored after the run: ${JSON.stringify(proof)}`);
  delays.push(proof.batch.anchoredAt - finishedAt.get(id)!);
  batches.add(proof.batch.root);
}
await node.stop('SIGKILL');
await api.stop();
await anvil.stop();

const timeRows = [
  {
    jobs: latencyJobs,
    batches: batches.size,
    'cron run (ms)': Math.round(runMs),
    'finished→anchored p50 (ms)': Math.round(percentile(delays, 50)),
    'p95 (ms)': Math.round(percentile(delays, 95)),
    max: Math.round(Math.max(...delays)),
  },
];
process.stdout.write(
  `\nFinished to anchored, with the cron fired once all jobs finished (wrangler dev + anvil)\n${table(timeRows)}\n` +
    'The deployed cron fires every minute: add up to 60 s (30 s on average) of waiting for it.\n',
);
const path = writeResult('chain', {
  gas: gasJson,
  verifyTaskGas: verifyRows,
  latency: {
    jobs: latencyJobs,
    batches: batches.size,
    cronRunMs: runMs,
    finishedToAnchoredMs: {
      p50: percentile(delays, 50),
      p95: percentile(delays, 95),
      max: Math.max(...delays),
    },
  },
  goal: { gasPerJobAtBatch256: 500 },
});
process.stdout.write(`\nwrote ${path}\n`);
