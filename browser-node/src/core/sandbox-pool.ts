import { Groth16Proof } from '../../../protocol/circuit.ts';
import type { JsonValue, Runtime, NodeTaskError as TaskError } from '../../../protocol/job.ts';
import { jobDefaults } from '../../../protocol/limits.ts';
import {
  type HostToSandbox,
  MAX_BATCH_RUNS,
  type SandboxResult,
  type SandboxRun,
  SandboxToHost,
} from '../../../protocol/sandbox.ts';
import { WASM_PAGE_BYTES } from '../../../protocol/wasm.ts';
import type { ExecRequest, ExecResult, Executor } from './executor.ts';
import { LogMirror } from './task-logs.ts';

/**
 * JS and wasm tasks share SES workers; Python has workers of its own (Pyodide does not load after
 * lockdown), started lazily since Pyodide costs seconds to load; so do circom tasks (snarkjs
 * compiles WebAssembly and builds its curve at start, which SES's frozen intrinsics do not allow).
 */
export type SandboxKind = 'ses' | 'python' | 'circom';

export function sandboxKindOf(runtime: Runtime): SandboxKind {
  return runtime === 'python' ? 'python' : runtime === 'circom' ? 'circom' : 'ses';
}

/** What a worker tells its host, already translated from the host's own event API. */
export interface HostWorkerEvents {
  message(raw: unknown): void;
  /** The worker failed in a way that ends it (out of memory, an uncaught error). */
  crash(error: TaskError): void;
  /** The worker is gone. Called once, after `terminate()` too. */
  exit(): void;
}

/** One worker of a host: a `worker_threads` worker or a child process headless, a Web Worker in a tab. */
export interface HostWorker {
  post(message: HostToSandbox): void;
  /** Ends the worker; resolves once it is gone (and `exit` was called). */
  terminate(): Promise<void>;
  /**
   * Bytes of the worker's memory outside its JS heap (ArrayBuffers, wasm memories), where the host
   * can read it from outside while the worker is busy (Node: `getHeapStatistics`). Without it,
   * only the limits the worker enforces itself apply.
   */
  externalMemory?(): Promise<number>;
  /**
   * `externalMemory` is the whole process's resident memory (a sandbox process): each task is
   * measured from what the process holds when it starts, and wasm tasks are watched too.
   */
  measuresProcess?: boolean;
  /**
   * Bytes a task may hold beyond its `memoryMb` before the watchdog stops it: for a process, what
   * V8 lets the heap grow to before it collects (the runtime's own heap, the young generation).
   */
  memorySlackBytes?: number;
  /**
   * Move the worker's kernel memory limit to `bytes` (the watchdog's limit for the next task);
   * hosts without one leave it out.
   */
  setMemoryCeiling?(bytes: number): void;
  /** The logs the worker mirrored to the host for its current task, where the host keeps them itself. */
  logs?(): string;
}

/** How a host starts workers: the only part of a pool that differs between Node and a browser. */
export interface SandboxHost {
  spawn(kind: SandboxKind, memoryMb: number, events: HostWorkerEvents): HostWorker;
  /** A log mirror for a new worker, if the host has shared memory (see `LogMirror`). */
  logMirror(): SharedArrayBuffer | undefined;
}

export interface SandboxPoolOptions {
  /** Tasks at once (one worker each). */
  capacity: number;
  runtimes: readonly Runtime[];
  /** Memory limit (MB) of workers started before any task asks; default the job default (128). */
  warmMemoryMb?: number;
  /** Start the workers at once rather than at the first task. Default true. */
  prewarm?: boolean;
  /** How often a running task's off-heap memory is checked (hosts with `externalMemory`), in ms. Default 20. */
  memoryPollMs?: number;
  /** A worker that is not ready after this long is given up. Default 30 000 ms. */
  startupTimeoutMs?: number;
  /**
   * The most quick JS tasks of one code sent to a worker in one message (`run.batch`). Default 1
   * (no batches): worth it where a message costs more than a quick task (a process).
   */
  batch?: number;
}

/** A code whose tasks took under this long each (on average, in the sandbox) is batched. */
export const BATCH_TASK_MS = 1;
/** Codes whose batch failed, kept so that their tasks are never batched again. */
const UNBATCHED_CODES = 256;

