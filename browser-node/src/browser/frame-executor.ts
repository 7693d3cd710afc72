import type { Runtime, NodeTaskError as TaskError } from '../../../protocol/job.ts';
import {
  FRAME_BEAT_MS,
  type FrameConnect,
  type FrameResult,
  FrameToPage,
  type PageToFrame,
  SANDBOX_FRAME_PROTOCOL,
} from '../../../protocol/sandbox-frame.ts';
import type { ExecRequest, ExecResult, Executor } from '../core/executor.ts';

export interface FrameExecutorOptions {
  /**
   * Origin of the sandbox frame: another site than the page's (another registrable domain, or
   * `127.0.0.1` beside `localhost`), so that Chromium's site isolation gives the frame a renderer
   * process of its own. It must serve the web app's `/sandbox.html`.
   */
  sandboxOrigin: string;
  /** Path of the frame's document on that origin. Default `/sandbox.html`. */
  framePath?: string;
  /** Sandbox workers, i.e. tasks at once. Default `hardwareConcurrency - 1` (at least 1). */
  workers?: number;
  /** Memory limit (MB) of workers started before any task asks. */
  warmMemoryMb?: number;
  /** Start the frame and its workers now rather than at the first task. Default false. */
  prewarm?: boolean;
  /** A frame silent this long after it beat once is gone. Default 5000 ms. */
  silenceMs?: number;
  /** A frame that has not beaten this long after it was added is given up. Default 60 000 ms. */
  startupTimeoutMs?: number;
  /** Called when a frame is lost, with how many tasks it was running. */
  onFrameLost?: (event: { running: number; reason: string }) => void;
  /** Where the frame is added. Default `document.body`. */
  container?: HTMLElement;
  /**
   * Where tasks go if the frame cannot start (the sandbox origin unreachable or blocked): e.g. a
   * `WebWorkerExecutor` in the page. Without it, such tasks fail as `node_error`.
   */
  fallback?: () => Executor;
}

/** A task handed to the executor, until its result is known. */
interface Pending {
  request: ExecRequest;
  signal: AbortSignal | undefined;
  resolve: (result: ExecResult) => void;
  /** Run alone, after a frame was lost while it ran. */
  suspect: boolean;
  /** Another task ran in the frame at the same time. */
  shared: boolean;
}

/**
 * Runs a tab's tasks in a sandbox frame: a `WebWorkerExecutor` inside a document of another
 * site (`sandbox-frame.ts` is its side), so a task whose memory runs out takes down the frame's
 * renderer process instead of the tab. A browser gives a page no way to cap or read a Web
 * Worker's JS heap (measured: `performance.memory` is absent in workers and
 * `measureUserAgentSpecificMemory` took 15 s and named no worker), so this is a JS task's memory
 * boundary in a tab; wasm and Python tasks are capped near `memoryMb` inside their workers too.
 *
 * When the frame stops beating, the executor starts a new one. A task that was running alone in
 * the lost frame failed with `memory_limit`. Tasks that were running together are run again, one
 * at a time, each alone in a frame (other tasks wait meanwhile): the one that takes its frame down
 * alone is the `memory_limit`, the others finish as they would have. Tasks are pure, so running
 * one again changes nothing but the time it takes.
 *
 * @example
 * const executor = new FrameExecutor({ sandboxOrigin: 'https://sandbox.example.net', workers: 2 });
 * const result = await executor.run({ runtime: 'js', code: 'export default (x) => x * 2',
 *   codeCid, input: 21, timeoutMs: 5000, memoryMb: 64, seed: 's', clock: Date.now() });
 */
export class FrameExecutor implements Executor {
  readonly runtimes: readonly Runtime[] = ['js', 'wasm', 'python', 'circom'];
  readonly capacity: number;
  readonly #options: FrameExecutorOptions;
  #frame: SandboxFrame | undefined;
  /** Tasks waiting for the frame (for suspects to be cleared, or for a new frame). */
  readonly #queue: Pending[] = [];
  readonly #inFlight = new Set<Pending>();
  /**
   * Code (by CID) that has taken a frame down alone: its tasks run alone from then on, so each one
   * costs one frame and no other task's work, however many such tasks a job has.
   */
  readonly #culprits = new Set<string>();
  /** The executor tasks go to once the frame could not start (`fallback`), and why. */
  #fallback: Executor | undefined;
  /** Why the frame could not start, once it could not (tasks then run in `fallback`). */
  fallbackReason: string | undefined;
  /** Frames lost so far (not counting one that never started). */
  lost = 0;
  /** Tasks run again alone after a frame was lost while they ran in it. */
  rerunAlone = 0;
  #closed = false;

