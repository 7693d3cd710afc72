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
}

/** A task handed to the executor, until its result is known. */
interface Pending {
  request: ExecRequest;
  signal: AbortSignal | undefined;
  resolve: (result: ExecResult) => void;
  /** Run alone, after a frame died while it ran beside others. */
  suspect: boolean;
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
  readonly runtimes: readonly Runtime[] = ['js', 'wasm', 'python'];
  readonly capacity: number;
  readonly #options: FrameExecutorOptions;
  #frame: SandboxFrame | undefined;
  /** Tasks waiting for the frame (for suspects to be cleared, or for a new frame). */
  readonly #queue: Pending[] = [];
  readonly #inFlight = new Set<Pending>();
  /** Frames lost so far. */
  lost = 0;
  /** Tasks run again alone after a frame was lost while they ran beside others. */
  rerunAlone = 0;
  #closed = false;

  constructor(options: FrameExecutorOptions) {
    this.#options = options;
    this.capacity = Math.max(
      1,
      Math.floor(options.workers ?? Math.max(1, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1)),
    );
    if (options.prewarm) this.#ensureFrame();
  }

  /** Resolves once a frame is up and its pool answers (rejects if it does not start). */
  async ready(): Promise<void> {
    await this.#ensureFrame().ready;
  }

  run(request: ExecRequest, signal?: AbortSignal): Promise<ExecResult> {
    if (this.#closed) return Promise.resolve(nodeError('the executor is closed'));
    if (signal?.aborted) return Promise.resolve(nodeError('aborted'));
    return new Promise<ExecResult>((resolve) => {
      const pending: Pending = { request, signal, resolve, suspect: false };
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
    this.#frame?.remove('closed');
    this.#frame = undefined;
  }

  /** Starts what may start: suspects one at a time and alone, others up to capacity. */
  #pump(): void {
    if (this.#closed) return;
    const alone = [...this.#inFlight].some((p) => p.suspect) || this.#queue.some((p) => p.suspect);
    while (this.#queue.length > 0) {
      if (alone && this.#inFlight.size > 0) return;
      if (this.#inFlight.size >= this.capacity) return;
      const at = alone ? this.#queue.findIndex((p) => p.suspect) : 0;
      const [pending] = this.#queue.splice(at, 1);
      if (!pending) return;
      this.#start(pending);
      if (alone) return;
    }
  }

  #start(pending: Pending): void {
    this.#inFlight.add(pending);
    const frame = this.#ensureFrame();
    frame
      .run(pending.request, pending.signal)
      .then((result) => {
        this.#inFlight.delete(pending);
        pending.resolve(result);
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
      onGone: (reason, started) => this.#lost(frame, reason, started),
    });
    this.#frame = frame;
    return frame;
  }

  /** The frame is gone: decide the fate of the tasks it ran, then go on in a new frame. */
  #lost(frame: SandboxFrame, reason: string, started: boolean): void {
    if (this.#frame === frame) this.#frame = undefined;
    if (this.#closed) return;
    const ran = [...this.#inFlight];
    this.#inFlight.clear();
    this.lost++;
    this.#options.onFrameLost?.({ running: ran.length, reason });
    if (!started) {
      // It never came up: nothing ran, no task is to blame.
      for (const pending of [...ran, ...this.#queue.splice(0)]) {
        pending.resolve(nodeError(`the sandbox frame did not start (${reason})`));
      }
      return;
    }
    if (ran.length === 1) {
      const [pending] = ran;
      pending!.resolve({
        ok: false,
        error: {
          kind: 'memory_limit',
          message: `the task ran out of memory: it took down the tab's sandbox (${reason}); a tab cannot hold a JavaScript task to its memoryMb of ${pending!.request.memoryMb} MB, only to the browser's own limit`,
        },
        logs: '',
        durationMs: 0,
      });
    } else {
      // Run each again alone, first: the one that takes its frame down alone is the culprit.
      for (const pending of ran) pending.suspect = true;
      this.rerunAlone += ran.length;
      this.#queue.unshift(...ran);
    }
    this.#pump();
  }
}

interface SandboxFrameOptions {
  url: string;
  container: HTMLElement;
  connect: FrameConnect;
  silenceMs: number;
  startupTimeoutMs: number;
  /** The frame is gone; `started` says whether it ever answered. */
  onGone(reason: string, started: boolean): void;
}

/** One sandbox frame: its element, its port, and the tasks it runs. */
class SandboxFrame {
  readonly ready: Promise<void>;
  gone = false;
  readonly #element: HTMLIFrameElement;
  readonly #port: MessagePort;
  readonly #options: SandboxFrameOptions;
  readonly #tasks = new Map<number, { resolve: (r: ExecResult) => void; reject: (e: Error) => void }>();
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
            this.remove(`no answer from ${new URL(options.url).origin} in ${options.startupTimeoutMs} ms`);
          }
        } else if (now - this.#lastBeat > options.silenceMs && ++quietChecks >= 2) {
          this.remove(`the sandbox frame stopped answering for ${options.silenceMs} ms`);
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
      this.#tasks.set(id, { resolve, reject });
      const onAbort = () => this.#post({ type: 'abort', id });
      signal?.addEventListener('abort', onAbort, { once: true });
      const { input: _, jobId, ...rest } = request;
      this.ready.then(
        () =>
          this.#post({
            type: 'run',
            id,
            ...rest,
            inputJson,
            ...(jobId !== undefined ? { jobId } : {}),
          }),
        () => {},
      );
    });
  }

  /** Takes the frame away; tasks still running in it are lost (their promises reject). */
  remove(reason: string): void {
    if (this.gone) return;
    this.gone = true;
    clearInterval(this.#watch);
    this.#port.close();
    this.#element.remove();
    this.#failReady(new Error(reason));
    for (const task of this.#tasks.values()) task.reject(new Error(reason));
    this.#tasks.clear();
    this.#options.onGone(reason, this.#started);
  }

  #post(message: PageToFrame): void {
    if (!this.gone) this.#port.postMessage(message);
  }

  #receive(raw: unknown): void {
    if (this.gone) return;
    const decoded = FrameToPage.safeParse(raw);
    if (!decoded.success) {
      this.remove(`the sandbox frame sent a malformed message: ${decoded.error.message.slice(0, 300)}`);
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