type Limits = Required<Pick<SandboxPoolOptions, 'memoryPollMs' | 'startupTimeoutMs'>>;

/**
 * A pool of sandbox workers that runs tasks, the same in every host. The host only starts workers
 * (`SandboxHost`); everything else is here: a queue, warm workers kept per kind and memory limit,
 * the run protocol (`protocol/sandbox.ts`, decoded on receipt), the time limit (a timer, then
 * `terminate()`: this stops a wasm or Python loop as well as a JS one), an off-heap memory
 * watchdog where the host can measure it, aborts, and replacing a worker that was terminated or
 * died at once, so the pool stays warm.
 */
export class SandboxPool implements Executor {
  readonly runtimes: readonly Runtime[];
  readonly capacity: number;
  readonly batch: number;
  readonly #host: SandboxHost;
  readonly #limits: Limits;
  readonly #slots: Slot[];
  readonly #queue: Queued[] = [];
  /**
   * Warm workers displaced from a slot by a task of another kind or memory limit, at most one per
   * kind (the newest): a node that alternates Python and JS/wasm tasks swaps them back instead of
   * paying Pyodide's cold start (~2 s) at every switch. Idle, they cost memory, not CPU.
   */
  readonly #parked = new Map<SandboxKind, SandboxWorker>();
  /** Each JS code's recent time per task in the sandbox (ms), which decides whether to batch it. */
  readonly #codeMs = new Map<string, number>();
  /** Codes whose batch failed (a time limit, memory, a crash): their tasks run one by one. */
  readonly #unbatched = new Set<string>();
  #closed = false;
  /** Batches sent, and those that failed as a whole (their tasks then ran one by one). */
  readonly batches = { sent: 0, failed: 0 };

  constructor(host: SandboxHost, options: SandboxPoolOptions) {
    this.#host = host;
    this.runtimes = options.runtimes;
    this.capacity = Math.max(1, Math.floor(options.capacity));
    this.batch = Math.min(MAX_BATCH_RUNS, Math.max(1, Math.floor(options.batch ?? 1)));
    this.#limits = {
      memoryPollMs: options.memoryPollMs ?? 20,
      startupTimeoutMs: options.startupTimeoutMs ?? 30_000,
    };
    this.#slots = Array.from({ length: this.capacity }, () => ({ busy: false, worker: undefined }));
    if (options.prewarm ?? true) {
      const memoryMb = options.warmMemoryMb ?? jobDefaults.memoryMb;
      const kind = this.runtimes.includes('js') || this.runtimes.includes('wasm') ? 'ses' : 'python';
      for (const slot of this.#slots) slot.worker = this.#spawn(kind, memoryMb);
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

  waiting(signal: AbortSignal): boolean {
    return this.#queue.some((entry) => entry.signal === signal);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#queue.splice(0)) {
      entry.signal?.removeEventListener('abort', entry.onAbort);
      entry.resolve(nodeError('the executor is closed'));
    }
    const parked = [...this.#parked.values()];
    this.#parked.clear();
    await Promise.all(
      [...this.#slots.map((slot) => slot.worker), ...parked].map((w) =>
        w?.kill(nodeErrorOf('the executor is closed')),
      ),
    );
  }

  #pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const free = this.#slots.filter((slot) => !slot.busy);
      if (free.length === 0) return;
      const entry = this.#queue.shift()!;
      entry.signal?.removeEventListener('abort', entry.onAbort);
      const { memoryMb } = entry.request;
      const kind = sandboxKindOf(entry.request.runtime);
      // Prefer a warm worker of the right kind, memory limit and job; starting one costs a cold start.
      const slot =
        free.find((s) => s.worker?.alive && fits(s.worker, kind, memoryMb, entry.request.jobId)) ??
        free.find((s) => !s.worker?.alive) ??
        free[0]!;
      slot.busy = true;
      const batch = this.#batchOf(entry);
      if (batch.length > 1) {
        this.#executeBatch(slot, batch)
          .catch((error: unknown) => {
            const result = nodeError(`sandbox failure: ${String(error)}`);
            for (const queued of batch) queued.resolve(result);
          })
          .then(() => {
            slot.busy = false;
            this.#pump();
          });
        continue;
      }
      this.#execute(slot, entry.request, entry.signal)
        .catch((error: unknown) => nodeError(`sandbox failure: ${String(error)}`))
        .then((result) => {
          slot.busy = false;
          if (entry.request.runtime === 'js' && result.durationMs > 0) this.#learn(entry.request, result);
          entry.resolve(result);
          this.#pump();
        });
    }
  }

