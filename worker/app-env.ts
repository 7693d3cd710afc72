import type { Env } from './env.ts';

/** Hono generics of the app: bindings, and the wallet set by `requireAuth`. */
export type AppEnv = { Bindings: Env; Variables: { address: string } };
