import { app } from './app.ts';
import type { Env } from './env.ts';

export { Account } from '../durable-objects/account.ts';
export { JobRoom } from '../durable-objects/job-room.ts';
export { MeshHub } from '../durable-objects/mesh-hub.ts';
export { NonceStore } from '../durable-objects/nonce-store.ts';

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
