import { z } from 'zod';
import { TaskError, type TaskErrorKind } from './job.ts';

/**
 * Messages between a node's host code and one sandbox worker (a `worker_threads` worker headless,
 * a Web Worker in a tab). Both sides decode every message with these schemas: the sandbox side
 * because the host is the only party allowed to talk to it, the host side because a worker that
 * sends anything unexpected is broken and must be replaced.
 *
 * Inputs and outputs cross as JSON text, not as structured-clone objects: the sandbox parses the
 * input inside the task's compartment and serializes the output there, so the host never touches
 * an object that user code built, and a size limit is a plain string-length check.
 */

/** The log mirror must be a SharedArrayBuffer; the check is lazy because not every runtime has one. */
const SharedBuffer = z.custom<SharedArrayBuffer>(
  (value) => typeof SharedArrayBuffer !== 'undefined' && value instanceof SharedArrayBuffer,
  { message: 'expected a SharedArrayBuffer' },
);

/** What every run message carries, whatever the runtime. */
const runBase = {
  /** Chosen by the host, echoed in the result. */
  id: z.string().min(1).max(128),
  /** Cache key for the compiled form of `code`. */
  codeCid: z.string().min(1).max(256),
  /** The task input as JSON text. */
  inputJson: z.string(),
  /** Seed of the task's randomness (`Math.random`, WASI `random_get`, Python's `random`). */
  seed: z.string().max(1024),
  /** The task's clock in ms since the epoch (`Date.now()`, WASI realtime, `time.time()`). */
  clock: z.number().finite(),
  /**
   * Optional mirror of the task's console output (stderr for wasm), so the host can still report
   * the logs of a task it had to kill (timeout, memory). Layout: see `task-logs.ts` (`LogMirror`).
   */
  logMirror: SharedBuffer.optional(),
};

/** Run one JS task: evaluate `code` (an ES module) in a fresh compartment and call its default export. */
export const SandboxRun = z.object({ ...runBase, type: z.literal('run'), code: z.string() });
export type SandboxRun = z.infer<typeof SandboxRun>;

/**
 * Run one WebAssembly task: instantiate `code` (a WASI command module) with the input JSON on
 * stdin, call `_start`, and take the output JSON from stdout and the logs from stderr.
 */
export const SandboxRunWasm = z.object({
  ...runBase,
  type: z.literal('run.wasm'),
  /** The module's bytes (a copy: structured clone). */
  code: z.custom<Uint8Array>((value) => value instanceof Uint8Array, { message: 'expected a Uint8Array' }),
  /** The task's memory limit: the module's linear memory may not grow beyond this many pages. */
  maxMemoryPages: z.number().int().min(1).max(65_536),
});
export type SandboxRunWasm = z.infer<typeof SandboxRunWasm>;

/**
 * Run one Python task in the worker's warm Pyodide: execute `code` in fresh globals and call its
 * `main(input)`. Python runs in its own kind of worker (Pyodide does not load after SES lockdown).
 */
export const SandboxRunPython = z.object({ ...runBase, type: z.literal('run.python'), code: z.string() });
export type SandboxRunPython = z.infer<typeof SandboxRunPython>;

/**
 * Prove one `circom` task: compute the witness of `inputJson` with the circuit's witness
 * calculator (`wasm`, compiled once per worker) and a Groth16 proof with its proving key (`zkey`),
 * both with snarkjs. The output is the public signals; the proof comes back as `proofJson`.
 */
export const SandboxRunCircom = z.object({
  ...runBase,
  type: z.literal('run.circom'),
  /** The circuit manifest's text (`CircuitManifest`), for what the worker checks before proving. */
  code: z.string(),
  wasm: z.custom<Uint8Array>((value) => value instanceof Uint8Array, { message: 'expected a Uint8Array' }),
  zkey: z.custom<Uint8Array>((value) => value instanceof Uint8Array, { message: 'expected a Uint8Array' }),
  /**
   * The witness calculator's memory, in 64 KiB pages: half the task's memory limit (the prover
   * gets the rest). circom's runtime would otherwise reserve 2 GB, all of it counted against the
   * task.
   */
  witnessPages: z.number().int().min(16).max(32_767),
});
export type SandboxRunCircom = z.infer<typeof SandboxRunCircom>;