  /**
   * `entry` and the queued tasks that may go with it in one message: JS tasks of the same code,
   * job and limits, when the pool batches, the code's tasks are known to be quick, and no batch of
   * it failed before.
   */
  #batchOf(entry: Queued): Queued[] {
    const { request } = entry;
    const batch = [entry];
    if (this.batch < 2 || request.runtime !== 'js' || this.#unbatched.has(request.codeCid)) return batch;
    const ms = this.#codeMs.get(request.codeCid);
    if (ms === undefined || ms >= BATCH_TASK_MS) return batch;
    for (let i = 0; i < this.#queue.length && batch.length < this.batch; ) {
      const other = this.#queue[i]!;
      if (sameBatch(request, other.request)) {
        this.#queue.splice(i, 1);
        other.signal?.removeEventListener('abort', other.onAbort);
        batch.push(other);
      } else {
        i++;
      }
    }
    return batch;
  }

  #learn(request: ExecRequest, result: ExecResult): void {
    const before = this.#codeMs.get(request.codeCid);
    this.#codeMs.delete(request.codeCid);
    this.#codeMs.set(
      request.codeCid,
      before === undefined ? result.durationMs : before * 0.8 + result.durationMs * 0.2,
    );
    if (this.#codeMs.size > 64) this.#codeMs.delete(this.#codeMs.keys().next().value!);
  }

  /**
   * Runs `batch` in one message. Should the batch fail as a whole (its time limit, which is one
   * task's, memory, a crash or an abort), its worker is gone and nothing of it counts: the code is
   * never batched again, and its tasks go back to the front of the queue to run one by one, each
   * under its own limits, so a failure is only ever charged to the task that caused it.
   */
  async #executeBatch(slot: Slot, batch: Queued[]): Promise<void> {
    const first = batch[0]!.request;
    const started = performance.now();
    const worker = await this.#workerFor(slot, first, undefined);
    if (typeof worker === 'string') {
      for (const queued of batch) queued.resolve(nodeError(worker));
      return;
    }
    this.batches.sent++;
    const results = await worker.runBatch(
      batch.map((queued) => queued.request),
      batch.map((queued) => queued.signal),
    );
    await this.#afterTask(slot, worker);
    if (results) {
      const slotMs = (performance.now() - started) / batch.length;
      batch.forEach((queued, i) => {
        const result = { ...results[i]!, slotMs };
        this.#learn(queued.request, result);
        queued.resolve(result);
      });
      return;
    }
    this.batches.failed++;
    // An abort (a revoked lease) or the pool closing says nothing about the code.
    if (!this.#closed && !batch.some((queued) => queued.signal?.aborted)) {
      this.#unbatched.add(first.codeCid);
      if (this.#unbatched.size > UNBATCHED_CODES)
        this.#unbatched.delete(this.#unbatched.values().next().value!);
    }
    const again: Queued[] = [];
    for (const queued of batch) {
      if (queued.signal?.aborted || this.#closed) {
        queued.resolve(nodeError(this.#closed ? 'the executor is closed' : 'aborted'));
        continue;
      }
      queued.signal?.addEventListener('abort', queued.onAbort, { once: true });
      again.push(queued);
    }
    this.#queue.unshift(...again);
  }

  async #execute(slot: Slot, request: ExecRequest, signal: AbortSignal | undefined): Promise<ExecResult> {
    const started = performance.now();
    const worker = await this.#workerFor(slot, request, signal);
    if (typeof worker === 'string') return nodeError(worker);
    const result = await worker.run(request, signal);
    await this.#afterTask(slot, worker);
    return { ...result, slotMs: performance.now() - started };
  }

  /** A ready worker in `slot` for `request` (started, swapped or reused), or why there is none. */
  async #workerFor(
    slot: Slot,
    request: ExecRequest,
    signal: AbortSignal | undefined,
  ): Promise<SandboxWorker | string> {
    if (signal?.aborted) return 'aborted';
    const kind = sandboxKindOf(request.runtime);
    if (!slot.worker?.alive || !fits(slot.worker, kind, request.memoryMb, request.jobId)) {
      // Take the matching parked worker out first: parking the displaced one may replace it.
      const parked = this.#parked.get(kind);
      const reuse = parked?.alive && fits(parked, kind, request.memoryMb, request.jobId) ? parked : undefined;
      if (reuse) this.#parked.delete(kind);
      if (slot.worker?.alive) {
        // A Python interpreter that ran another job's task is never reused for this one.
        if (slot.worker.kind === kind && slot.worker.memoryMb === request.memoryMb) {
          void slot.worker.kill(nodeErrorOf('replaced: it ran another job'));
        } else {
          this.#park(slot.worker);
        }
      }
      slot.worker = reuse ?? this.#spawn(kind, request.memoryMb);
    }
    const worker = slot.worker;
    if (worker.kind === 'python') worker.job = request.jobId ?? '';
    try {
      await withAbort(worker.ready, signal);
    } catch (error) {
      if (signal?.aborted) return 'aborted';
      slot.worker = undefined; // started again by the next task, not in a loop
      return `the sandbox worker failed to start: ${String(error)}`;
    }
    return worker;
  }

  /** After a task or batch: the worker's memory checked, and a worker that died replaced at once. */
  async #afterTask(slot: Slot, worker: SandboxWorker): Promise<void> {
    await worker.afterTask();
    if (!worker.alive && slot.worker === worker && !this.#closed) {
      slot.worker = this.#spawn(worker.kind, worker.memoryMb);
    }
  }

  /** Keep a displaced warm worker for later (replacing an older one of its kind). */
  #park(worker: SandboxWorker): void {
    const previous = this.#parked.get(worker.kind);
    if (previous && previous !== worker) void previous.kill(nodeErrorOf('replaced'));
    this.#parked.set(worker.kind, worker);
  }

  #spawn(kind: SandboxKind, memoryMb: number): SandboxWorker {
    return new SandboxWorker(this.#host, kind, memoryMb, this.#limits);
  }
}

