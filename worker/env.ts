import type { DoEnv } from '../durable-objects/rpc.ts';

/** Bindings of wrangler.toml (the objects' namespaces and vars, R2), plus secrets (`SESSION_SECRET`). */
export interface Env extends DoEnv {
  BLOBS: R2Bucket;
  SESSION_SECRET?: string;
}
