import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  type HostWorker,
  type HostWorkerEvents,
  nodeErrorOf,
  type SandboxHost,
  type SandboxKind,
  SandboxPool,
} from '../core/sandbox-pool.ts';
import { LogMirror } from '../core/task-logs.ts';
import { workerEntry } from './process-executor.ts';

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
 * Runs JS, WebAssembly and Python tasks in a pool of `worker_threads` workers (the pool itself is
 * `SandboxPool`, shared with the browser host). JS and wasm share SES workers, locked down once and
 * kept warm: every JS task gets a new Compartment (`js-sandbox.ts`), every wasm task a new instance
 * of its module, compiled once per worker (`wasm-sandbox.ts`); Python runs in workers with a warm
 * Pyodide (`python-worker.ts`). What this host adds to the pool are the limits a worker cannot
 * enforce on itself: heap (V8 `resourceLimits`, the worker dies with `ERR_WORKER_OUT_OF_MEMORY`)
 * and off-heap memory (ArrayBuffers and Pyodide's memory are not in the heap limit, so the pool's
 * watchdog polls the worker's heap statistics). A wasm module's memory is bounded inside the worker
 * instead, by its maximum (see `wasm-memory-limit.ts`).
 *
 * @example
 * const executor = new ThreadExecutor({ threads: 2 });
 * const result = await executor.run({ runtime: 'js', code: 'export default (x) => x + 1', codeCid,
 *   input: 41, timeoutMs: 1000, memoryMb: 64, seed: 's', clock: Date.now() });
 * await executor.close();
 */
export class ThreadExecutor extends SandboxPool {
  constructor(options: ThreadExecutorOptions = {}) {
    super(new ThreadHost(options.runtimeHeapMb ?? 24), {
      ...options,
      capacity: options.threads ?? os.availableParallelism(),
      runtimes: ['js', 'wasm', 'python', 'circom'],
    });
  }
}

const require = createRequire(import.meta.url);

/** Starts `worker_threads` workers with a heap limit and nothing of the host's process. */
class ThreadHost implements SandboxHost {
  readonly #runtimeHeapMb: number;

  constructor(runtimeHeapMb: number) {
    this.#runtimeHeapMb = runtimeHeapMb;
  }

  logMirror(): SharedArrayBuffer {
    return LogMirror.allocate();
  }

  spawn(kind: SandboxKind, memoryMb: number, events: HostWorkerEvents): HostWorker {
    const entry = new URL(workerEntry(kind), import.meta.url);
    // snarkjs's field library imports the `web-worker` package, which, evaluated in any thread
    // but the main one, takes itself for one of its own helper threads and wants their start-up
    // data: a circom thread is started through it, as such a thread whose module is our entry.
    const circom = kind === 'circom';
    const worker = new Worker(circom ? require.resolve('web-worker') : entry, {
      ...(circom
        ? { workerData: { mod: fileURLToPath(entry), name: 'monadmesh-sandbox-circom', type: 'module' } }
        : {}),
      name: `monadmesh-sandbox-${kind}`,
      // Nothing of the host's process leaks in, even to the worker's own (non-task) code.
      env: {},
      argv: [],
      execArgv: [],
      stdin: false,
      resourceLimits: {
        maxOldGenerationSizeMb: memoryMb + this.#runtimeHeapMb,
        maxYoungGenerationSizeMb: Math.min(16, Math.max(4, Math.round(memoryMb / 8))),
        stackSizeMb: 4,
      },
    });
    // An idle pool must not keep the process alive; a running task's timer does.
    worker.unref();
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', events.message);
    worker.on('messageerror', (error) =>
      events.crash(nodeErrorOf(`a message from the sandbox could not be decoded: ${error.message}`)),
    );
    worker.on('error', (error: Error & { code?: string }) =>
      events.crash(
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? { kind: 'memory_limit', message: `task exceeded its memory limit of ${memoryMb} MB` }
          : nodeErrorOf(`the sandbox worker crashed: ${error.message}`),
      ),
    );
    worker.on('exit', events.exit);
    return {
      post: (message) => worker.postMessage(message),
      terminate: async () => {
        await worker.terminate();
        await exited;
      },
      externalMemory: async () => (await worker.getHeapStatistics()).external_memory,
    };
  }
}