interface Slot {
  busy: boolean;
  worker: SandboxWorker | undefined;
}

/**
 * Whether a warm worker may run a task of `kind`, `memoryMb` and `jobId`: same kind and limit, and
 * for Python, a fresh interpreter or one that ran only this job's tasks. Python keeps state that a
 * task can reach below what the per-task reset undoes (the interpreter's frames, rebuilt C
 * modules), so jobs never share one; JS and wasm tasks each get a fresh compartment or instance
 * over frozen intrinsics, so their workers are shared (the isolation tests show what holds).
 */
function fits(
  worker: SandboxWorker,
  kind: SandboxKind,
  memoryMb: number,
  jobId: string | undefined,
): boolean {
  if (worker.kind !== kind || worker.memoryMb !== memoryMb) return false;
  return kind !== 'python' || worker.job === undefined || worker.job === (jobId ?? '');
}

interface Queued {
  request: ExecRequest;
  signal: AbortSignal | undefined;
  resolve: (result: ExecResult) => void;
  onAbort: () => void;
}

let nextTaskId = 0;

/** What a worker answers to a run: one result, or a batch's. */
type SandboxAnswer = Extract<SandboxToHost, { type: 'result' | 'results' }>;

/** The run a message asks for, for errors. */
function describeRun(message: HostToSandbox): string {
  return message.type === 'run.batch'
    ? `a batch of ${message.runs.length} (${message.runs[0]!.id}…)`
    : 'id' in message
      ? message.id
      : message.type;
}

/** Tasks that may share a batch: JS tasks of one code, job and limits. */
function sameBatch(a: ExecRequest, b: ExecRequest): boolean {
  return (
    b.runtime === 'js' &&
    b.codeCid === a.codeCid &&
    b.jobId === a.jobId &&
    b.timeoutMs === a.timeoutMs &&
    b.memoryMb === a.memoryMb &&
    b.code === a.code
  );
}

