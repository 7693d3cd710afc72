import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes as nobleHexToBytes } from '@noble/hashes/utils.js';
import { encodePacked, type Hex, hexToBytes, isAddress, isHex } from 'viem';
import { z } from 'zod';
import { parseCid } from './cid.ts';
import type { JobState, JsonValue, TaskError, TaskState, VerificationPolicy } from './job.ts';
import { MerkleTree, merkleLeafHash, merkleRootFromProof } from './merkle.ts';
import { outcomeJson } from './receipt.ts';

/**
 * What anchoring commits on-chain, byte for byte as `contracts/src/MonadMeshRegistry.sol` hashes
 * it. A batch is an RFC 9162 Merkle tree (`merkle.ts`; SHA-256, the EVM's precompile 0x02) of job
 * leaves; a job leaf commits the root of its own tree of task leaves and of input leaves. Leaves
 * are fixed-length fields packed behind a one-byte tag, so no two kinds of leaf hash alike:
 *
 * - job: `'J' ‖ jobId ‖ specHash ‖ codeCid ‖ owner (20 bytes) ‖ inputsRoot ‖ tasksRoot ‖ tasks (u32) ‖ state (u8)`
 * - task: `'T' ‖ index (u32) ‖ state (u8) ‖ inputHash ‖ outputHash ‖ verification`
 * - input: `'I' ‖ index (u32) ‖ inputHash`
 *
 * where `jobId` is SHA-256 of the id's UTF-8, `codeCid` SHA-256 of the code CID's binary form,
 * `inputHash`/`outputHash` SHA-256 of the input's / accepted outcome's JSON text (the digests of a
 * receipt's `inputCid` / `outputHash`), and `verification` the task's `verificationDigest` (zero
 * when the job had no verification record for it).
 */

/** A 32-byte value as 0x-prefixed lower-case hex. */
export const Bytes32 = z
  .string()
  .regex(/^0x[0-9a-f]{64}$/, 'expected 32 bytes as 0x-prefixed lower-case hex')
  .transform((s) => s as Hex);
export type Bytes32 = Hex;

export const ZERO32 = `0x${'0'.repeat(64)}` as Hex;

/** `state` codes of leaves. */
export const leafStates = { succeeded: 1, failed: 2, cancelled: 3 } as const;

export const JobLeaf = z
  .object({
    jobId: Bytes32,
    specHash: Bytes32,
    codeCid: Bytes32,
    owner: z
      .string()
      .refine((a) => isAddress(a, { strict: false }), 'expected an address')
      .transform((a) => a.toLowerCase() as Hex),
    inputsRoot: Bytes32,
    tasksRoot: Bytes32,
    tasks: z.number().int().min(1).max(0xffff_ffff),
    state: z.number().int().min(1).max(3),
  })
  .meta({ id: 'AnchorJobLeaf' });
export type JobLeaf = z.infer<typeof JobLeaf>;

export const TaskLeaf = z
  .object({
    index: z.number().int().min(0).max(0xffff_ffff),
    state: z.number().int().min(1).max(3),
    inputHash: Bytes32,
    outputHash: Bytes32,
    verification: Bytes32,
  })
  .meta({ id: 'AnchorTaskLeaf' });
export type TaskLeaf = z.infer<typeof TaskLeaf>;

const utf8 = new TextEncoder();
const hex = (bytes: Uint8Array): Hex => `0x${bytesToHex(bytes)}`;

/** SHA-256 of a string's UTF-8, as 0x hex: `jobId`, and `inputHash`/`outputHash` of JSON texts. */
export function sha256Text(text: string): Hex {
  return hex(sha256(utf8.encode(text)));
}

/** `codeCid` of a leaf: SHA-256 of the CID's binary form (so any spelling of a CID hashes alike). */
export function cidLeafHash(cid: string): Hex {
  const parsed = parseCid(cid);
  if (!parsed) throw new TypeError(`not a CID: ${cid}`);
  return hex(sha256(parsed.bytes));
}

/** The RFC 9162 leaf hash of a job leaf (what `MonadMeshRegistry.jobLeafHash` returns). */
export function jobLeafHash(job: JobLeaf): Uint8Array {
  return merkleLeafHash(
    hexToBytes(
      encodePacked(
        ['bytes1', 'bytes32', 'bytes32', 'bytes32', 'address', 'bytes32', 'bytes32', 'uint32', 'uint8'],
        [
          '0x4a',
          job.jobId,
          job.specHash,
          job.codeCid,
          job.owner,
          job.inputsRoot,
          job.tasksRoot,
          job.tasks,
          job.state,
        ],
      ),
    ),
  );
}

