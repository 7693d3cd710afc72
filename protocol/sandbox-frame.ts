import { z } from 'zod';
import { Groth16Proof } from './circuit.ts';
import { NodeTaskError, Runtime } from './job.ts';

/**
 * Messages between a contributing tab and its sandbox frame: a document of another site (so
 * Chromium gives it a renderer process of its own) that runs the tab's sandbox workers. A task
 * that exhausts memory there takes down the frame's process, not the tab; the tab sees the
 * frame's heartbeat stop, fails the task as `memory_limit` and starts a new frame
 * (`browser-node/src/browser/frame-executor.ts`, the frame's side `sandbox-frame.ts`).
 *
 * The tab connects with a `window.postMessage` of `FrameConnect` carrying a `MessagePort`; every
 * message after that goes over the port. Both sides decode what they receive with these schemas.
 * Inputs and outputs cross as JSON text, as between a host and its sandbox workers.
 */

export const SANDBOX_FRAME_PROTOCOL = 'monadmesh-sandbox-frame/1';

/** The first message, to the frame's window, with a port (the one that carries everything else). */
export const FrameConnect = z.object({
  type: z.literal('connect'),
  protocol: z.literal(SANDBOX_FRAME_PROTOCOL),
  /** Sandbox workers, i.e. tasks at once. */
  workers: z.int().min(1).max(64),
  /** Start the workers at once (a contributing tab) rather than at the first task. */
  prewarm: z.boolean(),
  /** Memory limit (MB) of workers started before any task asks. */
  warmMemoryMb: z.int().min(1).max(65_536).optional(),
});
export type FrameConnect = z.infer<typeof FrameConnect>;

/** One task, as `ExecRequest` with its input as JSON text. */
export const FrameRun = z.object({
  type: z.literal('run'),
  id: z.int().nonnegative(),
  runtime: Runtime,
  code: z.union([
    z.string(),
    z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'expected bytes' }),
  ]),
  codeCid: z.string().min(1).max(256),
  inputJson: z.string(),
  timeoutMs: z.number().positive(),
  memoryMb: z.number().positive(),
  seed: z.string().max(1024),
  clock: z.number().finite(),
  jobId: z.string().max(256).optional(),
  /** A `circom` task's witness calculator and proving key. */
  circuit: z
    .object({
      wasm: z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'expected bytes' }),
      zkey: z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'expected bytes' }),
    })
    .optional(),
});
export type FrameRun = z.infer<typeof FrameRun>;

export const FrameAbort = z.object({ type: z.literal('abort'), id: z.int().nonnegative() });

export const PageToFrame = z.discriminatedUnion('type', [FrameRun, FrameAbort]);
export type PageToFrame = z.infer<typeof PageToFrame>;

/** The frame's pool exists and takes tasks (its workers start in the background). */
export const FrameReady = z.object({
  type: z.literal('ready'),
  runtimes: z.array(Runtime),
  capacity: z.int().min(1),
});

/** Sent every `FRAME_BEAT_MS` while the frame lives. */
export const FrameBeat = z.object({ type: z.literal('beat') });

const frameResultBase = {
  type: z.literal('result'),
  id: z.int().nonnegative(),
  logs: z.string(),
  durationMs: z.number().nonnegative(),
};
export const FrameResult = z.discriminatedUnion('ok', [
  z.object({
    ...frameResultBase,
    ok: z.literal(true),
    outputJson: z.string(),
    proof: Groth16Proof.optional(),
  }),
  z.object({ ...frameResultBase, ok: z.literal(false), error: NodeTaskError }),
]);
export type FrameResult = z.infer<typeof FrameResult>;

export const FrameToPage = z.union([FrameReady, FrameBeat, FrameResult]);
export type FrameToPage = z.infer<typeof FrameToPage>;

/** How often a frame beats. */
export const FRAME_BEAT_MS = 250;
