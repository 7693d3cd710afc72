import type {
  AccountApi,
  ChainOutboxApi,
  DoEnv,
  JobRoomApi,
  MeshHubApi,
  NodeMapApi,
  NonceStoreApi,
  Remote,
} from './rpc.ts';

export type { DoEnv } from './rpc.ts';

/** Our objects' stubs carry plain structured-clonable data, so the contracts' types are exact. */
const stub = <T>(ns: DurableObjectNamespace, name: string) =>
  ns.get(ns.idFromName(name)) as unknown as Remote<T>;

const count = (value: string | undefined, fallback: number, max: number) => {
  const n = Number(value ?? fallback);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, max) : fallback;
};

/** One JobRoom per job, addressed by the job id. */
export function jobRoom(env: DoEnv, jobId: string): Remote<JobRoomApi> {
  return stub<JobRoomApi>(env.JOB_ROOM, jobId);
}

/** How many MeshHub shards there are (`HUB_SHARDS`, default 2). */
export function hubShards(env: DoEnv): number {
  return count(env.HUB_SHARDS, 2, 1024);
}

/**
 * The shard of a node: jump consistent hashing (Lamping and Veach, 2014) of its node id, so a node
 * always lands on the same shard (where its standing is kept) and changing the number of shards
 * from n to n + 1 moves only 1/(n + 1) of the nodes.
 */
export function shardOf(env: DoEnv, nodeId: string): number {
  return jumpHash(fnv1a64(nodeId), hubShards(env));
}

/** One MeshHub shard. */
export function meshHub(env: DoEnv, shard: number): Remote<MeshHubApi> {
  return stub<MeshHubApi>(env.MESH_HUB, `hub-${shard}`);
}

/** Every MeshHub shard, by shard number. */
export function allHubs(env: DoEnv): Remote<MeshHubApi>[] {
  return Array.from({ length: hubShards(env) }, (_, shard) => meshHub(env, shard));
}

/** How many NodeMap replicas serve node-map watchers (`NODE_MAP_REPLICAS`, default 1). */
export function nodeMapReplicas(env: DoEnv): number {
  return count(env.NODE_MAP_REPLICAS, 1, 64);
}

/** One NodeMap replica, by name (`map-<n>`). */
export function nodeMap(env: DoEnv, replica: string): Remote<NodeMapApi> {
  return stub<NodeMapApi>(env.NODE_MAP, replica);
}

/** One Account per wallet: API keys, the wallet's job list, and the work of its linked nodes. */
export function account(env: DoEnv, address: string): Remote<AccountApi> {
  return stub<AccountApi>(env.ACCOUNT, address.toLowerCase());
}

/** Nonces are spread over shards by their first character, so sign-in has no singleton. */
export function nonceStore(env: DoEnv, nonce: string): Remote<NonceStoreApi> {
  return stub<NonceStoreApi>(env.NONCES, `nonces-${(nonce[0] ?? '0').toLowerCase()}`);
}

/** How many ChainOutbox shards there are (`ANCHOR_SHARDS`, default 2). */
export function anchorShards(env: DoEnv): number {
  return count(env.ANCHOR_SHARDS, 2, 1024);
}

/**
 * The ChainOutbox shard a job is queued in (jump hash of its id over `ANCHOR_SHARDS`). Its room
 * records the shard when it queues the job, so raising `ANCHOR_SHARDS` later does not lose track
 * of where earlier jobs are (lowering it would strand the dropped shards' queues: only raise it).
 */
export function anchorShardOf(env: DoEnv, jobId: string): number {
  return jumpHash(fnv1a64(jobId), anchorShards(env));
}

/** One ChainOutbox shard. */
export function outboxShard(env: DoEnv, shard: number): Remote<ChainOutboxApi> {
  return stub<ChainOutboxApi>(env.CHAIN_OUTBOX, `outbox-${shard}`);
}

/** FNV-1a, 64 bits, of a string's UTF-16 code units. */
function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

/** Jump consistent hash: a bucket in [0, buckets) for a 64-bit key. */
export function jumpHash(key: bigint, buckets: number): number {
  let b = -1;
  let j = 0;
  let k = key;
  while (j < buckets) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & 0xffffffffffffffffn;
    j = Math.floor(((b + 1) * 2 ** 31) / Number((k >> 33n) + 1n));
  }
  return b;
}
