import { runAnchoring } from './anchor-cron.ts';
import { app } from './app.ts';
import type { Env } from './env.ts';

export { Account } from '../durable-objects/account.ts';
export { MeshHub } from '../durable-objects/hub/mesh-hub.ts';
export { NodeMap } from '../durable-objects/node-map.ts';
export { NonceStore } from '../durable-objects/nonce-store.ts';
export { ChainOutbox } from '../durable-objects/outbox/chain-outbox.ts';
export { JobRoom } from '../durable-objects/room/job-room.ts';

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  // The anchoring cron: commit each outbox shard's queued jobs on-chain.
  scheduled: async (_controller, env, ctx) => {
    ctx.waitUntil(runAnchoring(env));
  },
} satisfies ExportedHandler<Env>;
