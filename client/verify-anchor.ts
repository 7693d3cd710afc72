import { bytesToHex, type Hex, type PublicClient, parseEventLogs } from 'viem';
import { monadMeshRegistryAbi } from '../contracts/abi.ts';
import {
  cidLeafHash,
  type JobProof,
  jobLeafHash,
  jobLeafState,
  outcomeLeafHash,
  rootOf,
  sha256Text,
  taskLeafHash,
  taskLeafState,
  verificationLeaf,
} from '../protocol/anchor.ts';
import { parseCid, verifyCid } from '../protocol/cid.ts';
import {
  CircuitManifest,
  groth16Calldata,
  inputCidOf,
  type JobStatus,
  type JsonValue,
  outputBindsInput,
  type TaskResult,
} from '../protocol/index.ts';

/** One check of `verifyAnchor`: what was compared, and how it came out. */
export interface AnchorCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface AnchorReport {
  /** Every check passed: the job (and task) is committed on-chain exactly as the data says. */
  ok: boolean;
  checks: AnchorCheck[];
  /**
   * The block at which the job's owner registered its spec hash on the registry, if they did so
   * no later than the batch's block (a registration made after the job was anchored is not a link).
   */
  specRegisteredAt?: bigint;
}

/**
 * Check a job's anchor against the chain, trusting the API for nothing but the data it returned:
 * every hash is recomputed here from the job's status and the task's result, every Merkle path is
 * walked here, and the chain is asked (through `client`, an RPC of the caller's choice) whether
 * the registry holds the root and agrees with the proofs. Pass `registry` to pin the contract
 * instead of taking the address the proof names.
 *
 * @example
 * const proof = await job.proof({ task: 3 });
 * if (proof.anchored) {
 *   const report = await verifyAnchor({ proof, status: await job.status(), result, client: publicClient });
 *   console.log(report.ok, report.checks);
 * }
 */
