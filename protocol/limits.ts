/**
 * Limits shared by the API, the Durable Objects and the nodes. They follow from the
 * Workers platform (32 MiB per WebSocket message, 2 MB per SQLite value, 128 MB per
 * isolate) and are stated in every error that enforces them.
 */
export const limits = {
  /** Largest JSON body accepted by `POST /jobs`. */
  maxJobBodyBytes: 8 * 1024 * 1024,
  /** Largest inline `source`; bigger code goes through `PUT /blobs` and `codeCid`. */
  maxSourceBytes: 256 * 1024,
  /** Inputs per job. */
  maxInputs: 100_000,
  /** One input, serialized as JSON. */
  maxInputBytes: 64 * 1024,
  /** One output, serialized as JSON. */
  maxOutputBytes: 1024 * 1024,
  /** Captured console output per task. */
  maxLogBytes: 16 * 1024,
  /** One blob in `PUT /blobs`. */
  maxBlobBytes: 32 * 1024 * 1024,
  /** One block in `PUT /blobs/{cid}`: a 1 MiB leaf of a chunked blob, or a dag-pb node, with room to spare. */
  maxBlockBytes: 2 * 1024 * 1024,
  /**
   * A chunked blob's size as its UnixFS root declares it (the API refuses larger roots, and nodes
   * stop reading a blob past it).
   */
  maxChunkedBlobBytes: 256 * 1024 * 1024,
  /** Links of one dag-pb block (the importer's widest node; the API checks each link is stored). */
  maxBlockLinks: 1024,
  /** Distinct `ipfs://` inputs of one job (the API checks each root is stored before accepting it). */
  maxIpfsInputs: 1000,
  /** One frame from a node or a watcher. */
  maxFrameBytes: 16 * 1024 * 1024,
  /** Tasks in one lease batch. */
  maxLeaseBatch: 256,
  /** Results in one `task.results` frame. */
  maxResultBatch: 512,
  /** Leases one node may hold at once, however good its standing (see the hub's lease window). */
  maxHeldLeases: 1024,
  /** Page size bounds of `GET /jobs/:id/results`. */
  maxPageSize: 1000,
  defaultPageSize: 100,
  /** The longest `POST /jobs?wait=` (seconds) a submission may wait for its job to finish. */
  maxSubmitWaitSeconds: 30,
} as const;

/** Defaults of a JobSpec. */
export const jobDefaults = {
  timeoutMs: 30_000,
  maxAttempts: 3,
  memoryMb: 128,
  /**
   * Target confidence of the adaptive policy (a job without `redundancy`): a result is accepted
   * when the identities that agree on it make it at least this likely to be right (see
   * `durable-objects/room/quorum.ts`).
   */
  trust: 0.98,
} as const;

/**
 * Lease timing: a lease lives `leaseTtlMs` unless the node's heartbeat extends it, and never past
 * its deadline, `timeoutMs` + `deadlineGraceMs` after it was leased (the grace covers waiting in
 * the node's queue and fetching code and inputs).
 */
export const leaseTiming = {
  leaseTtlMs: 20_000,
  heartbeatMs: 5_000,
  deadlineGraceMs: 60_000,
} as const;

/**
 * What the hub accepts from one node socket (`FrameBudget`): frames and bytes a second, with
 * bursts. A frame over it is refused with `rate_limited` and its content is lost (a refused
 * `task.results` leaves its leases held until their deadline), so honest nodes pace their own
 * frames at `nodeShare` of it (see `ComputeNode`), batching what waits.
 */
export const frameBudget = {
  framesPerSecond: 100,
  frameBurst: 400,
  bytesPerSecond: 32 * 1024 * 1024,
  byteBurst: 64 * 1024 * 1024,
  nodeShare: 0.5,
} as const;
