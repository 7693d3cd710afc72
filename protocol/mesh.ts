import { z } from 'zod';
import { Cid } from './cid.ts';
import { Groth16Proof } from './circuit.ts';
import { ErrorCode } from './errors.ts';
import { HelloProof } from './hello-proof.ts';
import { JsonValue, NodeTaskError, Runtime } from './job.ts';
import { limits } from './limits.ts';
import { OutcomeReceipt, ReceiptSignature } from './receipt.ts';

/**
 * Version of the node <-> hub protocol; the hub refuses a different major. 2: a node must prove a
 * key at hello, job and lease ids are UUIDs, and results are signed once per frame (a batch).
 */
export const MESH_PROTOCOL = '/monadmesh/hub/2.0.0';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A job's id: a lowercase UUID, as `POST /jobs` makes them. */
export const JobId = z.string().regex(UUID, 'not a job id (a lowercase UUID)');
export type JobId = z.infer<typeof JobId>;

/** A lease's id: a lowercase UUID, made by the job's room for each lease. */
export const LeaseId = z.string().regex(UUID, 'not a lease id (a lowercase UUID)');
export type LeaseId = z.infer<typeof LeaseId>;

export const NodeKind = z.enum(['headless', 'browser']);
export type NodeKind = z.infer<typeof NodeKind>;

/**
 * What a node's sandboxes compute with: engine versions and a hash of fixed floating-point probes
 * (transcendental Math functions are not correctly rounded, so engines may differ in the last
 * bit). Verification compares replicas only within one `class`.
 */
export const RuntimeFingerprint = z.object({
  /** Short id of the probe results: the first 16 hex digits of `probeHash`. */
  class: z.string().regex(/^[0-9a-f]{16}$/),
  /** SHA-256 (hex) of the probe results, serialized as the IEEE-754 bits of each. */
  probeHash: z.string().regex(/^[0-9a-f]{64}$/),
  engine: z.object({
    /** The host: `node` headless, the browser's name in a tab. */
    name: z.string().max(64),
    version: z.string().max(64).optional(),
    v8: z.string().max(64).optional(),
    pyodide: z.string().max(64).optional(),
    /** The WASI implementation, `name@version`. */
    wasiHost: z.string().max(64).optional(),
    platform: z.string().max(64).optional(),
    arch: z.string().max(64).optional(),
  }),
});
export type RuntimeFingerprint = z.infer<typeof RuntimeFingerprint>;

/** Most addresses a node may announce (its listen addresses and relayed ones). */
const MAX_MULTIADDRS = 16;
const Multiaddrs = z.array(z.string().min(1).max(512)).max(MAX_MULTIADDRS);

/** Most peer links a node reports (its libp2p connections; the rest are left out). */
export const MAX_PEER_LINKS = 64;
const PeerLinks = z.array(z.string().min(1).max(128)).max(MAX_PEER_LINKS);

/** A peer of the mesh as the hub hands it out: whom to dial for blocks, or to relay through. */
export const PeerHint = z.object({
  peerId: z.string().min(1).max(128),
  multiaddrs: Multiaddrs,
  kind: NodeKind,
  /** Runs a circuit-relay-v2 server: tabs reserve a slot there to be reachable over WebRTC. */
  relay: z.boolean(),
});
export type PeerHint = z.infer<typeof PeerHint>;

/** One task handed to a node. `seed` and `clock` make `Math.random` and `Date` deterministic. */
export const LeasedTask = z.object({
  jobId: JobId,
  index: z.number().int().nonnegative(),
  leaseId: LeaseId,
  attempt: z.number().int().positive(),
  runtime: Runtime,
  codeCid: Cid,
  input: JsonValue,
  timeoutMs: z.number().int().positive(),
  memoryMb: z.number().int().positive(),
  seed: z.string(),
  clock: z.number().int(),
  /** When the lease ends unless a heartbeat extends it. */
  expiresAt: z.number().int(),
  /**
   * When the lease ends whatever the heartbeats say: leased at + `timeoutMs` + a grace for
   * queueing and fetching. A result after it is late, and the task has run again elsewhere.
   */
  deadline: z.number().int(),
});
export type LeasedTask = z.infer<typeof LeasedTask>;

const outcomeBase = {
  jobId: JobId,
  index: z.number().int().nonnegative(),
  leaseId: LeaseId,
  logs: z.string().max(limits.maxLogBytes * 2),
  durationMs: z.number().nonnegative(),
  /** The receipt fields of this outcome; the frame's `signature` signs them all (see `receiptBatch`). */
  receipt: OutcomeReceipt,
};

/** What a node reports for one lease. */
export const TaskOutcome = z.discriminatedUnion('ok', [
  z.object({
    ...outcomeBase,
    ok: z.literal(true),
    output: JsonValue,
    /** A `circom` task's proof of `output` (its public signals); not part of the receipt (malleable). */
    proof: Groth16Proof.optional(),
  }),
  z.object({ ...outcomeBase, ok: z.literal(false), error: NodeTaskError }),
]);
export type TaskOutcome = z.infer<typeof TaskOutcome>;