  constructor(options: FrameExecutorOptions) {
    this.#options = options;
    const wanted = options.workers ?? Math.max(1, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1);
    this.capacity = Math.min(MAX_FRAME_WORKERS, Math.max(1, Math.floor(wanted)));
    if (options.prewarm) this.#ensureFrame();
  }

  /** Resolves once a frame is up and its pool answers (rejects if it does not start). */
  async ready(): Promise<void> {
    if (this.#closed) throw new Error('the executor is closed');
    if (this.#fallback) return;
    await this.#ensureFrame().ready;
  }

  run(request: ExecRequest, signal?: AbortSignal): Promise<ExecResult> {
    if (this.#closed) return Promise.resolve(nodeError('the executor is closed'));
    if (signal?.aborted) return Promise.resolve(nodeError('aborted'));
    if (this.#fallback) return this.#fallback.run(request, signal);
    return new Promise<ExecResult>((resolve) => {
      const pending: Pending = { request, signal, resolve, suspect: false, shared: false };
      signal?.addEventListener(
        'abort',
        () => {
          const at = this.#queue.indexOf(pending);
          if (at >= 0) {
            this.#queue.splice(at, 1);
            resolve(nodeError('aborted'));
          }
          // A task in flight is aborted in the frame, whose answer resolves it.
        },
        { once: true },
      );
      this.#queue.push(pending);
      this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const pending of [...this.#inFlight, ...this.#queue.splice(0)]) {
      pending.resolve(nodeError('the executor is closed'));
    }
    this.#inFlight.clear();
    this.#frame?.remove('closed', 'closed');
    this.#frame = undefined;
    await this.#fallback?.close();
  }

  /** Whether a task must run with no other task in its frame. */
  #isolated(pending: Pending): boolean {
    return pending.suspect || this.#culprits.has(pending.request.codeCid);
  }

  /**
   * Starts what may start: suspects first, one at a time and alone; tasks of culprit code alone,
   * in their turn; others up to capacity.
   */
  #pump(): void {
    if (this.#closed) return;
    for (;;) {
      const dropped = this.#queue.findIndex((p) => p.signal?.aborted);
      if (dropped >= 0) {
        this.#queue.splice(dropped, 1)[0]!.resolve(nodeError('aborted'));
        continue;
      }
      if (this.#queue.length === 0) return;
      if ([...this.#inFlight].some((p) => this.#isolated(p))) return;
      const suspect = this.#queue.findIndex((p) => p.suspect);
      const at = Math.max(suspect, 0);
      const next = this.#queue[at]!;
      if (this.#isolated(next) ? this.#inFlight.size > 0 : this.#inFlight.size >= this.capacity) return;
      this.#queue.splice(at, 1);
      this.#start(next);
    }
  }

  #start(pending: Pending): void {
    if (this.#inFlight.size > 0) {
      pending.shared = true;
      for (const other of this.#inFlight) other.shared = true;
    }
    this.#inFlight.add(pending);
    const frame = this.#ensureFrame();
    frame
      .run(pending.request, pending.signal)
      .then((result) => {
        this.#inFlight.delete(pending);
        // A typed array or string V8 refused while other tasks held memory in the same process
        // may be theirs to answer for: such a task runs again alone before it counts.
        if (!result.ok && result.error.kind === 'memory_limit' && pending.shared && !pending.suspect) {
          pending.suspect = true;
          this.rerunAlone++;
          this.#queue.unshift(pending);
        } else {
          pending.resolve(result);
        }
        this.#pump();
      })
      .catch(() => {
        // The frame was lost: `#lost` has decided this task's fate.
      });
  }

  #ensureFrame(): SandboxFrame {
    if (this.#frame && !this.#frame.gone) return this.#frame;
    const options = this.#options;
    const frame = new SandboxFrame({
      url: new URL(options.framePath ?? '/sandbox.html', options.sandboxOrigin).href,
      container: options.container ?? document.body,
      connect: {
        type: 'connect',
        protocol: SANDBOX_FRAME_PROTOCOL,
        workers: this.capacity,
        prewarm: options.prewarm ?? false,
        ...(options.warmMemoryMb !== undefined ? { warmMemoryMb: options.warmMemoryMb } : {}),
      },
      silenceMs: options.silenceMs ?? 5_000,
      startupTimeoutMs: options.startupTimeoutMs ?? 60_000,
      onGone: (reason, cause) => this.#lost(frame, reason, cause),
    });
    this.#frame = frame;
    return frame;
  }

  /** The frame is gone: decide the fate of the tasks it ran, then go on in a new frame. */
  #lost(frame: SandboxFrame, reason: string, cause: FrameLoss): void {
    if (this.#frame === frame) this.#frame = undefined;
    if (this.#closed || cause === 'closed') return;
    const ran = [...this.#inFlight];
    this.#inFlight.clear();
    const live = ran.filter((pending) => {
      if (!pending.signal?.aborted) return true;
      pending.resolve(nodeError('aborted'));
      return false;
    });
    if (cause === 'startup') {
      // It never came up (the sandbox origin unreachable or blocked): nothing ran, no task is to
      // blame. Run in the fallback from now on, if there is one, rather than fail every task.
      const waiting = [...live, ...this.#queue.splice(0)];
      this.fallbackReason = `the sandbox frame did not start (${reason})`;
      this.#fallback = this.#options.fallback?.();
      this.#options.onFrameLost?.({ running: 0, reason: this.fallbackReason });
      for (const pending of waiting) {
        if (this.#fallback) void this.#fallback.run(pending.request, pending.signal).then(pending.resolve);
        else pending.resolve(nodeError(this.fallbackReason));
      }
      if (!this.#fallback) this.fallbackReason = undefined; // try a frame again at the next task
      return;
    }
    this.lost++;
    this.#options.onFrameLost?.({ running: ran.length, reason });
    if (cause === 'broken') {
      // The frame misbehaved (a malformed message, a task it never answered): no task is to blame.
      for (const pending of live) pending.resolve(nodeError(`the sandbox frame failed (${reason})`));
    } else if (live.length === 1 && this.#isolated(live[0]!)) {
      // It went silent while this task ran alone, and the task had already been in a lost frame
      // (or its code had taken one down): this task is what the frame ran out of memory on.
      const [pending] = live;
      this.#culprits.add(pending!.request.codeCid);
      pending!.resolve({
        ok: false,
        error: {
          kind: 'memory_limit',
          message: `the task ran out of memory: alone in the tab's sandbox frame, it took the frame down (${reason}); a tab cannot hold a JavaScript task to its memoryMb of ${pending!.request.memoryMb} MB, only to the browser's own limit`,
        },
        logs: '',
        durationMs: 0,
      });
    } else {
      // Run each again alone, first: the one that takes its frame down alone is the culprit. (A
      // lone task too: a frame can also end for reasons of its own.)
      for (const pending of live) pending.suspect = true;
      this.rerunAlone += live.length;
      this.#queue.unshift(...live);
    }
    this.#pump();
  }
}

/** The most workers a frame runs (`FrameConnect.workers`). */
const MAX_FRAME_WORKERS = 64;

/** Why a frame went away. */
type FrameLoss = 'silent' | 'broken' | 'startup' | 'closed';

interface SandboxFrameOptions {
  url: string;
  container: HTMLElement;
  connect: FrameConnect;
  silenceMs: number;
  startupTimeoutMs: number;
  /** The frame is gone, and why: it never started, went silent, misbehaved, or was closed. */
  onGone(reason: string, cause: FrameLoss): void;
}

/** One sandbox frame: its element, its port, and the tasks it runs. */
class SandboxFrame {
  readonly ready: Promise<void>;
  gone = false;
  readonly #element: HTMLIFrameElement;
  readonly #port: MessagePort;
  readonly #options: SandboxFrameOptions;
  readonly #tasks = new Map<
    number,
    { resolve: (r: ExecResult) => void; reject: (e: Error) => void; end: () => void }
  >();
  #nextId = 0;
  #lastBeat = 0;
  /** A message arrived since the last check. */
  #heard = false;
  #started = false;
  readonly #watch: ReturnType<typeof setInterval>;
  #markReady: () => void = () => {};
  #failReady: (error: Error) => void = () => {};

  constructor(options: SandboxFrameOptions) {
    this.#options = options;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#markReady = resolve;
      this.#failReady = reject;
    });
    this.ready.catch(() => {});
    const channel = new MessageChannel();
    this.#port = channel.port1;
    this.#port.onmessage = (event) => this.#receive(event.data);
    const element = document.createElement('iframe');
    element.src = options.url;
    element.title = 'MonadMesh sandbox';
    // Shared memory in the frame too (the log mirror of a killed task), where the page has it.
    element.allow = 'cross-origin-isolated';
    element.setAttribute('aria-hidden', 'true');
    element.tabIndex = -1;
    element.style.cssText = 'position:absolute;width:0;height:0;border:0;visibility:hidden';
    element.addEventListener(
      'load',
      () => {
        element.contentWindow?.postMessage(options.connect, new URL(options.url).origin, [channel.port2]);
      },
      { once: true },
    );
    this.#element = element;
    const added = performance.now();
    // The frame is gone when it has been silent for `silenceMs` over two checks in a row with no
    // message in between: a page that was itself stopped (frozen, paused in a debugger, its timers
    // throttled in the background) may run a check before the beats that queued up meanwhile, and
    // must not take that for the frame's death.
    let quietChecks = 0;
    this.#watch = setInterval(
      () => {
        const now = performance.now();
        if (this.#heard) {
          this.#heard = false;
          quietChecks = 0;
          return;
        }
        if (!this.#started) {
          if (now - added > options.startupTimeoutMs) {
            this.remove(
              `no answer from ${new URL(options.url).origin} in ${options.startupTimeoutMs} ms`,
              'startup',
            );
          }
        } else if (now - this.#lastBeat > options.silenceMs && ++quietChecks >= 2) {
          this.remove(`the sandbox frame stopped answering for ${options.silenceMs} ms`, 'silent');
        }
      },
      Math.min(FRAME_BEAT_MS * 2, options.silenceMs),
    );
    options.container.appendChild(element);
  }

  run(request: ExecRequest, signal: AbortSignal | undefined): Promise<ExecResult> {
    if (this.gone) return Promise.reject(new Error('the frame is gone'));
    let inputJson: string;
    try {
      inputJson = JSON.stringify(request.input) ?? 'null';
    } catch (error) {
      return Promise.resolve(nodeError(`the input is not JSON: ${String(error)}`));
    }
    const id = this.#nextId++;
    return new Promise<ExecResult>((resolve, reject) => {
      const onAbort = () => this.#post({ type: 'abort', id });
      // A frame that keeps beating but never answers a task (it should answer every one, within
      // its time limit) is broken: after the limit, a cold start's worth and a grace, it goes.
      const limit = Math.min(2 ** 31 - 1, request.timeoutMs + this.#options.startupTimeoutMs + 30_000);
      const timer = setTimeout(() => this.remove(`task ${id} was never answered`, 'broken'), limit);
      const end = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.#tasks.set(id, { resolve, reject, end });
      signal?.addEventListener('abort', onAbort, { once: true });
      const { input: _, jobId, ...rest } = request;
      this.ready.then(
        () => {
          if (signal?.aborted) {
            this.#tasks.delete(id);
            end();
            resolve(nodeError('aborted'));
            return;
          }
          this.#post({ type: 'run', id, ...rest, inputJson, ...(jobId !== undefined ? { jobId } : {}) });
        },
        () => {},
      );
    });
  }

  /** Takes the frame away; tasks still running in it are lost (their promises reject). */
  remove(reason: string, cause: FrameLoss): void {
    if (this.gone) return;
    this.gone = true;
    clearInterval(this.#watch);
    this.#port.close();
    this.#element.remove();
    this.#failReady(new Error(reason));
    for (const task of this.#tasks.values()) {
      task.end();
      task.reject(new Error(reason));
    }
    this.#tasks.clear();
    this.#options.onGone(reason, this.#started || cause === 'closed' ? cause : 'startup');
  }

  #post(message: PageToFrame): void {
    if (!this.gone) this.#port.postMessage(message);
  }

  #receive(raw: unknown): void {
    if (this.gone) return;
    const decoded = FrameToPage.safeParse(raw);
    if (!decoded.success) {
      this.remove(
        `the sandbox frame sent a malformed message: ${decoded.error.message.slice(0, 300)}`,
        'broken',
      );
      return;
    }
    const message = decoded.data;
    this.#lastBeat = performance.now();
    this.#heard = true;
    switch (message.type) {
      case 'beat':
        this.#started = true;
        break;
      case 'ready':
        this.#started = true;
        this.#markReady();
        break;
      case 'result': {
        const task = this.#tasks.get(message.id);
        if (!task) return;
        this.#tasks.delete(message.id);
        task.end();
        task.resolve(toExecResult(message));
        break;
      }
    }
  }
}

function toExecResult(result: FrameResult): ExecResult {
  if (!result.ok) return { ok: false, error: result.error, logs: result.logs, durationMs: result.durationMs };
  try {
    return {
      ok: true,
      output: JSON.parse(result.outputJson),
      ...(result.proof ? { proof: result.proof } : {}),
      logs: result.logs,
      durationMs: result.durationMs,
    };
  } catch {
    return nodeError('the sandbox frame sent an output that is not JSON');
  }
}

function nodeError(message: string): ExecResult {
  const error: TaskError = { kind: 'node_error', message };
  return { ok: false, error, logs: '', durationMs: 0 };
}