/** One worker and the task it runs, if any. */
class SandboxWorker {
  readonly memoryMb: number;
  readonly kind: SandboxKind;
  readonly ready: Promise<void>;
  readonly #worker: HostWorker;
  readonly #limits: Limits;
  readonly #logMirror: SharedArrayBuffer | undefined;
  #alive = true;
  /** Why the worker is going away, when we know better than its exit. */
  #death: TaskError | undefined;
  readonly #exited: Promise<void>;
  #onAnswer: ((answer: SandboxAnswer) => void) | undefined;
  #onExit: (() => void) | undefined;
  #externalBaseline = 0;
  /** A Python worker's job, once it ran a task ('' for tasks without one). */
  job: string | undefined;
  /** The worker's own external memory when it became ready. */
  #startBaseline = 0;
  /** A wasm or Python task ran since the baseline was taken (see `#rebaseline`). */
  #ranWasm = false;

  constructor(host: SandboxHost, kind: SandboxKind, memoryMb: number, limits: Limits) {
    this.memoryMb = memoryMb;
    this.kind = kind;
    this.#limits = limits;
    this.#logMirror = host.logMirror();

    let markReady: () => void = () => {};
    let failStart: (error: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    this.ready.catch(() => {}); // observed by whoever awaits it
    const startTimer = unrefTimer(
      setTimeout(() => {
        failStart(new Error(`not ready after ${limits.startupTimeoutMs} ms`));
        void this.kill(nodeErrorOf('the sandbox worker did not start'));
      }, limits.startupTimeoutMs),
    );
    let markExited: () => void = () => {};
    this.#exited = new Promise((resolve) => {
      markExited = resolve;
    });