/**
 * `abi.encodePacked(bytes1 tag, uint32 index, [uint8 state,] bytes32...)`, written directly: a
 * job's anchor packs two such leaves per task, and through viem's general `encodePacked` the task
 * leaves of a 10,000-task job took about 75 ms here, packed directly about 40. Checks what
 * `encodePacked` checks (`anchor.test.ts` compares them), so a bad leaf still throws.
 */
function packLeaf(tag: number, index: number, state: number | undefined, words: readonly Hex[]): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) {
    throw new RangeError(`leaf index ${index} is not a uint32`);
  }
  if (state !== undefined && (!Number.isInteger(state) || state < 0 || state > 0xff)) {
    throw new RangeError(`leaf state ${state} is not a uint8`);
  }
  const head = state === undefined ? 5 : 6;
  const out = new Uint8Array(head + 32 * words.length);
  out[0] = tag;
  new DataView(out.buffer).setUint32(1, index);
  if (state !== undefined) out[5] = state;
  words.forEach((word, i) => {
    if (word.length !== 66 || !word.startsWith('0x')) throw new RangeError(`${word} is not a bytes32`);
    out.set(nobleHexToBytes(word.slice(2)), head + 32 * i);
  });
  return out;
}

/** The RFC 9162 leaf hash of a task leaf (what `MonadMeshRegistry.taskLeafHash` returns). */
export function taskLeafHash(task: TaskLeaf): Uint8Array {
  return merkleLeafHash(
    packLeaf(0x54, task.index, task.state, [task.inputHash, task.outputHash, task.verification]),
  );
}

/** The RFC 9162 leaf hash of input `index`, whose JSON text hashes to `inputHash`. */
export function inputLeafHash(index: number, inputHash: Hex): Uint8Array {
  return merkleLeafHash(packLeaf(0x49, index, undefined, [inputHash]));
}

/** The root of a job's input tree, from its inputs' JSON texts in input order. */
export function inputsRoot(inputTexts: readonly string[]): Hex {
  return inputsRootOfHashes(inputTexts.map(sha256Text));
}

/** `inputsRoot` from the inputs' hashes (`sha256Text` of each JSON text), in input order. */
export function inputsRootOfHashes(inputHashes: readonly Hex[]): Hex {
  return hex(new MerkleTree(inputHashes.map((h, i) => inputLeafHash(i, h))).root);
}

/**
 * A job's spec hash: SHA-256 of the UTF-8 JSON array `["monadmesh-spec-v1", runtime, codeCid,
 * inputsRoot, tasks, timeoutMs, maxAttempts, memoryMb, policy kind, redundancy or trust]`. It names
 * what was asked (code, inputs, limits, verification), not who asked or when, so a submitter can
 * compute it before submitting (the spec with the API's defaults filled in, as `JobSpec` parses
 * it) and register it from their wallet; the anchored job leaf carries it. `inputsRoot` is
 * `inputsRoot(input JSON texts)` and `tasks` the number of inputs.
 */
export function jobSpecHash(spec: {
  runtime: string;
  codeCid: string;
  inputsRoot: Hex;
  tasks: number;
  timeoutMs: number;
  maxAttempts: number;
  memoryMb: number;
  policy: VerificationPolicy;
}): Hex {
  const policy = spec.policy.kind === 'fixed' ? spec.policy.redundancy : spec.policy.trust;
  return sha256Text(
    JSON.stringify([
      'monadmesh-spec-v1',
      spec.runtime,
      parseCid(spec.codeCid)?.toString() ?? spec.codeCid,
      spec.inputsRoot,
      spec.tasks,
      spec.timeoutMs,
      spec.maxAttempts,
      spec.memoryMb,
      spec.policy.kind,
      policy,
    ]),
  );
}

/** A leaf's state code for a job's final state (`running` is never anchored). */
export function jobLeafState(state: JobState): number {
  if (state === 'running') throw new RangeError('a running job is not anchored');
  return leafStates[state];
}

/** A leaf's state code for a task of a finished job (one never decided counts as cancelled). */
export function taskLeafState(state: TaskState): number {
  return state === 'succeeded'
    ? leafStates.succeeded
    : state === 'failed'
      ? leafStates.failed
      : leafStates.cancelled;
}

/**
 * The accepted outcome's hash, as a task result shows it: the output's JSON text hashed when there
 * is an output, else the error's (in `outcomeJson`'s key order), else zero. Re-serialised from the
 * parsed value, so anyone holding the result (`GET /jobs/:id/results`) hashes the same bytes.
 */
