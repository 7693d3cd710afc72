import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { JsonValue, Runtime, TaskError } from '../../../protocol/job.ts';
import { jobDefaults } from '../../../protocol/limits.ts';
import { type HostToSandbox, type SandboxResult, SandboxToHost } from '../../../protocol/sandbox.ts';
import { WASM_PAGE_BYTES } from '../../../protocol/wasm.ts';
import type { ExecRequest, ExecResult, Executor } from '../core/executor.ts';
import { LogMirror } from '../core/task-logs.ts';

export interface ThreadExecutorOptions {
  /** Worker threads, i.e. tasks at once. Default: `os.availableParallelism()`. */
  threads?: number;
  /** Heap limit (MB) of workers started before any task asks; default the job default (128). */
  warmMemoryMb?: number;
  /** Start the workers in the constructor rather than at the first task. Default true. */
  prewarm?: boolean;
  /**
   * Heap (MB) a worker needs for itself (SES, zod, acorn: ~19 MB used after start) on top of a
   * task's `memoryMb`, so that a task gets about what it asked for. Default 24.
   */
  runtimeHeapMb?: number;
  /** How often a running task's off-heap memory (ArrayBuffers) is checked, in ms. Default 20. */
  memoryPollMs?: number;
  /** A worker that is not ready after this long is given up. Default 30 000 ms. */
  startupTimeoutMs?: number;
}

/**
 * Runs JS and WebAssembly tasks in a pool of `worker_threads` workers, each locked down by SES once
 * and kept warm; every JS task gets a new Compartment inside a warm worker (see `js-sandbox.ts`),
 * every wasm task a new instance of its module, compiled once per worker (`wasm-sandbox.ts`).
 * Limits the worker cannot enforce on itself are enforced here, from outside: time (a timer, then
 * `terminate()`: this stops a wasm loop as well as a JS one), heap (V8 `resourceLimits`, the worker
 * dies with `ERR_WORKER_OUT_OF_MEMORY`) and off-heap memory (ArrayBuffers are not in the V8 heap
 * limit, so a watchdog polls the worker's heap statistics). A wasm module's memory is bounded inside
 * the worker instead, by its maximum (see `wasm-memory-limit.ts`). A worker that was terminated or
 * died is replaced at once, so the pool stays warm.
 *
 * @example
 * const executor = new ThreadExecutor({ threads: 2 });
 * const result = await executor.run({ runtime: 'js', code: 'export default (x) => x + 1', codeCid,
 *   input: 41, timeoutMs: 1000, memoryMb: 64, seed: 's', clock: Date.now() });
 * await executor.close();
 */
export class ThreadExecutor implements Executor {
  readonly runtimes: readonly Runtime[] = ['js', 'wasm', 'python'];
  readonly capacity: number;
  readonly #options: Required<Omit<ThreadExecutorOptions, 'threads' | 'prewarm'>>;
  readonly #slots: Slot[];
  readonly #queue: Queued[] = [];
  #closed = false;

  constructor(options: ThreadExecutorOptions = {}) {
    this.capacity = Math.max(1, Math.floor(options.threads ?? os.availableParallelism()));
    this.#options = {
      warmMemoryMb: options.warmMemoryMb ?? jobDefaults.memoryMb,
      runtimeHeapMb: options.runtimeHeapMb ?? 24,
      memoryPollMs: options.memoryPollMs ?? 20,
      startupTimeoutMs: options.startupTimeoutMs ?? 30_000,
    };
    this.#slots = Array.from({ length: this.capacity }, () => ({ busy: false, thread: undefined }));
    if (options.prewarm ?? true) {
      for (const slot of this.#slots) slot.thread = this.#spawn(this.#options.warmMemoryMb);
    }
  }

