import type { JobLeaf, TaskLeaf } from '../protocol/anchor.ts';
import type {
  AccountWork,
  ApiKeyInfo,
  CircuitClaim,
  JobState,
  JobStatus,
  JobSummary,
  LeasedTask,
  NodeInfo,
  PeerHint,
  ResultsPage,
  Runtime,
  TaskOutcome,
  TaskReceipt,
  VerificationPolicy,
} from '../protocol/index.ts';

/**
 * The RPC contracts of our Durable Objects, types only: each class `implements` its contract and
 * `stubs.ts` hands out stubs typed by it, so no object imports another's class (and nothing
 * imports in a circle). A method may answer synchronously in the class; through a stub every
 * answer is a promise (`Remote`).
 */

type Awaitable<T> = T | Promise<T>;

/** A contract as seen through a stub: every method returns a promise, plus `fetch`. */
export type Remote<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
} & { fetch(request: Request): Promise<Response> };

/** The bindings the objects use to reach each other, and the vars they read. */
export interface DoEnv {
  JOB_ROOM: DurableObjectNamespace;
  MESH_HUB: DurableObjectNamespace;
  NODE_MAP: DurableObjectNamespace;
  ACCOUNT: DurableObjectNamespace;
  NONCES: DurableObjectNamespace;
  /** How many MeshHub shards nodes are spread over (`wrangler.toml` `[vars]`); at least 1. */
  HUB_SHARDS?: string;
  /** How many NodeMap replicas serve node-map watchers; at least 1. */
  NODE_MAP_REPLICAS?: string;
  CHAIN_OUTBOX: DurableObjectNamespace;
  /** How many ChainOutbox shards finished jobs are spread over (by job id); at least 1. */
  ANCHOR_SHARDS?: string;
  /** Most job leaves in one anchored batch (default 256). */
  ANCHOR_BATCH_MAX?: string;
  /** Tests only: `crash-after-send` makes an outbox drop itself right after sending a batch. */
  ANCHOR_FAULT?: string;
}

// ---- JobRoom -----------------------------------------------------------------------------------

/** What the Worker hands a new room: the validated spec with code already stored as a blob. */
export interface JobInit {
  id: string;
  owner: string;
  runtime: Runtime;
  codeCid: string;
  timeoutMs: number;
  maxAttempts: number;
  memoryMb: number;
  /** How its results are verified (from `redundancy` or `trust`). */
  policy: VerificationPolicy;
  label?: string;
  /** Inputs serialized as JSON, one per task, in input order. */
  inputs: string[];
  /** A `circom` job's key and public inputs: its results are accepted on a valid proof. */
  circuit?: CircuitClaim;
}

/** A hub asks a room for work for one node. */
export interface LeaseRequest {
  nodeId: string;
  /** At most this many tasks. */
  max: number;
  /**
   * The node has an established record (see the hub's admission): a lease it loses counts
   * towards its task's attempts. Leases of new nodes that are lost never do.
   */
  established: boolean;
  /** Who the node votes as, for verified jobs. */
  voter: Voter;
}

/**
 * A node as verification sees it: the identity it votes as (`wallet:<address>` when linked, else
 * `peer:<peerId>`: every node of one wallet gives one vote per task), its fingerprint class (replicas of
 * JS and Python are compared only within one class), and its record (agreements since its last
 * mismatch, from the hub's standing).
 */
export interface Voter {
  identity: string;
  peerId: string;
  /** The linked wallet (lowercase), when there is one. */
  wallet?: string;
  fingerprintClass?: string;
  streak: number;
}

/** What verification made of a node's answers: agreements and mismatches with accepted results. */
export interface Verdict {
  nodeId: string;
  agreed: number;
  disagreed: number;
  /** Of these, known-answer checks passed and failed. */
  knownPassed?: number;
  knownFailed?: number;
}

export interface LeaseResult {
  /** The tasks leased to each request, in the order of the requests. */
  leases: LeasedTask[][];
  /** True while the job has tasks that can be leased right now. */
  more: boolean;
}

/** One result as the hub passes it on: the outcome and its receipt, whose batch signature the hub checked. */
export interface SignedOutcome {
  outcome: TaskOutcome;
  receipt: TaskReceipt;
}