export function outcomeLeafHash(result: {
  output?: JsonValue | undefined;
  error?: TaskError | undefined;
}): Hex {
  if (result.output !== undefined) return sha256Text(outcomeJson({ ok: true, output: result.output }));
  if (result.error !== undefined) return sha256Text(outcomeJson({ ok: false, error: result.error }));
  return ZERO32;
}

/** A verification digest (hex, no prefix) as a leaf's bytes32, or zero when there is none. */
export function verificationLeaf(digest: string | undefined): Hex {
  if (digest === undefined) return ZERO32;
  const value = `0x${digest.toLowerCase()}`;
  if (!isHex(value) || value.length !== 66) throw new TypeError(`not a SHA-256 digest: ${digest}`);
  return value;
}

/** A proof's sibling hashes as 0x hex, nearest first. */
export const MerkleProof = z.array(Bytes32).max(64);

/** Where a leaf sits in its tree: index, the tree's size, and the audit path. */
export interface Inclusion {
  index: number;
  size: number;
  proof: readonly Hex[];
}

/** The root `inclusion` leads to from `leafHash`, or undefined when the path does not fit. */
export function rootOf(leafHash: Uint8Array, inclusion: Inclusion): Hex | undefined {
  const root = merkleRootFromProof(
    leafHash,
    inclusion.index,
    inclusion.size,
    inclusion.proof.map((p) => hexToBytes(p)),
  );
  return root && hex(root);
}

/** A Merkle tree's root and proofs as 0x hex. */
export function hexTree(leafHashes: Uint8Array[]): { root: Hex; proof(index: number): Hex[] } {
  const tree = new MerkleTree(leafHashes);
  return { root: hex(tree.root), proof: (index) => tree.proof(index).map(hex) };
}

const Address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'expected an address')
  .transform((a) => a.toLowerCase() as Hex);

/** `GET /jobs/:id/proof` of an anchored job: everything needed to check it against the chain. */
export const JobProof = z
  .object({
    jobId: z.string(),
    anchored: z.literal(true),
    chain: z.object({
      id: z.number().int(),
      name: z.string(),
      /** The `MonadMeshRegistry` the batch root was committed to. */
      registry: Address,
    }),
    batch: z.object({
      root: Bytes32,
      /** How many job leaves the batch has (the registry keeps it with the root). */
      size: z.number().int().positive(),
      txHash: Bytes32,
      blockNumber: z.number().int().nonnegative(),
      anchoredAt: z.number().int(),
      /** The transaction on the configured block explorer, when there is one. */
      txUrl: z.string().optional(),
    }),
    job: z.object({
      leaf: JobLeaf,
      leafHash: Bytes32,
      index: z.number().int().nonnegative(),
      proof: MerkleProof,
    }),
    /** With `?task=N`: task N's leaf, and its path to the job leaf's `tasksRoot`. */
    task: z.object({ leaf: TaskLeaf, leafHash: Bytes32, proof: MerkleProof }).optional(),
  })
  .meta({ id: 'JobProof' });
export type JobProof = z.infer<typeof JobProof>;

/** `GET /jobs/:id/proof` of a job not anchored yet: why, and when it should be. */
export const AnchorPending = z
  .object({
    jobId: z.string(),
    anchored: z.literal(false),
    /** `running`: anchored after it finishes; `queued`: waits for the next batch; `sending`: its batch's transaction is out. */
    state: z.enum(['running', 'queued', 'sending']),
    message: z.string(),
    /** When the next anchoring run is due (ms since the epoch), if known. */
    expectedBy: z.number().int().optional(),
  })
  .meta({ id: 'AnchorPending' });
export type AnchorPending = z.infer<typeof AnchorPending>;

/** Anchoring's state, as `GET /health` reports it. */
export const AnchorHealth = z
  .object({
    /** Whether the chain settings are complete (else jobs wait, queued, until they are). */
    configured: z.boolean(),
    /** What is missing or invalid when not configured. */
    problem: z.string().optional(),
    chainId: z.number().int().optional(),
    registry: z.string().optional(),
    relayer: z.string().optional(),
    /** Finished jobs waiting for a batch, over all outbox shards. */
    queued: z.number().int(),
    /** Batches prepared or sent and not yet seen on-chain. */
    inFlight: z.number().int(),
    anchoredBatches: z.number().int(),
    lastAnchoredAt: z.number().int().optional(),
    /** The latest failure, while it lasts (cleared by the next success), and when it is retried. */
    lastError: z.string().optional(),
    lastErrorAt: z.number().int().optional(),
    retryAt: z.number().int().optional(),
  })
  .meta({ id: 'AnchorHealth' });
export type AnchorHealth = z.infer<typeof AnchorHealth>;