  run(request: ExecRequest, signal?: AbortSignal): Promise<ExecResult> {
    if (this.#closed) return Promise.resolve(nodeError('the executor is closed'));
    if (!this.runtimes.includes(request.runtime)) {
      return Promise.resolve(nodeError(`runtime ${request.runtime} is not supported by this executor`));
    }
    if (signal?.aborted) return Promise.resolve(nodeError('aborted'));
    return new Promise((resolve) => {
      const entry: Queued = { request, signal, resolve, onAbort: () => {} };
      entry.onAbort = () => {
        const index = this.#queue.indexOf(entry);
        if (index === -1) return;
        this.#queue.splice(index, 1);
        resolve(nodeError('aborted'));
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      this.#queue.push(entry);
      this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#queue.splice(0)) {
      entry.signal?.removeEventListener('abort', entry.onAbort);
      entry.resolve(nodeError('the executor is closed'));
    }
    await Promise.all(this.#slots.map((slot) => slot.thread?.kill(nodeErrorOf('the executor is closed'))));
  }

  #pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const free = this.#slots.filter((slot) => !slot.busy);
      if (free.length === 0) return;
      const entry = this.#queue.shift()!;
      entry.signal?.removeEventListener('abort', entry.onAbort);
      const { memoryMb } = entry.request;
      const kind = workerKindOf(entry.request.runtime);
      // Prefer a warm worker of the right kind and heap limit; respawning one costs a cold start.
      const slot =
        free.find((s) => s.thread?.alive && s.thread.kind === kind && s.thread.memoryMb === memoryMb) ??
        free.find((s) => !s.thread?.alive) ??
        free[0]!;
      slot.busy = true;
      this.#execute(slot, entry.request, entry.signal)
        .catch((error: unknown) => nodeError(`sandbox failure: ${String(error)}`))
        .then((result) => {
          slot.busy = false;
          entry.resolve(result);
          this.#pump();
        });
    }
  }

  async #execute(slot: Slot, request: ExecRequest, signal: AbortSignal | undefined): Promise<ExecResult> {
    if (signal?.aborted) return nodeError('aborted');
    const kind = workerKindOf(request.runtime);
    if (!slot.thread?.alive || slot.thread.memoryMb !== request.memoryMb || slot.thread.kind !== kind) {
      void slot.thread?.kill(nodeErrorOf('replaced'));
      slot.thread = this.#spawn(request.memoryMb, kind);
    }
    const thread = slot.thread;
    try {
      await withAbort(thread.ready, signal);
    } catch (error) {
      if (signal?.aborted) return nodeError('aborted');
      slot.thread = undefined; // respawned by the next task, not in a loop
      return nodeError(`the sandbox worker failed to start: ${String(error)}`);
    }
    const result = await thread.run(request, signal);
    if (!thread.alive && slot.thread === thread && !this.#closed) {
      slot.thread = this.#spawn(thread.memoryMb, thread.kind);
    }
    return result;
  }

  #spawn(memoryMb: number, kind: WorkerKind = 'ses'): SandboxThread {
    return new SandboxThread(memoryMb, kind, this.#options);
  }
}

/**
 * JS and wasm tasks share SES workers; Python has workers of its own (Pyodide does not load after
 * lockdown, see `python-worker.ts`), started lazily since Pyodide costs seconds to load.
 */
type WorkerKind = 'ses' | 'python';

function workerKindOf(runtime: Runtime): WorkerKind {
  return runtime === 'python' ? 'python' : 'ses';
}

interface Slot {
  busy: boolean;
  thread: SandboxThread | undefined;
}

interface Queued {
  request: ExecRequest;
  signal: AbortSignal | undefined;
  resolve: (result: ExecResult) => void;
  onAbort: () => void;
}

type Options = Required<Omit<ThreadExecutorOptions, 'threads' | 'prewarm'>>;

let nextTaskId = 0;

/** One worker and the task it runs, if any. */
class SandboxThread {
  readonly memoryMb: number;
  readonly kind: WorkerKind;
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  readonly #options: Options;
  readonly #logMirror = LogMirror.allocate();
  #alive = true;
  /** Why the worker is going away, when we know better than its exit code. */
  #death: TaskError | undefined;
  #exited: Promise<void>;
  #onResult: ((result: SandboxResult) => void) | undefined;
  #onExit: (() => void) | undefined;
  #externalBaseline = 0;
  /** The worker's own external memory when it became ready. */
  #startBaseline = 0;
  /** A wasm task ran since the baseline was taken (see `#rebaseline`). */
  #ranWasm = false;

