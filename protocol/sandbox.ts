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

/** Run one task: evaluate `code` (an ES module) in a fresh compartment and call its default export. */
export const SandboxRun = z.object({
  type: z.literal('run'),
  /** Chosen by the host, echoed in the result. */
  id: z.string().min(1).max(128),
  code: z.string(),
  /** Cache key for the compiled form of `code`. */
  codeCid: z.string().min(1).max(256),
  /** The task input as JSON text. */
  inputJson: z.string(),
  /** Seed of the task's `Math.random`. */
  seed: z.string().max(1024),
  /** What `Date.now()` returns inside the task. */
  clock: z.number().finite(),
  /**
   * Optional mirror of the task's console output, so the host can still report the logs of a task
   * it had to kill (timeout, memory). Layout: see `js-sandbox.ts` (`LogMirror`).
   */
  logMirror: SharedBuffer.optional(),
});
export type SandboxRun = z.infer<typeof SandboxRun>;

export const HostToSandbox = z.discriminatedUnion('type', [SandboxRun]);
export type HostToSandbox = z.infer<typeof HostToSandbox>;

/** Failure kinds the sandbox itself can observe; `timeout` and `memory_limit` are the host's call. */
export const SandboxErrorKind = z.enum(['user_error', 'output_invalid', 'node_error']);
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
};

export const SandboxResult = z.discriminatedUnion('ok', [
  z.object({ ...resultBase, ok: z.literal(true), outputJson: z.string() }),
  z.object({ ...resultBase, ok: z.literal(false), error: SandboxError }),
]);
export type SandboxResult = z.infer<typeof SandboxResult>;

/** The worker cannot go on (a malformed message from the host): the host replaces it. */
export const SandboxFatal = z.object({
  type: z.literal('fatal'),
  message: z.string().max(4096),
});

export const SandboxToHost = z.discriminatedUnion('type', [SandboxReady, SandboxResult, SandboxFatal]);
export type SandboxToHost = z.infer<typeof SandboxToHost>;

// Compile-time guard: every kind the sandbox reports is a TaskErrorKind.
const _kindsAreTaskErrorKinds: readonly TaskErrorKind[] = SandboxErrorKind.options;
void _kindsAreTaskErrorKinds;
