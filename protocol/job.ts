import { z } from 'zod';
import { Cid, parseIpfsUrl } from './cid.ts';
import { Groth16Proof } from './circuit.ts';
import { jobDefaults, limits } from './limits.ts';
import { TaskReceipt } from './receipt.ts';

/** Every runtime the platform knows. */
export const Runtime = z.enum(['js', 'wasm', 'python', 'circom']);
export type Runtime = z.infer<typeof Runtime>;

/** Runtimes a node can run today; the API refuses the others with `runtime_unavailable`. */
export const availableRuntimes: readonly Runtime[] = ['js', 'wasm', 'python', 'circom'];

const utf8 = new TextEncoder();
const byteLength = (s: string) => utf8.encode(s).byteLength;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Nesting deeper than this is refused: it would only serve to blow stacks on the way through. */
export const MAX_JSON_DEPTH = 64;

/** True for values that survive a JSON round trip unchanged (finite numbers, plain objects, arrays). */
export function isJsonValue(value: unknown, depth = 0): value is JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (depth >= MAX_JSON_DEPTH || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.every((v) => isJsonValue(v, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every((v) => isJsonValue(v, depth + 1));
}

/**
 * Any JSON value, as an input or an output of a task. A predicate rather than a recursive zod
 * schema: it is checked for every one of up to 100,000 inputs, and OpenAPI generators cannot
 * follow recursive schemas.
 */
export const JsonValue = z
  .custom<JsonValue>((v) => isJsonValue(v), {
    message: `not a JSON value (or nested deeper than ${MAX_JSON_DEPTH})`,
  })
  .meta({ description: 'any JSON value', type: ['object', 'array', 'string', 'number', 'boolean', 'null'] });

/**
 * What a user submits. Code is inline `source` or a `codeCid` from `PUT /blobs` (always a `codeCid`
 * for `wasm`: a module is binary); inputs are an inline array or an `inputsCid` whose blob holds a
 * JSON array or JSON lines.
 *
 * An input that is a string starting with `ipfs://` names a content-addressed blob instead of
 * holding the value: `ipfs://<CID>`, a CIDv1 with sha2-256 and codec raw (a blob of at most 1 MiB)
 * or dag-pb (the UnixFS root of a chunked blob, see `blob-dag.ts`), uploaded block by block with
 * `PUT /api/v1/blobs/{cid}` (the client's `putBlob`). The API refuses the job unless every such
 * root is stored (so a stored root is a complete DAG and no task waits on a blob nobody has); the
 * node that runs the task fetches the DAG (from peers, else the origin), checks every block's
 * hash, and parses the bytes as UTF-8 JSON: that JSON value is the task's input. Any other input,
 * including a string with another prefix, is passed as it is.
 */
export const JobSpec = z
  .strictObject({
    runtime: Runtime,
    source: z
      .string()
      .min(1)
      .refine((s) => byteLength(s) <= limits.maxSourceBytes, {
        message: `source is larger than ${limits.maxSourceBytes} bytes; upload it with PUT /api/v1/blobs and pass codeCid`,
      })
      .optional(),
    codeCid: Cid.optional(),
    inputs: z
      .array(JsonValue)
      .min(1, 'a job needs at least one input')
      .max(limits.maxInputs, `a job takes at most ${limits.maxInputs} inputs`)
      .optional(),
    inputsCid: Cid.optional(),
    timeoutMs: z.number().int().min(10).max(300_000).default(jobDefaults.timeoutMs),
    maxAttempts: z.number().int().min(1).max(10).default(jobDefaults.maxAttempts),
    memoryMb: z.number().int().min(16).max(1024).default(jobDefaults.memoryMb),
    /**
     * Run each task on this many distinct identities (wallets; an unlinked node is its own) and
     * accept an answer only when that many agree and no other answer has as many. `1` accepts the
     * first node's answer unverified. Overrides `trust`.
     */
    redundancy: z.number().int().min(1).max(5).optional(),
    /**
     * Target confidence of the adaptive policy (default ${jobDefaults.trust}): replicas are added until the
     * identities that agree on an answer, weighted by what each has earned, reach it.
     */
    trust: z.number().min(0.9).max(0.9999).optional(),
    label: z.string().max(200).optional(),
  })
  .superRefine((spec, ctx) => {
    if ((spec.source === undefined) === (spec.codeCid === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['source'], message: 'give exactly one of source or codeCid' });
    } else if (spec.runtime === 'wasm' && spec.source !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['source'],
        message:
          'a wasm job runs a compiled module, which is binary: upload the .wasm file with PUT /api/v1/blobs and pass its cid as codeCid',
      });
    }
    if ((spec.inputs === undefined) === (spec.inputsCid === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['inputs'], message: 'give exactly one of inputs or inputsCid' });
    }
    spec.inputs?.forEach((input, i) => {
      const ref = parseIpfsUrl(input);
      if (ref && 'problem' in ref) {
        ctx.addIssue({
          code: 'custom',
          path: ['inputs', i],
          message: `input ${i} starts with ipfs:// but is not ipfs://<CIDv1, sha2-256, raw or dag-pb>: ${ref.problem}`,
        });
      }
      const size = byteLength(JSON.stringify(input));
      if (size > limits.maxInputBytes) {
        ctx.addIssue({
          code: 'custom',
          path: ['inputs', i],
          message: `input ${i} is ${size} bytes as JSON; the limit is ${limits.maxInputBytes}`,
        });
      }
    });
  })
  .meta({ id: 'JobSpec' });
