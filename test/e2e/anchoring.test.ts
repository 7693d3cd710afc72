import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Hex, parseAbiItem } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCircuit } from '../../client/circuit-files.ts';
import { createClient, type MeshClient } from '../../client/index.ts';
import { createApiKey, DEV_PRIVATE_KEYS } from '../../client/sign-in.ts';
import { verifyAnchor } from '../../client/verify-anchor.ts';
import { monadMeshRegistryAbi } from '../../contracts/abi.ts';
import type { AnchorHealth, AnchorPending, JobProof } from '../../protocol/anchor.ts';
import type { TaskResult } from '../../protocol/index.ts';
import { type ChainClients, chainClients, deployRegistry, RELAYER_KEY } from '../../scripts/chain.ts';
import { buildCircuits, testBuildDir } from '../../scripts/circuits.ts';
import {
  type Anvil,
  type ApiServer,
  chainVars,
  type Proc,
  ROOT,
  startAnvil,
  startApi,
  startNode,
} from '../../scripts/local-mesh.ts';

// Anchoring end to end on real parts: `wrangler dev` (the Worker, its ChainOutbox shards and the
// cron handler at /cdn-cgi/handler/scheduled), a headless node, and anvil with MonadMeshRegistry.
// Jobs finish, the cron commits their batch roots, and every job and task verifies against the
// chain with viem (`verifyAnchor`, and the CLI's `verify`); tampered data does not. Then the
// failures: the Worker killed between sending a batch and recording it (and between recording a
// signed batch and sending it), a relayer without funds, and anvil down during a run. A proven
// job's task proof is checked on-chain too (the registry's verifyProof), from the client and the CLI.

const work = mkdtempSync(join(tmpdir(), 'monadmesh-anchoring-'));
const persist = join(work, 'wrangler');
const chainState = join(work, 'anvil.json');
let anvil: Anvil;
let chain: ChainClients;
let registry: Hex;
let api: ApiServer;
let node: Proc;
let key = '';
let client: MeshClient;

async function startWorker(extra: Record<string, string> = {}): Promise<void> {
  api = await startApi({
    persistTo: persist,
    ...(process.env.E2E_ECHO_API ? { echo: 'api' } : {}),
    vars: {
      ...chainVars(anvil),
      REGISTRY_ADDRESS: registry,
      RELAYER_KEY,
      ...extra,
    },
  });
  client = createClient({ url: api.url, apiKey: key || 'unset' });
}

/** Run the CLI's `verify` against this Worker and anvil; its exit code and JSON report. */
async function cliVerify(id: string, task: number, ...extra: string[]) {
  const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'cli/main.ts'), 'verify', id, '--task', String(task), '--json', ...extra],
      {
        env: {
          ...process.env,
          MONADMESH_API: api.url,
          MONADMESH_KEY: key,
          MONADMESH_RPC: anvil.rpcUrl,
          HOME: work,
          XDG_CONFIG_HOME: join(work, 'xdg'),
        },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return {
    ...out,
    report: out.stdout
      ? (JSON.parse(out.stdout) as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] })
      : undefined,
  };
}

async function cron(): Promise<void> {
  // wrangler dev runs the scheduled handler on this request, and answers when it is done.
  const res = await fetch(`${api.url}/cdn-cgi/handler/scheduled?cron=*+*+*+*+*`);
  expect(res.status, await res.text()).toBe(200);
}

const call = (path: string) =>
  fetch(`${api.url}/api/v1${path}`, { headers: { authorization: `Bearer ${key}` } });

async function health(): Promise<AnchorHealth> {
  return ((await (await fetch(`${api.url}/api/v1/health`)).json()) as { anchoring: AnchorHealth }).anchoring;
}

async function finishedJob(inputs: unknown[], source = 'export default (x) => x * 2'): Promise<string> {
  const job = await client.map(source, inputs, { redundancy: 1 });
  await job.wait();
  return job.id;
}

async function allResults(id: string): Promise<TaskResult[]> {
  return (await client.job(id).resultsPage({ limit: 1000 })).results;
}

/** Every job's and task's anchor, checked against the chain; the reports. */
async function verifyAll(id: string) {
  const job = client.job(id);
  const status = await job.status();
  const results = await allResults(id);
  const reports = [];
  for (const result of results) {
    const proof = (await job.proof({ task: result.index })) as JobProof;
    expect(proof.anchored, JSON.stringify(proof)).toBe(true);
    reports.push(await verifyAnchor({ proof, status, result, client: chain.public, registry }));
  }
  return reports;
}

const batchCommitted = parseAbiItem(
  'event BatchCommitted(bytes32 indexed root, address indexed relayer, uint32 size)',
);

