import { app } from './app.ts';
import type { Env } from './env.ts';

export { Account } from '../durable-objects/account.ts';
export { MeshHub } from '../durable-objects/hub/mesh-hub.ts';
export { NodeMap } from '../durable-objects/node-map.ts';
export { NonceStore } from '../durable-objects/nonce-store.ts';
export { JobRoom } from '../durable-objects/room/job-room.ts';

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