export type JobSpec = z.infer<typeof JobSpec>;
export type JobSpecInput = z.input<typeof JobSpec>;

/** Lifecycle of one task (one input). `leased` means a node holds it and is running it. */
export const TaskState = z.enum(['pending', 'leased', 'succeeded', 'failed', 'cancelled']);
export type TaskState = z.infer<typeof TaskState>;

/** `failed` means finished with at least one failed task; results of the others are kept. */
export const JobState = z.enum(['running', 'succeeded', 'failed', 'cancelled']);
export type JobState = z.infer<typeof JobState>;

export const TaskCounts = z.object({
  pending: z.number().int(),
  leased: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
});
export type TaskCounts = z.infer<typeof TaskCounts>;

/** Why a node says a task failed. `user_error`, `timeout`, `memory_limit` and `output_invalid` are
 * properties of the code and input (final once verified, see `redundancy`); `lease_expired` and
 * `node_error` are the node's own trouble, and retried. */
export const NodeErrorKind = z.enum([
  'user_error',
  'timeout',
  'memory_limit',
  'output_invalid',
  'lease_expired',
  'node_error',
]);
export type NodeErrorKind = z.infer<typeof NodeErrorKind>;

/** Why a task failed: what a node said, or `inconsistent` (replicas never reached a quorum). */
export const TaskErrorKind = z.enum([...NodeErrorKind.options, 'inconsistent']);
export type TaskErrorKind = z.infer<typeof TaskErrorKind>;

const errorFields = {
  message: z.string().max(4096),
  stack: z.string().max(16_384).optional(),
};
export const TaskError = z.object({ kind: TaskErrorKind, ...errorFields });
export type TaskError = z.infer<typeof TaskError>;
/** A failure as a node reports it (a node cannot call a task `inconsistent`). */
export const NodeTaskError = z.object({ kind: NodeErrorKind, ...errorFields });
export type NodeTaskError = z.infer<typeof NodeTaskError>;

/** How results are verified: `fixed` (the job's `redundancy`) or `adaptive` (its `trust`). */
export const VerificationPolicy = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fixed'), redundancy: z.number().int().min(1).max(5) }),
  z.object({ kind: z.literal('adaptive'), trust: z.number() }),
]);
export type VerificationPolicy = z.infer<typeof VerificationPolicy>;

/** One identity's answer to a task, as verification weighed it. */
export const Replica = z.object({
  /** The identity that voted: `wallet:<address>` for a linked node, `peer:<peerId>` otherwise. */
  identity: z.string(),
  nodeId: z.string(),
  peerId: z.string(),
  /** What it answered: the output's CID, or `error:<kind>` for a failure. */
  answer: z.string(),
  /** Its credibility when it answered (1 for a node of the job owner's own wallet). */
  credibility: z.number(),
  /** Its answer is the accepted one. */
  agreed: z.boolean().optional(),
  /** Its signed receipt. */
  receipt: TaskReceipt.optional(),
});
export type Replica = z.infer<typeof Replica>;

/**
 * How a task's result was verified: by whom, how sure, and how. `how`: `proven` (a `circom` task
 * whose Groth16 proof verified against the job's key, with the task's input in its public signals:
 * no replicas needed; replicas that sent a proof that failed are listed with the answer
 * `proof-rejected`), `quorum` (replicas of
 * distinct identities agreed), `trusted` (a node of the owner's own wallet), `credible` (one
 * identity whose record reaches the target, not spot-checked this time), `unverified`
 * (`redundancy: 1`), `inconsistent` (no quorum within the bound). `digest`: SHA-256 (hex) of the
 * task's verification record (`verificationDigest`), what anchoring commits.
 */