export const LeaseRef = z.object({ jobId: JobId, leaseId: LeaseId });
export type LeaseRef = z.infer<typeof LeaseRef>;

/**
 * A wallet's consent that a node's work counts for it: an EIP-4361 (SIWE) message naming the
 * node's peer id in its resources (`nodeLinkResource`), and the wallet's signature over it. The
 * node presents it; only results signed by that peer id's key are credited, so a link is useless
 * to anyone but the node it names. Built and checked by `protocol/node-link.ts`.
 */
export const NodeOwnerLink = z
  .object({
    message: z.string().min(1).max(2048),
    signature: z
      .string()
      .regex(/^0x[0-9a-fA-F]+$/, 'signature must be 0x-prefixed hex')
      .max(4096),
  })
  .meta({ id: 'NodeOwnerLink' });
export type NodeOwnerLink = z.infer<typeof NodeOwnerLink>;

/**
 * How a node has behaved, as the hub counted it (per node id, kept across reconnects):
 * `accepted` results the rooms counted (a task's own error counts: the node did its job),
 * `rejected` results refused for a missing or bad receipt, `late` results for a lease that had
 * already ended, `lost` leases the node held when it went away, and what verification made of
 * its answers (`agreed`, `disagreed`). `score` =
 * (accepted + 1) / (accepted + 5·rejected + 5·disagreed + lost + late/4 + 2): ½ for a new node,
 * towards 1 with honoured leases. `credibility` (verification's weight of its vote) is
 * 1 − 0.2 / (1 + streak).
 */
export const NodeReputation = z
  .object({
    score: z.number().min(0).max(1),
    accepted: z.number().int().min(0),
    rejected: z.number().int().min(0),
    late: z.number().int().min(0),
    lost: z.number().int().min(0),
    /** Answers of verified jobs that matched the accepted result, and that did not. */
    agreed: z.number().int().min(0).optional(),
    disagreed: z.number().int().min(0).optional(),
    /** Agreements since its last mismatch (a mismatch resets it), and the credibility that gives. */
    streak: z.number().int().min(0).optional(),
    /** Of those, known-answer checks (tasks already decided by others, leased again) passed and failed. */
    knownPassed: z.number().int().min(0).optional(),
    knownFailed: z.number().int().min(0).optional(),
    credibility: z.number().min(0).max(1).optional(),
  })
  .meta({ id: 'NodeReputation' });
export type NodeReputation = z.infer<typeof NodeReputation>;

/** A node's reputation and, when linked, the wallet its work counts for. */
export const NodeStanding = z
  .object({
    reputation: NodeReputation,
    /** The linked wallet (lowercase); absent for an anonymous node. */
    owner: z.string().optional(),
    /** Why the last link was refused (the node stays as it was). */
    ownerError: z.string().optional(),
    /** Work the hub credited to this node: accepted results and the task time they report. */
    work: z.object({ tasks: z.number().int().min(0), cpuMs: z.number().min(0) }),
  })
  .meta({ id: 'NodeStanding' });
export type NodeStanding = z.infer<typeof NodeStanding>;

/** Messages a compute node sends on `GET /api/v1/mesh/connect`. */
export const NodeToHub = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('node.hello'),
    protocol: z.string(),
    nodeId: z.string().min(8).max(128),
    kind: NodeKind,
    name: z.string().max(64).optional(),
    runtimes: z
      .array(Runtime)
      .min(1)
      .max(Runtime.options.length)
      .refine((r) => new Set(r).size === r.length, { message: 'runtimes must not repeat' }),
    capacity: z.number().int().min(1).max(256),
    version: z.string().max(64),
    /** Optional so that older nodes still connect; ours always send it. */
    fingerprint: RuntimeFingerprint.optional(),
    /** The node's libp2p Ed25519 peer id (`12D3KooW…`): the key its receipts are signed with. */
    peerId: z.string().min(1).max(128),
    /**
     * Proof that the node holds `peerId`'s key: its signature over `helloProofBytes` (the peer
     * id, the API host it connects to, `at`).
     */
    proof: HelloProof,
    /** Where the node's libp2p peer can be dialed (the data plane); none for a node without one. */
    multiaddrs: Multiaddrs.optional(),
    /** The node relays for others (a headless node with a public listener). */
    relay: z.boolean().optional(),
    /** A wallet's signed consent that this node's work counts for it (see `node-link.ts`); anonymous without. */
    owner: NodeOwnerLink.optional(),
  }),
  /** Link the node to a wallet (a new signed link), or make it anonymous again (`null`). */
  z.object({ type: z.literal('node.owner'), owner: NodeOwnerLink.nullable() }),
  /**
   * Give leases back unstarted (the node paused, or holds more than it will run soon): the tasks
   * go back to the queue at once, without counting as an attempt.
   */
  z.object({ type: z.literal('lease.return'), leases: z.array(LeaseRef).min(1).max(limits.maxHeldLeases) }),
  /**
   * Data-plane news: new addresses (e.g. a relay reservation came or went) and blobs (root CIDs)
   * the node now holds whole or no longer holds. The hub points other nodes here for them.
   */
  z.object({
    type: z.literal('node.mesh'),
    multiaddrs: Multiaddrs.optional(),
    holds: z
      .object({ add: z.array(Cid).max(256).optional(), remove: z.array(Cid).max(256).optional() })
      .optional(),
    /**
     * The peer ids this node's libp2p peer is connected to right now (the whole set, at most
     * `MAX_PEER_LINKS`), sent when it changes: the node map draws them as links.
     */
    peers: PeerLinks.optional(),
  }),
  /** Ask for `credit` more tasks beyond those already granted. */
  z.object({
    type: z.literal('lease.request'),
    credit: z.number().int().min(1).max(limits.maxHeldLeases),
  }),
  /**
   * Finished tasks; `credit` asks for that many more at the same time. `signature` is the node's
   * Ed25519 signature over `receiptBatchBytes` of the receipts of `results`, in this order.
   */
  z.object({
    type: z.literal('task.results'),
    results: z.array(TaskOutcome).min(1).max(limits.maxResultBatch),
    credit: z.number().int().min(0).max(limits.maxHeldLeases),
    signature: ReceiptSignature,
  }),
  /** Keeps the listed leases alive (up to their deadline); leases not listed expire on their own. */
  z.object({ type: z.literal('node.heartbeat'), leases: z.array(LeaseRef).max(limits.maxHeldLeases) }),
]);
export type NodeToHub = z.infer<typeof NodeToHub>;

