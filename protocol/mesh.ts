import { z } from 'zod';
import { Cid } from './cid.ts';
import { ErrorCode } from './errors.ts';
import { JsonValue, Runtime, TaskError } from './job.ts';
import { limits } from './limits.ts';

/** Version of the node <-> hub protocol; the hub refuses a different major. */
export const MESH_PROTOCOL = '/monadmesh/hub/1.0.0';

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

/** One task handed to a node. `seed` and `clock` make `Math.random` and `Date` deterministic. */
export const LeasedTask = z.object({
  jobId: z.string(),
  index: z.number().int().nonnegative(),
  leaseId: z.string(),
  attempt: z.number().int().positive(),
  runtime: Runtime,
  codeCid: Cid,
  input: JsonValue,
  timeoutMs: z.number().int().positive(),
  memoryMb: z.number().int().positive(),
  seed: z.string(),
  clock: z.number().int(),
  expiresAt: z.number().int(),
});
export type LeasedTask = z.infer<typeof LeasedTask>;

const outcomeBase = {
  jobId: z.string(),
  index: z.number().int().nonnegative(),
  leaseId: z.string(),
  logs: z.string().max(limits.maxLogBytes * 2),
  durationMs: z.number().nonnegative(),
};

/** What a node reports for one lease. */
export const TaskOutcome = z.discriminatedUnion('ok', [
  z.object({ ...outcomeBase, ok: z.literal(true), output: JsonValue }),
  z.object({ ...outcomeBase, ok: z.literal(false), error: TaskError }),
]);
export type TaskOutcome = z.infer<typeof TaskOutcome>;

export const LeaseRef = z.object({ jobId: z.string(), leaseId: z.string() });
export type LeaseRef = z.infer<typeof LeaseRef>;

/** Messages a compute node sends on `GET /api/v1/mesh/connect`. */
export const NodeToHub = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('node.hello'),
    protocol: z.string(),
    nodeId: z.string().min(8).max(128),
    kind: NodeKind,
    name: z.string().max(64).optional(),
    runtimes: z.array(Runtime).min(1),
    capacity: z.number().int().min(1).max(256),
    version: z.string().max(64),
    /** Optional so that older nodes still connect; ours always send it. */
    fingerprint: RuntimeFingerprint.optional(),
  }),
  /** Ask for `credit` more tasks beyond those already granted. */
  z.object({
    type: z.literal('lease.request'),
    credit: z
      .number()
      .int()
      .min(1)
      .max(limits.maxLeaseBatch * 4),
  }),
  /** Finished tasks; `credit` asks for that many more at the same time. */
  z.object({
    type: z.literal('task.results'),
    results: z.array(TaskOutcome).min(1).max(limits.maxResultBatch),
    credit: z
      .number()
      .int()
      .min(0)
      .max(limits.maxLeaseBatch * 4),
  }),
  /** Keeps the listed leases alive; leases not listed expire on their own. */
  z.object({ type: z.literal('node.heartbeat'), leases: z.array(LeaseRef).max(10_000) }),
]);
export type NodeToHub = z.infer<typeof NodeToHub>;

/** Messages the hub sends to a compute node. */
export const HubToNode = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hub.welcome'),
    nodeId: z.string(),
    heartbeatMs: z.number().int(),
    leaseTtlMs: z.number().int(),
  }),
  z.object({ type: z.literal('task.leased'), tasks: z.array(LeasedTask) }),
  /** Stop these leases (job cancelled, or lease expired); their results would be ignored. */
  z.object({ type: z.literal('lease.revoked'), leases: z.array(LeaseRef), reason: z.string() }),
  z.object({
    type: z.literal('results.ack'),
    accepted: z.number().int(),
    ignored: z.array(z.object({ jobId: z.string(), index: z.number().int(), reason: z.string() })),
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
  })
  .meta({ id: 'NodeInfo' });
export type NodeInfo = z.infer<typeof NodeInfo>;