export const TaskVerification = z
  .object({
    policy: VerificationPolicy,
    how: z.enum(['proven', 'quorum', 'trusted', 'credible', 'unverified', 'inconsistent']),
    confidence: z.number(),
    /** A trusted identity's result was checked by another identity this time. */
    spotCheck: z.boolean().optional(),
    /**
     * Verified again: it was first accepted on one credible identity's word, that identity was
     * later caught answering wrong, and the task went back to be checked by others.
     */
    reverified: z.boolean().optional(),
    fingerprintClass: z.string().optional(),
    replicas: z.array(Replica),
    digest: z.string(),
  })
  .meta({ id: 'TaskVerification' });
export type TaskVerification = z.infer<typeof TaskVerification>;

export const retryableErrors: ReadonlySet<TaskErrorKind> = new Set(['lease_expired', 'node_error']);

/** Status of a job as returned by `GET /jobs/:id` and in snapshots. */
export const JobStatus = z
  .object({
    id: z.string(),
    owner: z.string(),
    state: JobState,
    runtime: Runtime,
    label: z.string().optional(),
    codeCid: Cid,
    total: z.number().int(),
    counts: TaskCounts,
    timeoutMs: z.number().int(),
    maxAttempts: z.number().int(),
    memoryMb: z.number().int(),
    verification: VerificationPolicy.optional(),
    createdAt: z.number().int(),
    finishedAt: z.number().int().optional(),
    /** Why pending tasks are not running yet, when some are pending. */
    waiting: z.string().optional(),
  })
  .meta({ id: 'JobStatus' });
export type JobStatus = z.infer<typeof JobStatus>;

/** One task in `GET /jobs/:id/results`, in input order. */
export const TaskResult = z
  .object({
    index: z.number().int(),
    state: TaskState,
    output: JsonValue.optional(),
    error: TaskError.optional(),
    /** Runs that counted: finished ones, and lost leases of established nodes (see `maxAttempts`). */
    attempts: z.number().int(),
    /** Leases of it lost without a result (returned to the queue without counting as attempts). */
    lost: z.number().int().optional(),
    nodeId: z.string().optional(),
    durationMs: z.number().optional(),
    logs: z.string().optional(),
    /** The node's signed receipt for this result, checked by the room (see `TaskReceipt`). */
    receipt: TaskReceipt.optional(),
    /** How the result was verified, with every replica (final tasks of verified jobs). */
    verification: TaskVerification.optional(),
    /** For pending tasks: why it is waiting. */
    waiting: z.string().optional(),
    /**
     * A proven (`circom`) task's Groth16 proof of its output (the public signals), checked by the
     * room against the job's verification key. Proofs are malleable: never use one as a key.
     */
    proof: Groth16Proof.optional(),
  })
  .meta({ id: 'TaskResult' });
export type TaskResult = z.infer<typeof TaskResult>;

export const ResultsPage = z
  .object({
    jobId: z.string(),
    state: JobState,
    total: z.number().int(),
    results: z.array(TaskResult),
    /** Pass as `cursor` for the next page; absent on the last page. */
    nextCursor: z.number().int().optional(),
  })
  .meta({ id: 'ResultsPage' });
export type ResultsPage = z.infer<typeof ResultsPage>;

export const JobSummary = z
  .object({
    id: z.string(),
    runtime: Runtime,
    label: z.string().optional(),
    total: z.number().int(),
    state: JobState,
    createdAt: z.number().int(),
  })
  .meta({ id: 'JobSummary' });
export type JobSummary = z.infer<typeof JobSummary>;

export const JobCreated = z
  .object({
    id: z.string(),
    state: JobState,
    total: z.number().int(),
    codeCid: Cid,
    links: z.object({ self: z.string(), results: z.string(), events: z.string(), cancel: z.string() }),
    /** With `?wait`: the counts when the response was made (the job finished, or the wait ran out). */
    counts: TaskCounts.optional(),
    /** With `?wait`, when the job finished within it: its first results in input order. */
    results: z.array(TaskResult).optional(),
    /** Pass as `cursor` to `GET /jobs/:id/results` for the rest; absent when `results` is all. */
    nextCursor: z.number().int().optional(),
  })
  .meta({ id: 'JobCreated' });
export type JobCreated = z.infer<typeof JobCreated>;