/** How many times `root` was committed (or every root, without one). */
async function commits(root?: Hex): Promise<number> {
  const logs = await chain.public.getLogs({
    address: registry,
    event: batchCommitted,
    ...(root ? { args: { root } } : {}),
    fromBlock: 0n,
  });
  return logs.length;
}

beforeAll(async () => {
  anvil = await startAnvil({ state: chainState });
  chain = chainClients(anvil.rpcUrl, anvil.chainId);
  registry = await deployRegistry(chain, [chain.wallet(RELAYER_KEY).account.address]);
  await startWorker();
  key = (await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] })).key;
  client = createClient({ url: api.url, apiKey: key });
  node = await startNode(api.url, { capacity: 2 });
}, 180_000);

afterAll(async () => {
  await node?.stop('SIGKILL');
  await api?.stop();
  await anvil?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('anchoring on anvil', () => {
  it('finished jobs wait for the cron, then every job and task verifies against the chain', async () => {
    const ids = [
      await finishedJob([1, 2, 3, 4, 5]),
      await finishedJob(Array.from({ length: 40 }, (_, i) => i)),
      // One task fails: its error is what the leaf commits.
      await finishedJob(
        [1, 0, 3],
        'export default (x) => { if (x === 0) throw new Error("zero"); return 1 / x; }',
      ),
    ];
    // Finished, not anchored yet: the proof says where it waits and when it should be anchored.
    const waiting = (await (await call(`/jobs/${ids[0]}/proof`)).json()) as AnchorPending;
    expect(waiting).toMatchObject({ anchored: false, state: 'queued' });
    expect(waiting.expectedBy).toBeGreaterThan(Date.now() - 1000);
    expect((await health()).queued).toBeGreaterThanOrEqual(3);

    await cron();
    const after = await health();
    expect(after).toMatchObject({
      configured: true,
      queued: 0,
      inFlight: 0,
      registry: registry.toLowerCase(),
    });
    expect(after.anchoredBatches).toBeGreaterThanOrEqual(1);
    expect(after.lastError).toBeUndefined();

    for (const id of ids) {
      const reports = await verifyAll(id);
      for (const report of reports) {
        expect(report.checks.filter((c) => !c.ok)).toEqual([]);
        expect(report.ok).toBe(true);
      }
      const proof = (await client.job(id).proof()) as JobProof;
      expect(await commits(proof.batch.root)).toBe(1);
    }
  });

  it("a spec hash registered from the owner's wallet before submitting is the one anchored, and links", async () => {
    const owner = chain.wallet(DEV_PRIVATE_KEYS[0]);
    let registered: Hex | undefined;
    const job = await client.map('export default (x) => x + 1', [{ a: 1 }, 'two', [3], null], {
      timeoutMs: 20_000,
      beforeSubmit: async ({ specHash }) => {
        const hash = await owner.writeContract({
          address: registry,
          abi: monadMeshRegistryAbi,
          functionName: 'registerSpec',
          args: [specHash],
        });
        await chain.public.waitForTransactionReceipt({ hash });
        registered = specHash;
      },
    });
    await job.wait();
    await cron();
    const proof = (await job.proof({ task: 2 })) as JobProof;
    expect(proof.job.leaf.specHash).toBe(registered);
    const [result] = (await job.resultsPage({ cursor: 2, limit: 1 })).results;
    const report = await verifyAnchor({
      proof,
      status: await job.status(),
      result: result!,
      client: chain.public,
      registry,
    });
    expect(report.ok).toBe(true);
    expect(report.specRegisteredAt).toBeGreaterThan(0n);
    // A job whose spec was not registered verifies, and says it is not linked.
    const plain = client.job(await finishedJob([1]));
    await cron();
    const plainProof = (await plain.proof()) as JobProof;
    const plainReport = await verifyAnchor({
      proof: plainProof,
      status: await plain.status(),
      client: chain.public,
      registry,
    });
    expect(plainReport.ok).toBe(true);
    expect(plainReport.specRegisteredAt).toBeUndefined();
  });

  it('a tampered output, a tampered proof and a root never committed all fail', async () => {
    const id = await finishedJob([10, 20, 30]);
    await cron();
    const job = client.job(id);
    const status = await job.status();
    const [result] = (await job.resultsPage({ cursor: 1, limit: 1 })).results;
    const proof = (await job.proof({ task: 1 })) as JobProof;
    const failed = async (p: JobProof, r: TaskResult = result!) =>
      (await verifyAnchor({ proof: p, status, result: r, client: chain.public, registry })).checks
        .filter((c) => !c.ok)
        .map((c) => c.name);

    expect(await failed(proof)).toEqual([]);
    expect(await failed(proof, { ...result!, output: 41 })).toEqual(['task output']);
    // The leaf made to match the tampered output: its path no longer leads to the tasks root.
    const tamperedLeaf = { ...proof.task!.leaf, outputHash: `0x${'ab'.repeat(32)}` as Hex };
    expect(await failed({ ...proof, task: { ...proof.task!, leaf: tamperedLeaf } })).toEqual(
      expect.arrayContaining(['task output', 'task path', 'task on-chain']),
    );
    const path = [...proof.job.proof];
    if (path.length) {
      path[0] = `0x${(BigInt(path[0]!) ^ 1n).toString(16).padStart(64, '0')}` as Hex;
      expect(await failed({ ...proof, job: { ...proof.job, proof: path } })).toEqual(
        expect.arrayContaining(['job path', 'job on-chain', 'task on-chain']),
      );
    }
    const never = `0x${randomBytes(32).toString('hex')}` as Hex;
    expect(await failed({ ...proof, batch: { ...proof.batch, root: never } })).toEqual(
      expect.arrayContaining(['job path', 'root on-chain', 'job on-chain', 'task on-chain', 'transaction']),
    );
  });

  it('the CLI verifies a job and a task, and bad ids and task indices are 400s', async () => {
    const id = await finishedJob([7, 8]);
    await cron();
    const out = await cliVerify(id, 1);
    expect(out.code, out.stderr).toBe(0);
    const report = out.report!;
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['task output', 'task on-chain']),
    );
    expect(report.checks.map((c) => c.name)).not.toContain('proof on-chain');

    for (const [path, status] of [
      ['/jobs/not-a-job/proof', 400],
      [`/jobs/${id}/proof?task=-1`, 400],
      [`/jobs/${id}/proof?task=1.5`, 400],
      [`/jobs/${id}/proof?task=abc`, 400],
      [`/jobs/${id}/proof?task=2`, 400],
      ['/jobs/00000000-0000-4000-8000-000000000000/proof', 404],
    ] as const) {
      const res = await call(path);
      expect(res.status, path).toBe(status);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBeTruthy();
    }
  });

  it("a proven task's Groth16 proof is checked on-chain: the CLI and verifyAnchor pass it; a tampered proof, tampered signals and another job's manifest fail", async () => {
    const dir = testBuildDir('e2e-anchoring');
    try {
      await buildCircuits({ names: ['sum_range'], out: dir });
      const circuit = await loadCircuit(dir, 'sum_range');
      const inputs = [
        { values: [3, 1, 4, 1, 5, 9, 2, 6], lo: 0, hi: 9 },
        { values: [2, 7, 1, 8, 2, 8, 1, 8], lo: 1, hi: 8 },
      ];
      const job = await client.prove(circuit, inputs);
      expect((await job.wait()).state).toBe('succeeded');
      await cron();

      const out = await cliVerify(job.id, 1, '--input', JSON.stringify(inputs[1]));
      expect(out.code, out.stderr).toBe(0);
      expect(out.report!.checks.filter((c) => !c.ok)).toEqual([]);
      expect(out.report!.checks.find((c) => c.name === 'proof on-chain')).toMatchObject({ ok: true });
      expect(out.report!.checks.map((c) => c.name)).toEqual(
        expect.arrayContaining(['task input value', 'proof of the input']),
      );
      // Task 1 checked with task 0's input: neither the anchored input nor what the proof is of.
      const wrong = await cliVerify(job.id, 1, '--input', JSON.stringify(inputs[0]));
      expect(wrong.code).toBe(1);
      expect(wrong.report!.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([
        'task input value',
        'proof of the input',
      ]);

      const status = await job.status();
      const [result] = (await job.resultsPage({ cursor: 0, limit: 1 })).results;
      expect(result!.verification?.how).toBe('proven');
      const proof = (await job.proof({ task: 0 })) as JobProof;
      const manifest = new Uint8Array(
        await (await fetch(`${api.url}/api/v1/blobs/${status.codeCid}`)).arrayBuffer(),
      );
      const failed = async (r: TaskResult, m = manifest) =>
        (await verifyAnchor({ proof, status, result: r, client: chain.public, registry, manifest: m })).checks
          .filter((c) => !c.ok)
          .map((c) => c.name);
      expect(await failed(result!)).toEqual([]);
      // A proven task checked without its manifest does not pass as if it had no proof.
      const withoutManifest = await verifyAnchor({
        proof,
        status,
        result: result!,
        client: chain.public,
        registry,
      });
      expect(withoutManifest.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['proof on-chain']);
      const p = result!.proof!;
      // A broken proof of the anchored output: only the on-chain proof check fails.
      expect(await failed({ ...result!, proof: { ...p, pi_a: p.pi_c, pi_c: p.pi_a } })).toEqual([
        'proof on-chain',
      ]);
      // Other signals: not the anchored output, and the proof is not of them either.
      const signals = result!.output as string[];
      const other = { ...result!, output: [String(BigInt(signals[0]!) + 1n), ...signals.slice(1)] };
      expect(await failed(other)).toEqual(['task output', 'proof on-chain']);
      // A manifest that is not this job's code (another key could make another statement true).
      const foreign = new TextEncoder().encode(
        JSON.stringify({ ...JSON.parse(new TextDecoder().decode(manifest)), name: 'x' }),
      );
      expect(await failed(result!, foreign)).toEqual(['circuit manifest']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /**
   * Jobs finish on a Worker whose outboxes die at `fault`; then a Worker without it runs the cron.
   * Returns how many batch transactions were on-chain after the crashed run, and after recovery.
   */
  async function crashAndRecover(fault: string) {
    await node.stop('SIGKILL');
    await api.stop();
    await startWorker({ ANCHOR_FAULT: fault });
    node = await startNode(api.url, { capacity: 2 });
    const ids = [await finishedJob([1, 2]), await finishedJob([3, 4, 5])];
    const before = await commits();
    await cron();
    const afterCrash = (await commits()) - before;
    // Each outbox with a job has a batch signed and recorded; none knows how it ended.
    const batches = (await health()).inFlight;
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(((await client.job(ids[0]!).proof()) as AnchorPending).state).toBe('sending');

    await node.stop('SIGKILL');
    await api.stop();
    await startWorker();
    node = await startNode(api.url, { capacity: 2 });
    await cron();
    const afterRecovery = (await commits()) - before;
    for (const id of ids) {
      const proof = (await client.job(id).proof()) as JobProof;
      expect(proof.anchored).toBe(true);
      expect(await commits(proof.batch.root)).toBe(1);
      for (const report of await verifyAll(id)) expect(report.ok).toBe(true);
    }
    expect(await health()).toMatchObject({ queued: 0, inFlight: 0 });
    return { batches, afterCrash, afterRecovery };
  }

  it('the Worker killed between sending a batch and recording it: the next run commits nothing twice and loses no job', async () => {
    const { batches, afterCrash, afterRecovery } = await crashAndRecover('crash-after-send');
    // Sent before the crash; found on-chain by the next run, not sent again.
    expect(afterCrash).toBe(batches);
    expect(afterRecovery).toBe(batches);
  });

  it('the Worker killed after recording a signed batch, before broadcasting it: the next run sends that transaction once', async () => {
    const { batches, afterCrash, afterRecovery } = await crashAndRecover('crash-before-send');
    expect(afterCrash).toBe(0);
    expect(afterRecovery).toBe(batches);
  });

  it('a relayer without funds: the batch waits, /health says to fund it, and the run after funding sends it', async () => {
    const relayer = chain.wallet(RELAYER_KEY).account.address;
    const rpc = (method: string, params: unknown[]) =>
      fetch(anvil.rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });
    await rpc('anvil_setBalance', [relayer, '0x0']);
    const id = await finishedJob([9, 10]);
    await cron();
    const broke = await health();
    expect(broke.lastError).toMatch(/too little to pay for gas: fund it/);
    expect(broke.lastError).toContain(relayer);
    expect(((await client.job(id).proof()) as AnchorPending).anchored).toBe(false);

    await rpc('anvil_setBalance', [relayer, '0x56bc75e2d63100000']);
    await new Promise((r) => setTimeout(r, Math.max(0, broke.retryAt! - Date.now()) + 200));
    await cron();
    expect((await health()).lastError).toBeUndefined();
    for (const report of await verifyAll(id)) expect(report.ok).toBe(true);
  });

  it('anvil down during a run: the batch waits, the failure shows in /health, and the next run sends it', async () => {
    const port = anvil.port;
    await anvil.stop();
    const id = await finishedJob([5, 6, 7]);
    await cron();
    const down = await health();
    expect(down.lastError).toMatch(/unreachable/);
    expect(down.retryAt).toBeGreaterThan(down.lastErrorAt!);
    expect(down.queued + down.inFlight).toBeGreaterThanOrEqual(1);
    expect(((await client.job(id).proof()) as AnchorPending).anchored).toBe(false);

    anvil = await startAnvil({ port, state: chainState });
    // Past the backoff, the next run sends the batch.
    await new Promise((r) => setTimeout(r, Math.max(0, down.retryAt! - Date.now()) + 200));
    await cron();
    const up = await health();
    expect(up).toMatchObject({ queued: 0, inFlight: 0 });
    expect(up.lastError).toBeUndefined();
    for (const report of await verifyAll(id)) expect(report.ok).toBe(true);
  });
});