  constructor(memoryMb: number, kind: WorkerKind, options: Options) {
    this.memoryMb = memoryMb;
    this.kind = kind;
    this.#options = options;
    const entry = kind === 'python' ? './python-worker.ts' : './sandbox-worker.ts';
    this.#worker = new Worker(new URL(entry, import.meta.url), {
      name: `monadmesh-sandbox-${kind}`,
      // Nothing of the host's process leaks in, even to the worker's own (non-task) code.
      env: {},
      argv: [],
      execArgv: [],
      stdin: false,
      resourceLimits: {
        maxOldGenerationSizeMb: memoryMb + options.runtimeHeapMb,
        maxYoungGenerationSizeMb: Math.min(16, Math.max(4, Math.round(memoryMb / 8))),
        stackSizeMb: 4,
      },
    });
    // An idle pool must not keep the process alive; a running task's timer does.
    this.#worker.unref();

    let markReady: () => void = () => {};
    let failStart: (error: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    this.ready.catch(() => {}); // observed by whoever awaits it
    const startTimer = setTimeout(() => {
      failStart(new Error(`not ready after ${options.startupTimeoutMs} ms`));
      void this.kill(nodeErrorOf('the sandbox worker did not start'));
    }, options.startupTimeoutMs);
    startTimer.unref();

    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.on('message', (raw: unknown) => {
      const decoded = SandboxToHost.safeParse(raw);
      if (!decoded.success) {
        void this.kill(
          nodeErrorOf(`the sandbox sent a malformed message: ${decoded.error.message.slice(0, 500)}`),
        );
        return;
      }
      const message = decoded.data;
      switch (message.type) {
        case 'ready':
          clearTimeout(startTimer);
          this.#worker
            .getHeapStatistics()
            .then((stats) => {
              this.#externalBaseline = stats.external_memory;
              this.#startBaseline = stats.external_memory;
            })
            .catch(() => {})
            .finally(markReady);
          break;
        case 'result':
          this.#onResult?.(message);
          break;
        case 'fatal':
          void this.kill(nodeErrorOf(`the sandbox failed: ${message.message}`));
          break;
      }
    });
    this.#worker.on('messageerror', (error) => {
      void this.kill(nodeErrorOf(`a message from the sandbox could not be decoded: ${error.message}`));
    });
    this.#worker.on('error', (error: Error & { code?: string }) => {
      this.#death ??=
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? { kind: 'memory_limit', message: `task exceeded its memory limit of ${memoryMb} MB` }
          : nodeErrorOf(`the sandbox worker crashed: ${error.message}`);
    });
    this.#worker.on('exit', (code) => {
      clearTimeout(startTimer);
      this.#alive = false;
      this.#death ??= nodeErrorOf(`the sandbox worker exited unexpectedly (code ${code})`);
      failStart(new Error(this.#death.message));
      this.#onExit?.();
    });
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Terminates the worker; a running task ends with `reason`. */
  async kill(reason: TaskError): Promise<void> {
    this.#death ??= reason;
    this.#alive = false;
    await this.#worker.terminate();
    await this.#exited;
  }

  /** Runs one task; the worker must be ready and idle. */
  async run(request: ExecRequest, signal: AbortSignal | undefined): Promise<ExecResult> {
    const id = `t${++nextTaskId}`;

    let inputJson: string;
    try {
      inputJson = JSON.stringify(request.input) ?? 'null';
    } catch (error) {
      return nodeError(`the input is not JSON: ${String(error)}`);
    }
    // What every runtime's message carries; JS and Python code travel as text, wasm as bytes.
    const common = {
      id,
      codeCid: request.codeCid,
      inputJson,
      seed: request.seed,
      clock: request.clock,
      logMirror: this.#logMirror,
    };
    const text = () =>
      typeof request.code === 'string' ? request.code : new TextDecoder().decode(request.code);
    let message: HostToSandbox;
    if (request.runtime === 'wasm') {
      if (typeof request.code === 'string') return nodeError('the code of a wasm task must be bytes');
      message = {
        type: 'run.wasm',
        ...common,
        code: request.code,
        maxMemoryPages: Math.floor((request.memoryMb * 1024 * 1024) / WASM_PAGE_BYTES),
      };
      this.#ranWasm = true;
    } else if (request.runtime === 'python') {
      // Pyodide's wasm memory never shrinks: a task may use `memoryMb` beyond what is there now.
      this.#ranWasm = true;
      await this.#rebaseline();
      if (signal?.aborted) return nodeError('aborted');
      message = { type: 'run.python', ...common, code: text() };
    } else {
      if (this.#ranWasm) {
        await this.#rebaseline();
        if (signal?.aborted) return nodeError('aborted');
      }
      message = { type: 'run', ...common, code: text() };
    }
    // A wasm module's memory is capped by its maximum inside the worker; it is external memory
    // too, so the off-heap watchdog would count it twice (and count the memories of finished
    // tasks that V8 has not collected yet). The watchdog is for JS tasks' ArrayBuffers.
    const watchMemory = request.runtime !== 'wasm';
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    const memoryLimitBytes = this.#externalBaseline + this.memoryMb * 1024 * 1024;

    return new Promise<ExecResult>((resolve) => {
      let settled = false;
      const cleanup = () => {
        settled = true;
        clearTimeout(timer);
        clearInterval(poll);
        signal?.removeEventListener('abort', onAbort);
        this.#onResult = undefined;
        this.#onExit = undefined;
      };
      // Logs of a task that did not report are read from the mirror once its worker is gone.
      const endWithDeath = () => {
        if (settled) return;
        cleanup();
        const error = this.#death ?? nodeErrorOf('the sandbox worker died');
        resolve({ ok: false, error, logs: LogMirror.read(this.#logMirror), durationMs: elapsed() });
      };
      const stop = (reason: TaskError) => {
        if (settled) return;
        this.#death ??= reason;
        this.kill(reason).then(endWithDeath, endWithDeath);
      };
      const onAbort = () => stop(nodeErrorOf('aborted'));

      this.#onExit = endWithDeath;
      this.#onResult = (result) => {
        if (settled || this.#death) return;
        if (result.id !== id) {
          stop(nodeErrorOf(`the sandbox answered task ${result.id} while running ${id}`));
          return;
        }
        cleanup();
        if (result.retire) void this.kill(nodeErrorOf('the sandbox asked to be replaced'));
        resolve(toExecResult(result));
      };

      const timeoutMs = Math.min(Math.max(1, request.timeoutMs), 2 ** 31 - 1);
      const timer = setTimeout(
        () => stop({ kind: 'timeout', message: `task exceeded its time limit of ${request.timeoutMs} ms` }),
        timeoutMs,
      );
      let polling = false;
      const poll = setInterval(() => {
        if (polling || !watchMemory) return;
        polling = true;
        this.#worker
          .getHeapStatistics()
          .then((stats) => {
            if (stats.external_memory > memoryLimitBytes) {
              stop({
                kind: 'memory_limit',
                message: `task exceeded its memory limit of ${this.memoryMb} MB`,
              });
            }
          })
          .catch(() => {})
          .finally(() => {
            polling = false;
          });
      }, this.#options.memoryPollMs);
      signal?.addEventListener('abort', onAbort, { once: true });

      if (!this.#alive) {
        endWithDeath();
        return;
      }
      this.#worker.postMessage(message);
    });
  }

  /**
   * Wasm memories of finished tasks stay in the worker's external memory until V8 collects them,
   * which a JS task's watchdog would charge to the JS task. So the first JS task after wasm ones
   * measures from what is there now (never less than the worker's own, taken at start). This errs
   * on the lenient side by what V8 has yet to collect; the heap limit still holds.
   */
  async #rebaseline(): Promise<void> {
    this.#ranWasm = false;
    try {
      const stats = await this.#worker.getHeapStatistics();
      this.#externalBaseline = Math.max(this.#startBaseline, stats.external_memory);
    } catch {
      // The worker is gone; the task will find out.
    }
  }
}

function toExecResult(result: SandboxResult): ExecResult {
  if (!result.ok) return { ok: false, error: result.error, logs: result.logs, durationMs: result.durationMs };
  let output: JsonValue;
  try {
    output = JSON.parse(result.outputJson) as JsonValue;
  } catch {
    return {
      ok: false,
      error: nodeErrorOf('the sandbox sent invalid JSON'),
      logs: result.logs,
      durationMs: 0,
    };
  }
  return { ok: true, output, logs: result.logs, durationMs: result.durationMs };
}

function nodeErrorOf(message: string): TaskError {
  return { kind: 'node_error', message };
}

function nodeError(message: string): ExecResult {
  return { ok: false, error: nodeErrorOf(message), logs: '', durationMs: 0 };
}

/** `promise`, or a rejection as soon as `signal` aborts. */
function withAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
