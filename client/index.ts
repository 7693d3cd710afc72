export { type ClientOptions, createClient, type MapOptions, MeshClient, moduleSource } from './client.ts';
export { JobCancelledError, MeshApiError, TaskFailedError } from './errors.ts';
export type { FetchLike } from './http.ts';
export type { Progress } from './job-events.ts';
export { JobHandle } from './job-handle.ts';
export {
  createApiKey,
  DEV_PRIVATE_KEYS,
  type Eip1193Provider,
  type SignInOptions,
  signInWithEip1193,
  signInWithPrivateKey,
} from './sign-in.ts';
