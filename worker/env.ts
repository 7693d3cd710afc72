import type { Account } from '../durable-objects/account.ts';
import type { JobRoom } from '../durable-objects/job-room.ts';
import type { MeshHub } from '../durable-objects/mesh-hub.ts';
import type { NonceStore } from '../durable-objects/nonce-store.ts';

/** Bindings of wrangler.toml, plus secrets (`SESSION_SECRET`). */
export interface Env {
  JOB_ROOM: DurableObjectNamespace<JobRoom>;
  MESH_HUB: DurableObjectNamespace<MeshHub>;
  ACCOUNT: DurableObjectNamespace<Account>;
  NONCES: DurableObjectNamespace<NonceStore>;
  BLOBS: R2Bucket;
  SESSION_SECRET?: string;
}