/** Messages the hub sends to a compute node. */
export const HubToNode = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hub.welcome'),
    nodeId: z.string(),
    heartbeatMs: z.number().int(),
    leaseTtlMs: z.number().int(),
    /** Relays and other peers to connect to (nearby and already connected ones first). */
    peers: z.array(PeerHint).max(64).optional(),
    /** What the hub knows of this node so far (reputation, the wallet its work counts for). */
    standing: NodeStanding.optional(),
  }),
  /** The node's standing changed other than through results (e.g. after `node.owner`). */
  z.object({ type: z.literal('node.standing'), standing: NodeStanding }),
  /** The peers changed (a relay joined or left): the same list as in the welcome, anew. */
  z.object({ type: z.literal('mesh.peers'), peers: z.array(PeerHint).max(64) }),
  z.object({
    type: z.literal('task.leased'),
    tasks: z.array(LeasedTask),
    /** For blobs of these tasks (code, `ipfs://` inputs): peers that hold them, by root CID. */
    providers: z.record(z.string(), z.array(PeerHint).max(8)).optional(),
  }),
  /** Stop these leases (job cancelled, or lease expired); their results would be ignored. */
  z.object({ type: z.literal('lease.revoked'), leases: z.array(LeaseRef), reason: z.string() }),
  z.object({
    type: z.literal('results.ack'),
    accepted: z.number().int(),
    ignored: z.array(z.object({ jobId: z.string(), index: z.number().int(), reason: z.string() })),
    /** The node's standing after these results. */
    standing: NodeStanding.optional(),
  }),
  z.object({ type: z.literal('error'), code: ErrorCode, message: z.string() }),
]);
export type HubToNode = z.infer<typeof HubToNode>;

/** Approximate location of a node, never finer than a city. */
export const NodeLocation = z.object({
  country: z.string().optional(),
  city: z.string().optional(),
  latitude: z.number().optional(),
  longitude: z.number().optional(),
});
export type NodeLocation = z.infer<typeof NodeLocation>;

/** One entry of `GET /api/v1/nodes`. */
export const NodeInfo = z
  .object({
    nodeId: z.string(),
    kind: NodeKind,
    name: z.string().optional(),
    runtimes: z.array(Runtime),
    capacity: z.number().int(),
    running: z.number().int(),
    connectedAt: z.number().int(),
    lastSeenAt: z.number().int(),
    location: NodeLocation,
    fingerprint: RuntimeFingerprint.optional(),
    /** The libp2p peer id whose key signs the node's receipts. */
    peerId: z.string().optional(),
    /** Where its libp2p peer can be dialed. */
    multiaddrs: z.array(z.string()).optional(),
    relay: z.boolean().optional(),
    /** Blobs (root CIDs) it holds whole, as it announced them. */
    holds: z.number().int().optional(),
    /** Peer ids its libp2p peer is connected to, as it last reported them. */
    peers: z.array(z.string()).optional(),
    /** `NodeReputation.score` (0–1). */
    reputation: z.number().min(0).max(1).optional(),
    /** The wallet its work counts for (a verified link); absent for an anonymous node. */
    owner: z.string().optional(),
  })
  .meta({ id: 'NodeInfo' });
export type NodeInfo = z.infer<typeof NodeInfo>;