    this.#worker = host.spawn(kind, memoryMb, {
      message: (raw) => {
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
            this.#measure()
              .then((bytes) => {
                this.#externalBaseline = bytes;
                this.#startBaseline = bytes;
                this.#moveCeiling();
              })
              .catch(() => {})
              .finally(markReady);
            break;
          case 'result':
          case 'results':
            this.#onAnswer?.(message);
            break;
          case 'fatal':
            void this.kill(nodeErrorOf(`the sandbox failed: ${message.message}`));
            break;
        }
      },
      crash: (error) => {
        this.#death ??= error;
        // A host whose workers outlive their errors (Web Workers) relies on this to end them.
        void this.kill(error);
      },
      exit: () => {
        clearTimeout(startTimer);
        this.#alive = false;
        this.#death ??= nodeErrorOf('the sandbox worker exited unexpectedly');
        failStart(new Error(this.#death.message));
        markExited();
        this.#onExit?.();
      },
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
    const message = sandboxMessage(request, id, this.#logMirror);
    if (typeof message === 'string') return nodeError(message);
    // (A sandbox process's baseline was taken when its previous task ended: `afterTask`.)
    if (!this.#worker.measuresProcess) {
      if (message.type === 'run.wasm' || message.type === 'run.python' || message.type === 'run.circom') {
        // Pyodide's and snarkjs's wasm memories never shrink: a task may use `memoryMb` beyond
        // what is there now.
        if (message.type !== 'run.wasm') await this.#rebaseline();
        else this.#ranWasm = true;
      } else if (this.#ranWasm) {
        await this.#rebaseline();
      }
    }
    const started = performance.now();
    const outcome = await this.#exchange(message, request.timeoutMs, [signal], (answer) =>
      answer.type !== 'result'
        ? `it answered ${answer.type} to one task`
        : answer.id !== id
          ? answer.id
          : undefined,
    );
    if ('died' in outcome) {
      // Logs of a task that did not report are read from the mirror once its worker is gone.
      const logs = this.#worker.logs?.() ?? (this.#logMirror ? LogMirror.read(this.#logMirror) : '');
      return { ok: false, error: outcome.died, logs, durationMs: performance.now() - started };
    }
    const result = outcome.answer as SandboxResult;
    if (result.retire) void this.kill(nodeErrorOf('the sandbox asked to be replaced'));
    return toExecResult(result);
  }

  /**
   * Runs JS tasks of one code and limits as one `run.batch` (see `SandboxRunBatch`): their results
   * in order, or `undefined` when the batch failed as a whole (its time limit, which is one task's,
   * memory, an abort of any of them, a crash or a malformed answer), the worker then being gone.
   * The worker must be ready and idle.
   */
  async runBatch(
    requests: ExecRequest[],
    signals: (AbortSignal | undefined)[],
  ): Promise<ExecResult[] | undefined> {
    const runs: SandboxRun[] = [];
    for (const request of requests) {
      const message = sandboxMessage(request, `t${++nextTaskId}`, this.#logMirror);
      if (typeof message === 'string' || message.type !== 'run') return undefined;
      runs.push(message);
    }
    if (this.#ranWasm && !this.#worker.measuresProcess) await this.#rebaseline();
    const outcome = await this.#exchange(
      { type: 'run.batch', runs },
      requests[0]!.timeoutMs,
      signals,
      (answer) =>
        answer.type !== 'results'
          ? `it answered ${answer.type} to a batch`
          : answer.results.length !== runs.length || answer.results.some((r, i) => r.id !== runs[i]!.id)
            ? "results that are not the batch's"
            : undefined,
    );
    if ('died' in outcome) return undefined;
    const { results } = outcome.answer as { results: SandboxResult[] };
    return results.map(toExecResult);
  }

  /**
   * Posts `message` and waits for its answer under a time limit of `timeoutMs`, the memory
   * watchdog and the `signals`: the answer, once `mismatch` finds nothing wrong with it (else the
   * worker is stopped), or why the worker died first.
   */
  #exchange(
    message: HostToSandbox,
    timeoutMs: number,
    signals: (AbortSignal | undefined)[],
    mismatch: (answer: SandboxAnswer) => string | undefined,
  ): Promise<{ answer: SandboxAnswer } | { died: TaskError }> {
    if (signals.some((signal) => signal?.aborted)) return Promise.resolve({ died: nodeErrorOf('aborted') });
    // A wasm module's memory is capped by its maximum inside the worker; it is external memory
    // too, so the off-heap watchdog would count it twice (and count the memories of finished
    // tasks that V8 has not collected yet). The watchdog is for JS ArrayBuffers and Pyodide.
    const watchMemory =
      this.#worker.externalMemory !== undefined &&
      (message.type !== 'run.wasm' || this.#worker.measuresProcess === true);
    const memoryLimitBytes = this.#limitBytes();

    return new Promise((resolve) => {
      let settled = false;
      const cleanup = () => {
        settled = true;
        clearTimeout(timer);
        clearInterval(poll);
        for (const signal of signals) signal?.removeEventListener('abort', onAbort);
        this.#onAnswer = undefined;
        this.#onExit = undefined;
      };
      const endWithDeath = () => {
        if (settled) return;
        cleanup();
        resolve({ died: this.#death ?? nodeErrorOf('the sandbox worker died') });
      };
      const stop = (reason: TaskError) => {
        if (settled) return;
        this.#death ??= reason;
        this.kill(reason).then(endWithDeath, endWithDeath);
      };
      const onAbort = () => stop(nodeErrorOf('aborted'));

      this.#onExit = endWithDeath;
      this.#onAnswer = (answer) => {
        if (settled || this.#death) return;
        const wrong = mismatch(answer);
        if (wrong !== undefined) {
          stop(nodeErrorOf(`the sandbox answered ${wrong} while running ${describeRun(message)}`));
          return;
        }
        cleanup();
        resolve({ answer });
      };

      const limitMs = Math.min(Math.max(1, timeoutMs), 2 ** 31 - 1);
      const timer = setTimeout(
        () => stop({ kind: 'timeout', message: `task exceeded its time limit of ${timeoutMs} ms` }),
        limitMs,
      );
      let polling = false;
      const poll = setInterval(() => {
        if (polling || !watchMemory) return;
        polling = true;
        this.#measure()
          .then((bytes) => {
            if (bytes > memoryLimitBytes) {
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
      }, this.#limits.memoryPollMs);
      for (const signal of signals) signal?.addEventListener('abort', onAbort, { once: true });

      if (!this.#alive) {
        endWithDeath();
        return;
      }
      this.#worker.post(message);
    });
  }

  #measure(): Promise<number> {
    return this.#worker.externalMemory?.() ?? Promise.resolve(0);
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
      this.#externalBaseline = Math.max(this.#startBaseline, await this.#measure());
      this.#moveCeiling();
    } catch {
      // The worker is gone; the task will find out.
    }
  }

  /**
   * After a task, where the host measures the whole process: the next task's baseline is what the
   * process holds now. What earlier tasks left resident may count up to `memoryMb` beyond the
   * process's start; a process holding more is replaced, so no run of tasks can ratchet its
   * limit (and its kernel limit) upwards.
   */
  async afterTask(): Promise<void> {
    if (!this.#worker.measuresProcess || !this.#alive) return;
    let now: number;
    try {
      now = await this.#measure();
    } catch {
      return; // gone
    }
    if (now > this.#startBaseline + this.memoryMb * 1024 * 1024) {
      await this.kill(nodeErrorOf('replaced: it kept more memory than its tasks may use'));
      return;
    }
    this.#externalBaseline = Math.max(this.#startBaseline, now);
    this.#moveCeiling();
  }

  /** What the watchdog lets the next task's worker hold. */
  #limitBytes(): number {
    return this.#externalBaseline + this.memoryMb * 1024 * 1024 + (this.#worker.memorySlackBytes ?? 0);
  }

  /** The host's kernel limit follows the watchdog's, where it has one. */
  #moveCeiling(): void {
    if (!this.#worker.setMemoryCeiling || !this.#alive) return;
    try {
      this.#worker.setMemoryCeiling(this.#limitBytes());
    } catch {
      // the worker is gone
    }
  }
}

/** The run message for `request`, or why there is none. */
function sandboxMessage(
  request: ExecRequest,
  id: string,
  logMirror: SharedArrayBuffer | undefined,
): HostToSandbox | string {
  let inputJson: string;
  try {
    inputJson = JSON.stringify(request.input) ?? 'null';
  } catch (error) {
    return `the input is not JSON: ${String(error)}`;
  }
  // What every runtime's message carries; JS and Python code travel as text, wasm as bytes.
  const common = {
    id,
    codeCid: request.codeCid,
    inputJson,
    seed: request.seed,
    clock: request.clock,
    ...(logMirror ? { logMirror } : {}),
  };
  const text = () =>
    typeof request.code === 'string' ? request.code : new TextDecoder().decode(request.code);
  switch (request.runtime) {
    case 'wasm':
      if (typeof request.code === 'string') return 'the code of a wasm task must be bytes';
      return {
        type: 'run.wasm',
        ...common,
        code: request.code,
        maxMemoryPages: Math.floor((request.memoryMb * 1024 * 1024) / WASM_PAGE_BYTES),
      };
    case 'python':
      return { type: 'run.python', ...common, code: text() };
    case 'circom':
      if (!request.circuit) return 'a circom task needs its circuit (wasm and zkey)';
      return {
        type: 'run.circom',
        ...common,
        code: text(),
        wasm: request.circuit.wasm,
        zkey: request.circuit.zkey,
        witnessPages: Math.min(
          32_767,
          Math.max(16, Math.floor((request.memoryMb * 1024 * 1024) / 2 / WASM_PAGE_BYTES)),
        ),
      };
    case 'js':
      return { type: 'run', ...common, code: text() };
    default:
      return `runtime ${request.runtime} has no sandbox`;
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
  if (result.proofJson === undefined)
    return { ok: true, output, logs: result.logs, durationMs: result.durationMs };
  const proof = Groth16Proof.safeParse(safeJson(result.proofJson));
  if (!proof.success) {
    return {
      ok: false,
      error: nodeErrorOf('the sandbox sent a malformed proof'),
      logs: result.logs,
      durationMs: 0,
    };
  }
  return { ok: true, output, proof: proof.data, logs: result.logs, durationMs: result.durationMs };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function nodeErrorOf(message: string): TaskError {
  return { kind: 'node_error', message };
}

function nodeError(message: string): ExecResult {
  return { ok: false, error: nodeErrorOf(message), logs: '', durationMs: 0 };
}

/** Node's timers keep the process alive unless unref'd; a browser's are numbers. */
function unrefTimer<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
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