export async function verifyAnchor(options: {
  proof: JobProof;
  status: JobStatus;
  /** The result of the proof's task (`proof.task`), to recompute its leaf from (required with one). */
  result?: TaskResult;
  /** The task asked for: the proof's task leaf must be this one. */
  task?: number;
  /** The spec hash you computed yourself (`specHashOf`), to check against the job leaf's. */
  specHash?: Hex;
  client: PublicClient;
  /** The registry you know; without it, the one the proof names is used (and checked on-chain only). */
  registry?: Hex;
  /**
   * A proven job's circuit manifest (the bytes of the blob `status.codeCid`), to check the task's
   * Groth16 proof on-chain too (`MonadMeshRegistry.verifyProof`, an `eth_call`): its CID is the
   * job leaf's code, its verification key is the circuit's, and the proof must prove the task's
   * anchored output (the public signals) under it.
   */
  manifest?: Uint8Array;
  /**
   * The task's input, as you gave it: checked against the input hash the task leaf commits and,
   * for a proven task, against the public signals its proof is of (so the proof is about this
   * input). Without it the proof is checked for the anchored signals only.
   */
  input?: JsonValue;
}): Promise<AnchorReport> {
  const { proof, status, result, client } = options;
  const checks: AnchorCheck[] = [];
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    return ok;
  };
  const leaf = proof.job.leaf;
  const registry = (options.registry ?? proof.chain.registry).toLowerCase() as Hex;

  // 1. The job leaf says what the job's status says.
  check('job id', leaf.jobId === sha256Text(status.id), `SHA-256 of "${status.id}"`);
  const code = parseCid(status.codeCid);
  check(
    'code',
    code !== undefined && leaf.codeCid === cidLeafHash(status.codeCid),
    `code CID ${status.codeCid}`,
  );
  check('owner', leaf.owner === status.owner.toLowerCase(), `owner ${status.owner}`);
  check('tasks', leaf.tasks === status.total, `${status.total} tasks`);
  check(
    'state',
    status.state !== 'running' && leaf.state === jobLeafState(status.state),
    `job ${status.state}`,
  );
  check(
    'registry',
    registry === proof.chain.registry.toLowerCase(),
    options.registry
      ? `registry ${registry} (pinned)`
      : `registry ${registry} (as the proof names it; pin it to trust it)`,
  );
  if (options.specHash) {
    check('spec hash', leaf.specHash === options.specHash.toLowerCase(), `spec hash ${options.specHash}`);
  }

  // 2. The leaf hashes to what the proof says, and its path leads to the batch root.
  const leafHash = bytesToHex(jobLeafHash(leaf));
  check('job leaf hash', leafHash === proof.job.leafHash, leafHash);
  const root = rootOf(jobLeafHash(leaf), {
    index: proof.job.index,
    size: proof.batch.size,
    proof: proof.job.proof,
  });
  check(
    'job path',
    root === proof.batch.root,
    `leaf ${proof.job.index} of ${proof.batch.size} leads to ${root ?? 'nothing (the path does not fit)'}`,
  );

  // 3. The task leaf, when asked: recomputed from the result, and its path to the tasks root.
  if (options.task !== undefined) {
    check('task asked for', proof.task?.leaf.index === options.task, `task ${options.task}`);
  }
  if (proof.task) {
    const t = proof.task.leaf;
    check(
      'task result',
      result !== undefined,
      result ? `result of task ${result.index}` : 'no result to recompute the task leaf from',
    );
    if (result) {
      check('task index', t.index === result.index, `task ${result.index}`);
      check('task state', t.state === taskLeafState(result.state), `task ${result.state}`);
      check(
        'task output',
        t.outputHash === outcomeLeafHash(result),
        'SHA-256 of the output (or error) as JSON',
      );
      check(
        'task verification',
        t.verification === verificationLeaf(result.verification?.digest),
        result.verification ? `digest ${result.verification.digest}` : 'no verification record',
      );
      if (options.input !== undefined) {
        const given = parseCid(await inputCidOf(options.input));
        check(
          'task input value',
          given !== undefined && t.inputHash === bytesToHex(given.multihash.digest),
          'SHA-256 of the input you gave, as JSON',
        );
      }
      const inputCid = result.receipt && parseCid(result.receipt.inputCid);
      if (inputCid) {
        check(
          'task input',
          t.inputHash === bytesToHex(inputCid.multihash.digest),
          `input ${result.receipt!.inputCid}`,
        );
      }
    }
    const tasksRoot = rootOf(taskLeafHash(t), { index: t.index, size: leaf.tasks, proof: proof.task.proof });
    check(
      'task path',
      tasksRoot === leaf.tasksRoot,
      `task ${t.index} of ${leaf.tasks} leads to ${tasksRoot ?? 'nothing'}`,
    );
  }

  // 4. The chain: the registry holds the root (with this size), agrees with the proofs, and the
  // transaction committed it.
  try {
    const chainId = await client.getChainId();
    check(
      'chain',
      chainId === proof.chain.id,
      `the RPC serves chain ${chainId}; the proof names ${proof.chain.id}`,
    );
    const [blockNumber, , size] = await client.readContract({
      address: registry,
      abi: monadMeshRegistryAbi,
      functionName: 'batch',
      args: [proof.batch.root],
    });
    check(
      'root on-chain',
      size > 0 && size === proof.batch.size && blockNumber === BigInt(proof.batch.blockNumber),
      size > 0 ? `committed in block ${blockNumber} with ${size} leaves` : 'this root was never committed',
    );
    const jobOnChain = await client.readContract({
      address: registry,
      abi: monadMeshRegistryAbi,
      functionName: 'verifyJob',
      args: [proof.batch.root, leaf, BigInt(proof.job.index), proof.job.proof],
    });
    check('job on-chain', jobOnChain, 'MonadMeshRegistry.verifyJob');
    if (proof.task) {
      const taskOnChain = await client.readContract({
        address: registry,
        abi: monadMeshRegistryAbi,
        functionName: 'verifyTask',
        args: [
          proof.batch.root,
          leaf,
          BigInt(proof.job.index),
          proof.job.proof,
          proof.task.leaf,
          proof.task.proof,
        ],
      });
      check('task on-chain', taskOnChain, 'MonadMeshRegistry.verifyTask');
    }
    // A proven task (its record, committed by the leaf's verification digest, says so) is checked
    // with its proof: without the manifest that check fails rather than being left out.
    const proven = result?.verification?.how === 'proven' || result?.proof !== undefined;
    if (options.manifest) {
      await checkProofOnChain(options.manifest, status, result, options.input, client, registry, check);
    } else if (proven) {
      check('proof on-chain', false, "a proven task: pass the job's circuit manifest to check its proof");
    }
    const receipt = await client.getTransactionReceipt({ hash: proof.batch.txHash }).catch(() => undefined);
    const events = receipt
      ? parseEventLogs({ abi: monadMeshRegistryAbi, logs: receipt.logs, eventName: 'BatchCommitted' }).filter(
          (e) => e.address.toLowerCase() === registry && e.args.root === proof.batch.root,
        )
      : [];
    check(
      'transaction',
      events.length === 1 && receipt?.blockNumber === BigInt(proof.batch.blockNumber),
      receipt
        ? `${proof.batch.txHash} in block ${receipt.blockNumber}`
        : `no transaction ${proof.batch.txHash}`,
    );
    const registered = await client.readContract({
      address: registry,
      abi: monadMeshRegistryAbi,
      functionName: 'specRegisteredAt',
      args: [leaf.owner, leaf.specHash],
    });
    const report: AnchorReport = { ok: checks.every((c) => c.ok), checks };
    if (registered > 0n && registered <= blockNumber) report.specRegisteredAt = registered;
    return report;
  } catch (error) {
    check('chain', false, `reading the chain failed: ${(error as Error).message.split('\n')[0]}`);
    return { ok: false, checks };
  }
}