/**
 * Sent once, first, by hosts that cannot configure a worker when they start it (a browser's
 * `new Worker` takes no arguments): where the Python worker loads Pyodide from, and the memory
 * limit of the worker's tasks. Workers that need nothing from it ignore it.
 */
export const SandboxConfigure = z.object({
  type: z.literal('configure'),
  /** Absolute URL of Pyodide's files (`pyodide.asm.wasm`, `python_stdlib.zip`, …), ending in `/`. */
  pyodideUrl: z.url().endsWith('/'),
  /** The most a task may grow the worker's wasm memory by (Pyodide), in MB. */
  memoryMb: z.number().int().min(1).max(4096),
});
export type SandboxConfigure = z.infer<typeof SandboxConfigure>;

/** The most tasks one batch carries. */
export const MAX_BATCH_RUNS = 64;

/**
 * Run several JS tasks of one job, one after another, each in its own fresh compartment exactly as
 * if sent alone, and answer once with all their results (`SandboxResults`, in the same order). A
 * host sends batches of quick tasks to a sandbox process, where a message each way per task costs
 * more than the task (see `SandboxPool`); it bounds the whole batch by one task's time limit and,
 * should the batch fail, runs its tasks again one by one.
 */
export const SandboxRunBatch = z.object({
  type: z.literal('run.batch'),
  runs: z.array(SandboxRun).min(1).max(MAX_BATCH_RUNS),
});
export type SandboxRunBatch = z.infer<typeof SandboxRunBatch>;

export const HostToSandbox = z.discriminatedUnion('type', [
  SandboxRun,
  SandboxRunBatch,
  SandboxRunWasm,
  SandboxRunPython,
  SandboxRunCircom,
  SandboxConfigure,
]);
export type HostToSandbox = z.infer<typeof HostToSandbox>;

/**
 * Failure kinds the sandbox itself can observe. `timeout` is always the host's call, and so is
 * `memory_limit` for JS; a wasm module's memory is bounded inside the sandbox, which sees it fill up.
 */
export const SandboxErrorKind = z.enum(['user_error', 'output_invalid', 'memory_limit', 'node_error']);
export type SandboxErrorKind = z.infer<typeof SandboxErrorKind>;

/** `TaskError`, restricted to what the sandbox reports. */
export const SandboxError = TaskError.extend({ kind: SandboxErrorKind });
export type SandboxError = z.infer<typeof SandboxError>;

/** Sent once, after SES `lockdown()`, when the worker accepts `run` messages. */
export const SandboxReady = z.object({
  type: z.literal('ready'),
  /** Time from the start of the worker's own code (after its imports) to ready: lockdown and set-up. */
  startupMs: z.number().nonnegative(),
});

const resultBase = {
  type: z.literal('result'),
  id: z.string(),
  logs: z.string(),
  /** Time spent in user code (evaluation, the call and serialization), measured inside the worker. */
  durationMs: z.number().nonnegative(),
  /** The worker cannot run another task (e.g. Pyodide after a fatal error): the host replaces it. */
  retire: z.literal(true).optional(),
};

export const SandboxResult = z.discriminatedUnion('ok', [
  z.object({
    ...resultBase,
    ok: z.literal(true),
    outputJson: z.string(),
    /** A `circom` task's Groth16 proof, as JSON text. */
    proofJson: z.string().optional(),
  }),
  z.object({ ...resultBase, ok: z.literal(false), error: SandboxError }),
]);
export type SandboxResult = z.infer<typeof SandboxResult>;

/** The worker cannot go on (a malformed message from the host): the host replaces it. */
export const SandboxFatal = z.object({
  type: z.literal('fatal'),
  message: z.string().max(4096),
});

/** The results of a `run.batch`, in the order of its runs. */
export const SandboxResults = z.object({
  type: z.literal('results'),
  results: z.array(SandboxResult).min(1).max(MAX_BATCH_RUNS),
});

export const SandboxToHost = z.discriminatedUnion('type', [
  SandboxReady,
  SandboxResult,
  SandboxResults,
  SandboxFatal,
]);
export type SandboxToHost = z.infer<typeof SandboxToHost>;

// Compile-time guard: every kind the sandbox reports is a TaskErrorKind.
const _kindsAreTaskErrorKinds: readonly TaskErrorKind[] = SandboxErrorKind.options;
void _kindsAreTaskErrorKinds;