export interface ReportResult {
  accepted: number;
  /**
   * Ignored results, by what they say of the node: `rejected` ones came for a lease it held but
   * with a receipt that does not match what the room knows; `late` ones for a lease it no longer
   * held (expired, returned, cancelled, finished, or never its own).
   */
  rejected: number;
  late: number;
  /**
   * Results for a lease the node held that say it could not run the task (`node_error`,
   * `lease_expired`): the task goes back to the queue, and the node's standing counts a lost lease.
   */
  gaveUp: number;
  /**
   * The leases the node holds no more after this report (settled, failed, put back, or not its
   * own in the room at all): exactly what the hub releases.
   */
  ended: string[];
  /** Task time the accepted results report (each at most the job's `timeoutMs`), in ms. */
  cpuMs: number;
  /** Why each ignored result was ignored; `rejected` ones leave their lease open. */
  ignored: { jobId: string; index: number; leaseId: string; reason: string; rejected: boolean }[];
  /**
   * Tasks whose result was accepted on this node's word alone (credible, not spot-checked): the
   * hub keeps the recent ones, to run them again if the node is caught lying.
   */
  solo: number[];
}

export interface ExtendResult {
  extended: number;
  /** Leases named that the node no longer holds (expired, past their deadline, revoked). */
  gone: string[];
}

export interface CancelResult {
  status: JobStatus;
  revoked: { nodeId: string; leaseId: string }[];
}

export interface JobRoomApi {
  /**
   * Store the job and announce it. With `wait.ms`, answer once the job finished or that long
   * passed, with its first `limit` results if it finished; else at once, with no page.
   */
  init(
    init: JobInit,
    wait?: { ms: number; limit: number },
  ): Awaitable<{ status: JobStatus; page?: ResultsPage }>;
  status(): Awaitable<JobStatus | null>;
  results(
    cursor: number,
    limit: number,
    waiting?: string,
    order?: 'index' | 'completion',
  ): Awaitable<ResultsPage | null>;
  /** Lease tasks to several nodes of one shard at once, each up to its `max`. */
  lease(requests: LeaseRequest[]): Awaitable<LeaseResult>;
  report(nodeId: string, results: SignedOutcome[], voter: Voter): Awaitable<ReportResult>;
  /**
   * The node was caught lying: the results accepted on its word alone among `indices` are
   * verified again by other identities. Returns how many went back to the queue.
   */
  reverify(nodeId: string, indices: number[]): Awaitable<number>;
  extend(nodeId: string, leaseIds: string[]): Awaitable<ExtendResult>;
  /** The node went away: its leases go back to the queue now. Returns how many it held. */
  releaseNode(nodeId: string, reason: string): Awaitable<number>;
  /** The node gives unstarted leases back. Returns how many it held. */
  returnLeases(nodeId: string, leaseIds: string[]): Awaitable<number>;
  cancel(): Awaitable<CancelResult | null>;
  /** Where the finished job's leaf was queued for anchoring (null: not yet). */
  anchorState(): Awaitable<{ shard: number; version: number; finishedAt: number | undefined } | null>;
  /** A finished job's task leaf, its path and the tasks root its job leaf commits (null: none). */
  taskProof(
    index: number,
  ): Awaitable<{ leaf: TaskLeaf; leafHash: string; proof: string[]; tasksRoot: string } | null>;
}

// ---- MeshHub -----------------------------------------------------------------------------------

/** A job with runnable tasks, as its room announces it to every hub shard. */
export interface AvailableJob {
  jobId: string;
  runtime: Runtime;
  /** Nodes that hold this code are preferred for the job (no fetch, compiled module cached). */
  codeCid: string;
}

/** What one shard says about its nodes, for a job's waiting reason. */
export interface HubSummary {
  shard: number;
  /** Nodes that said hello. */
  nodes: number;
  /** Per runtime: nodes that run it, and those of them that asked for work they have not got. */
  runtimes: Partial<Record<Runtime, { nodes: number; idle: number }>>;
}

/** A shard's nodes changed, for a node-map replica. */
export interface HubMapUpdate {
  shard: number;
  /** Nodes that joined or changed, whole. */
  nodes: NodeInfo[];
  /** Ids of nodes that left. */
  gone: string[];
  at: number;
}

