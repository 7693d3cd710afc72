import type { Account } from './account.ts';
import type { JobRoom } from './job-room.ts';
import type { MeshHub } from './mesh-hub.ts';
import type { NonceStore } from './nonce-store.ts';

/** The bindings the Durable Objects use to reach each other. */
export interface DoEnv {
  JOB_ROOM: DurableObjectNamespace<JobRoom>;
  MESH_HUB: DurableObjectNamespace<MeshHub>;
  ACCOUNT: DurableObjectNamespace<Account>;
  NONCES: DurableObjectNamespace<NonceStore>;
}

/**
 * The RPC view of a Durable Object class: its public methods, each returning a promise. Workers'
 * own `DurableObjectStub<T>` maps every value through `Rpc.Result`, which TypeScript cannot
 * follow through recursive JSON types; our messages are plain structured-clonable data, so the
 * plain method types are exact.
 */
export type Rpc<T, K extends keyof T> = {
  [P in K]: T[P] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
} & { fetch(request: Request): Promise<Response> };

export type JobRoomRpc = Rpc<
  JobRoom,
  'init' | 'status' | 'results' | 'lease' | 'report' | 'extend' | 'releaseNode' | 'returnLeases' | 'cancel'
>;
export type MeshHubRpc = Rpc<MeshHub, 'jobAvailable' | 'jobGone' | 'explain' | 'listNodes'>;
export type AccountRpc = Rpc<
  Account,
  | 'createKey'
  | 'verifyKey'
  | 'listKeys'
  | 'revokeKey'
  | 'addJob'
  | 'jobFinished'
  | 'listJobs'
  | 'creditWork'
  | 'work'
>;
export type NonceStoreRpc = Rpc<NonceStore, 'issue' | 'consume'>;

/** One JobRoom per job, addressed by the job id. */
export function jobRoom(env: DoEnv, jobId: string): JobRoomRpc {
  return env.JOB_ROOM.get(env.JOB_ROOM.idFromName(jobId)) as unknown as JobRoomRpc;
}

/**
 * The hub shard that dispatches a job's work. One shard serves one region; more shards would
 * split nodes by hash, with each job registered on the shard its id hashes to.
 */
export function meshHub(env: DoEnv, shard = 0): MeshHubRpc {
  return env.MESH_HUB.get(env.MESH_HUB.idFromName(`hub-${shard}`)) as unknown as MeshHubRpc;
}

/** One Account per wallet: API keys, the wallet's job list, and the work of its linked nodes. */
export function account(env: DoEnv, address: string): AccountRpc {
  return env.ACCOUNT.get(env.ACCOUNT.idFromName(address.toLowerCase())) as unknown as AccountRpc;
}

/** Nonces are spread over shards by their first character, so sign-in has no singleton. */
export function nonceStore(env: DoEnv, nonce: string): NonceStoreRpc {
  const shard = (nonce[0] ?? '0').toLowerCase();
  return env.NONCES.get(env.NONCES.idFromName(`nonces-${shard}`)) as unknown as NonceStoreRpc;
}
