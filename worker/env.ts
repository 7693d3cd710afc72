import type { ChainEnv } from '../durable-objects/outbox/chain.ts';
import type { DoEnv } from '../durable-objects/rpc.ts';

/** Bindings of wrangler.toml (the objects' namespaces and vars, R2), plus secrets (`SESSION_SECRET`). */
export interface Env extends DoEnv, ChainEnv {
  BLOBS: R2Bucket;
  SESSION_SECRET?: string;
  /** Where tabs run their sandboxes (another site); the API does not answer there. */
  SANDBOX_ORIGIN?: string;
}