export interface MeshHubApi {
  jobAvailable(job: AvailableJob): Awaitable<void>;
  /** A job finished or was cancelled: stop dispatching it and revoke these leases. */
  jobGone(jobId: string, revoked: { nodeId: string; leaseId: string }[], reason: string): Awaitable<void>;
  summary(): Awaitable<HubSummary>;
  listNodes(): Awaitable<NodeInfo[]>;
  /**
   * This shard's holders of each blob, for a lease on another shard that found none at home; of
   * the nodes still fetching a blob, only those that started before the asking node (`since`, by
   * CID; ties by node id), so two shards' first fetchers never wait on each other.
   */
  providers(
    cids: string[],
    asker?: { nodeId: string; since: Record<string, number> },
  ): Awaitable<Record<string, PeerHint[]>>;
  /** Another shard's relays changed: its whole list. */
  relaysChanged(shard: number, relays: PeerHint[]): Awaitable<void>;
  /**
   * A node-map replica wants this shard's changes for `ttlMs` (it renews while it has watchers):
   * returns every node now; changes follow as `NodeMapApi.hubUpdate`.
   */
  subscribeMap(replica: string, ttlMs: number): Awaitable<NodeInfo[]>;
  /** Verification's verdicts on this shard's nodes (their records, hence credibility). */
  recordVerdicts(verdicts: Verdict[]): Awaitable<void>;
}

// ---- NodeMap -----------------------------------------------------------------------------------

export interface NodeMapApi {
  hubUpdate(update: HubMapUpdate): Awaitable<void>;
}

// ---- Account, NonceStore -----------------------------------------------------------------------

export interface AccountApi {
  createKey(label: string | undefined): Awaitable<{ id: string; secret: string; createdAt: number }>;
  verifyKey(secret: string): Awaitable<boolean>;
  listKeys(): Awaitable<ApiKeyInfo[]>;
  revokeKey(id: string): Awaitable<boolean>;
  /** Written by the job's room only: when it is created, and when it ends. */
  addJob(job: JobSummary): Awaitable<void>;
  jobFinished(id: string, state: JobState): Awaitable<void>;
  listJobs(limit: number, before?: number): Awaitable<JobSummary[]>;
  /** Written by the hub shard of a linked node only. */
  creditWork(nodeId: string, tasks: number, cpuMs: number, batch: string): Awaitable<void>;
  work(): Awaitable<AccountWork['work']>;
}

export interface NonceStoreApi {
  issue(nonce: string, expiresAt: number): Awaitable<void>;
  consume(nonce: string): Awaitable<boolean>;
}

// ---- ChainOutbox --------------------------------------------------------------------------------

/** A finished job's leaf, as its room queues it for anchoring (`version`: when it finished). */
export interface AnchorEntry {
  jobId: string;
  version: number;
  leaf: JobLeaf;
}

/** Where a job's leaf sits in an anchored batch, as its outbox shard keeps it. */
export interface AnchorRecord {
  leaf: JobLeaf;
  leafHash: string;
  index: number;
  size: number;
  proof: string[];
  root: string;
  txHash: string;
  blockNumber: number;
  anchoredAt: number;
  chainId: number;
  registry: string;
  /** When the job finished (the version anchored). */
  version: number;
}

/** What one run of an outbox shard did. */
export interface FlushReport {
  state: 'idle' | 'anchored' | 'waiting' | 'failed' | 'not_configured';
  batches: number;
  jobs: number;
  error?: string;
}

/** One outbox shard's state, for `GET /health`. */
export interface OutboxStatus {
  queued: number;
  inFlight: number;
  anchoredBatches: number;
  lastAnchoredAt?: number;
  lastError?: string;
  lastErrorAt?: number;
  retryAt?: number;
}

export interface ChainOutboxApi {
  /** Queue a finished job's leaf (a newer version of a job not yet batched replaces the older). */
  enqueue(entry: AnchorEntry): Awaitable<void>;
  /** Batch queued jobs, commit their roots and record the transactions (the cron's work, for shard `shard`). */
  flush(shard: number): Awaitable<FlushReport>;
  /** The job's newest anchor, or where it waits (`queued`, `sending`), or null when unknown here. */
  anchorOf(jobId: string): Awaitable<AnchorRecord | { state: 'queued' | 'sending'; since: number } | null>;
  status(): Awaitable<OutboxStatus>;
}
