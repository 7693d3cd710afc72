import { randomBytes } from 'node:crypto';
import { bytesToHex, type Hex, parseEventLogs } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { merkleHarnessAbi, merkleHarnessBytecode, monadMeshRegistryAbi } from '../../contracts/abi.ts';
import {
  hexTree,
  type JobLeaf,
  jobLeafHash,
  rootOf,
  type TaskLeaf,
  taskLeafHash,
} from '../../protocol/anchor.ts';
import { MerkleTree, merkleLeafHash } from '../../protocol/merkle.ts';
import {
  type ChainClients,
  chainClients,
  DEPLOYER_KEY,
  deployRegistry,
  RELAYER_KEY,
} from '../../scripts/chain.ts';
import { type Anvil, startAnvil } from '../../scripts/local-mesh.ts';

// The TypeScript side of anchoring (protocol/anchor.ts, protocol/merkle.ts) against the contracts
// on a real anvil: random trees built in TypeScript verify on-chain, trees and proofs built in
// Solidity verify in TypeScript, and leaves hash alike on both sides.

const rand32 = (): Hex => `0x${randomBytes(32).toString('hex')}`;
const randInt = (n: number) => randomBytes(4).readUInt32BE() % n;
const hex = (b: Uint8Array): Hex => `0x${bytesToHex(b).slice(2)}` as Hex;

let anvil: Anvil;
let clients: ChainClients;
let registry: Hex;
let harness: Hex;

beforeAll(async () => {
  anvil = await startAnvil();
  clients = chainClients(anvil.rpcUrl, anvil.chainId);
  const relayer = clients.wallet(RELAYER_KEY).account.address;
  registry = await deployRegistry(clients, [relayer]);
  const hash = await clients.wallet(DEPLOYER_KEY).deployContract({
    abi: merkleHarnessAbi,
    bytecode: merkleHarnessBytecode,
  });
  harness = (await clients.public.waitForTransactionReceipt({ hash })).contractAddress!;
});

afterAll(async () => {
  await anvil?.stop();
});

const randomTask = (index: number): TaskLeaf => ({
  index,
  state: 1 + randInt(3),
  inputHash: rand32(),
  outputHash: rand32(),
  verification: randInt(2) ? rand32() : `0x${'0'.repeat(64)}`,
});

const randomJob = (tasksRoot: Hex, tasks: number): JobLeaf => ({
  jobId: rand32(),
  specHash: rand32(),
  codeCid: rand32(),
  owner: `0x${randomBytes(20).toString('hex')}`,
  inputsRoot: rand32(),
  tasksRoot,
  tasks,
  state: 1 + randInt(3),
});

