export { type CircuitFiles, circuitManifest, publicInputsOf } from './circuit.ts';
export {
  type BlobRef,
  type ClientOptions,
  createClient,
  type MapOptions,
  MeshClient,
  moduleSource,
  type PutBlobOptions,
} from './client.ts';
export { JobCancelledError, MeshApiError, TaskFailedError } from './errors.ts';
export type { FetchLike } from './http.ts';
export { type ConnectionState, JobEvents, type JobEventsOptions, type Progress } from './job-events.ts';
export { JobHandle, type JobHandleOptions, type ResultsPageOptions } from './job-handle.ts';
export { linkNodeWithEip1193, linkNodeWithPrivateKey } from './node-link.ts';
export {
  createApiKey,
  DEV_PRIVATE_KEYS,
  type Eip1193Provider,
  type SignInOptions,
  signInWithEip1193,
  signInWithPrivateKey,
} from './sign-in.ts';
export { specHashOf } from './spec-hash.ts';
export { type AnchorCheck, type AnchorReport, verifyAnchor } from './verify-anchor.ts';
export {
  BadFrameError,
  type WatchMessageMeta,
  type WatchOptions,
  WatchSocket,
  type WatchSocketOptions,
  type WatchSocketState,
} from './watch-socket.ts';