/**
 * A proven task's proof, checked by the registry: the manifest is the job's code (its CID is the
 * one the job leaf commits), and its key verifies the result's proof of the result's output, the
 * public signals whose hash the task leaf commits.
 */
async function checkProofOnChain(
  manifest: Uint8Array,
  status: JobStatus,
  result: TaskResult | undefined,
  input: JsonValue | undefined,
  client: PublicClient,
  registry: Hex,
  check: (name: string, ok: boolean, detail: string) => boolean,
): Promise<void> {
  if (!check('circuit', status.runtime === 'circom', `runtime ${status.runtime}`)) return;
  const ofCode = await verifyCid(status.codeCid, manifest);
  if (
    !check(
      'circuit manifest',
      ofCode,
      ofCode ? `the blob ${status.codeCid}` : "these bytes are not the job's code",
    )
  ) {
    return;
  }
  let decoded: CircuitManifest;
  try {
    decoded = CircuitManifest.parse(JSON.parse(new TextDecoder().decode(manifest)));
  } catch (error) {
    check('circuit manifest', false, `not a circuit manifest: ${(error as Error).message.split('\n')[0]}`);
    return;
  }
  const proof = result?.proof;
  const signals = result?.output;
  if (
    !check(
      'task proof',
      proof !== undefined && Array.isArray(signals) && signals.every((s) => typeof s === 'string'),
      proof ? 'the result has a proof and its public signals' : 'the result has no proof (not a proven task)',
    )
  ) {
    return;
  }
  if (input !== undefined) {
    const unbound = outputBindsInput(decoded, input, signals);
    check(
      'proof of the input',
      unbound === undefined,
      unbound ?? "the public signals end with the task's input",
    );
  }
  let args: ReturnType<typeof groth16Calldata>;
  try {
    args = groth16Calldata(decoded.verificationKey, proof!, signals as string[]);
  } catch (error) {
    check('proof on-chain', false, (error as Error).message);
    return;
  }
  const verified = await client.readContract({
    address: registry,
    abi: monadMeshRegistryAbi,
    functionName: 'verifyProof',
    args: [args.vk, args.proof, args.publicSignals],
  });
  check(
    'proof on-chain',
    verified,
    `MonadMeshRegistry.verifyProof: ${verified ? 'the Groth16 proof verifies' : 'the proof does NOT verify'} under ${decoded.name ?? 'the circuit'}'s key (${args.publicSignals.length} public signals)`,
  );
}