describe('anchoring: TypeScript and Solidity agree', () => {
  it('random trees built in TypeScript verify on-chain, and Solidity builds the same roots and proofs', async () => {
    const sizes = [
      1,
      2,
      3,
      4,
      5,
      7,
      8,
      9,
      16,
      17,
      31,
      33,
      ...Array.from({ length: 8 }, () => 1 + randInt(200)),
    ];
    for (const size of sizes) {
      const leaves = Array.from({ length: size }, () => merkleLeafHash(randomBytes(1 + randInt(80))));
      const tree = new MerkleTree(leaves);
      const leafHex = leaves.map(hex);
      const root = await clients.public.readContract({
        address: harness,
        abi: merkleHarnessAbi,
        functionName: 'rootOf',
        args: [leafHex],
      });
      expect(root, `root of ${size}`).toBe(hex(tree.root));
      for (const index of new Set([0, size - 1, randInt(size)])) {
        const tsProof = tree.proof(index).map(hex);
        // TypeScript's proof, checked by Solidity.
        const [ok, computed] = await clients.public.readContract({
          address: harness,
          abi: merkleHarnessAbi,
          functionName: 'rootFromProof',
          args: [leafHex[index]!, BigInt(index), BigInt(size), tsProof],
        });
        expect(ok && computed === hex(tree.root), `TS proof ${index}/${size} on-chain`).toBe(true);
        // Solidity's proof: the same path, and it verifies in TypeScript.
        const solProof = await clients.public.readContract({
          address: harness,
          abi: merkleHarnessAbi,
          functionName: 'proofOf',
          args: [leafHex, BigInt(index)],
        });
        expect(solProof).toEqual(tsProof);
        expect(rootOf(leaves[index]!, { index, size, proof: solProof })).toBe(hex(tree.root));
        // A wrong leaf fails on both sides.
        const other = merkleLeafHash(randomBytes(8));
        expect(rootOf(other, { index, size, proof: solProof })).not.toBe(hex(tree.root));
        const [, wrong] = await clients.public.readContract({
          address: harness,
          abi: merkleHarnessAbi,
          functionName: 'rootFromProof',
          args: [hex(other), BigInt(index), BigInt(size), tsProof],
        });
        expect(wrong).not.toBe(hex(tree.root));
      }
    }
  });

  it('job and task leaves hash alike on both sides', async () => {
    for (let i = 0; i < 20; i++) {
      const task = randomTask(randInt(2 ** 32));
      expect(
        await clients.public.readContract({
          address: registry,
          abi: monadMeshRegistryAbi,
          functionName: 'taskLeafHash',
          args: [task],
        }),
      ).toBe(hex(taskLeafHash(task)));
      const job = { ...randomJob(rand32(), 1 + randInt(2 ** 32 - 1)) };
      expect(
        await clients.public.readContract({
          address: registry,
          abi: monadMeshRegistryAbi,
          functionName: 'jobLeafHash',
          args: [job],
        }),
      ).toBe(hex(jobLeafHash(job)));
    }
  });

  it('a batch committed by the relayer proves every job and task on-chain; tampering and uncommitted roots fail', async () => {
    // Three jobs of random sizes, each with its task tree, in one batch.
    const jobs = Array.from({ length: 3 + randInt(10) }, () => {
      const tasks = Array.from({ length: 1 + randInt(40) }, (_, i) => randomTask(i));
      const tree = hexTree(tasks.map(taskLeafHash));
      return { tasks, tree, leaf: randomJob(tree.root, tasks.length) };
    });
    const batch = hexTree(jobs.map((j) => jobLeafHash(j.leaf)));
    const verifyTask = (root: Hex, j: number, t: number, task: TaskLeaf, jobLeaf = jobs[j]!.leaf) =>
      clients.public.readContract({
        address: registry,
        abi: monadMeshRegistryAbi,
        functionName: 'verifyTask',
        args: [root, jobLeaf, BigInt(j), batch.proof(j), task, jobs[j]!.tree.proof(t)],
      });
    expect(await verifyTask(batch.root, 0, 0, jobs[0]!.tasks[0]!)).toBe(false);

    const relayer = clients.wallet(RELAYER_KEY);
    const hash = await relayer.writeContract({
      address: registry,
      abi: monadMeshRegistryAbi,
      functionName: 'commitBatch',
      args: [batch.root, jobs.length],
    });
    const receipt = await clients.public.waitForTransactionReceipt({ hash });
    expect(receipt.status).toBe('success');
    const [event] = parseEventLogs({
      abi: monadMeshRegistryAbi,
      logs: receipt.logs,
      eventName: 'BatchCommitted',
    });
    expect(event?.args).toEqual({ root: batch.root, relayer: relayer.account.address, size: jobs.length });

    for (const [j, job] of jobs.entries()) {
      expect(
        await clients.public.readContract({
          address: registry,
          abi: monadMeshRegistryAbi,
          functionName: 'verifyJob',
          args: [batch.root, job.leaf, BigInt(j), batch.proof(j)],
        }),
      ).toBe(true);
      const t = randInt(job.tasks.length);
      const task = job.tasks[t]!;
      expect(await verifyTask(batch.root, j, t, task)).toBe(true);
      expect(await verifyTask(batch.root, j, t, { ...task, outputHash: rand32() })).toBe(false);
      expect(await verifyTask(batch.root, j, t, task, { ...job.leaf, owner: `0x${'11'.repeat(20)}` })).toBe(
        false,
      );
      expect(await verifyTask(rand32(), j, t, task)).toBe(false);
    }
    // The same root again is refused.
    await expect(
      relayer.writeContract({
        address: registry,
        abi: monadMeshRegistryAbi,
        functionName: 'commitBatch',
        args: [batch.root, jobs.length],
      }),
    ).rejects.toThrow(/DuplicateRoot/);
  });
});
