import type {
  Groth16Proof,
  JsonValue,
  Runtime,
  NodeTaskError as TaskError,
} from '../../../protocol/index.ts';

/** One execution of user code on one input, as the core hands it to a host's sandbox. */
export interface ExecRequest {
  runtime: Runtime;
  /**
   * The user's code. `js`: ES module source whose `export default` is `(input) => output`, as text
   * (or its UTF-8 bytes). `wasm`: the bytes of a WASI command module. `python`: Python source that
   * defines `main(input)`, as text.
   */
  code: string | Uint8Array;
  /** CID of `code`, usable as a cache key for compiled forms. */
  codeCid: string;
  input: JsonValue;
  /** CPU/wall-time limit; the sandbox is terminated when it runs out. */
  timeoutMs: number;
  /**
   * Memory limit of the task: the JS heap limit, the most a wasm module's memory may grow to, or
   * how far Pyodide's memory may grow during a Python task.
   */
  memoryMb: number;
  /** Seed of the task's `Math.random` (JS), `random_get` (WASI) or `random` module (Python). */
  seed: string;
  /** What `Date.now()` (JS), the WASI realtime clock or `time.time()` (Python) returns (ms since epoch). */
  clock: number;
  /**
   * The task's job. A Python sandbox runs the tasks of one job only: one that ran another job's
   * task is replaced, never reused (see `SandboxPool`). Without it, tasks count as one job.
   */
  jobId?: string;
  /**
   * A `circom` task's circuit, fetched by the CIDs of its manifest (`code` is the manifest's
   * text): the witness calculator and the proving key.
   */
  circuit?: { wasm: Uint8Array; zkey: Uint8Array };
}

/**
 * What a pool measured of a task beside its own `durationMs`: `slotMs`, how long the task held a
 * sandbox slot (its share of a batch's time when it ran in one; never the time it queued).
 */
interface SlotTime {
  slotMs?: number;
}

export type ExecResult =
  | ({ ok: true; output: JsonValue; proof?: Groth16Proof; logs: string; durationMs: number } & SlotTime)
  | ({ ok: false; error: TaskError; logs: string; durationMs: number } & SlotTime);

/**
 * A host's sandbox pool: worker threads headless, Web Workers in a tab. The core never
 * touches the sandbox mechanism itself, so the same lease loop runs in both hosts.
 */
export interface Executor {
  readonly runtimes: readonly Runtime[];
  /** How many tasks can run at the same time. */
  readonly capacity: number;
  /**
   * How many quick JS tasks of one job a slot takes at once, where the executor sends them to its
   * sandbox in batches (a process's: one message each way per batch instead of per task). A node
   * may hand it up to `capacity × batch` such tasks; absent, 1.
   */
  readonly batch?: number;
  /** Run one task. Never rejects for user-code failures: they come back as `{ ok: false }`.
   * Aborting `signal` terminates the task (its result is then `node_error`, and ignored). */
  run(request: ExecRequest, signal?: AbortSignal): Promise<ExecResult>;
  /**
   * Whether the task run with `signal` waits in the executor's queue, not started (or back in it
   * after its batch failed): aborting it then costs nothing. Absent: the executor queues nothing
   * beyond its slots (a node hands it at most `capacity` tasks).
   */
  waiting?(signal: AbortSignal): boolean;
  close(): Promise<void>;
}
