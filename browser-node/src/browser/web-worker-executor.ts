import type { Runtime } from '../../../protocol/job.ts';
import {
  type HostWorker,
  type HostWorkerEvents,
  nodeErrorOf,
  type SandboxHost,
  type SandboxKind,
  SandboxPool,
} from '../core/sandbox-pool.ts';
import { LogMirror } from '../core/task-logs.ts';

export interface WebWorkerExecutorOptions {
  /** Web Workers, i.e. tasks at once. Default: `navigator.hardwareConcurrency - 1` (at least 1). */
  workers?: number;
  /**
   * Where Pyodide's files are served, on our own origin (never a CDN). Default `/pyodide/` of the
   * page's origin: the web app's build copies them there.
   */
  pyodideUrl?: string | URL;
  /** Runtimes this executor takes. Default all three. */
  runtimes?: readonly Runtime[];
  /** Memory limit (MB) of workers started before any task asks; default the job default (128). */
  warmMemoryMb?: number;
  /** Start the workers in the constructor rather than at the first task. Default false in a tab. */
  prewarm?: boolean;
  /** A worker that is not ready after this long is given up (Pyodide's first load). Default 60 000 ms. */
  startupTimeoutMs?: number;
}

/**
 * Runs JS, WebAssembly and Python tasks in a pool of Web Workers: the browser host of the same
 * `SandboxPool` and the same sandboxes as the headless `ThreadExecutor`, so a task behaves alike
 * in both (one test list checks it, `core/executor-tests/`). Time limits and aborts terminate the
 * worker. Memory: a wasm module's memory is capped by its maximum and Pyodide's by refusing to
 * grow (inside the worker); a browser gives no way to cap or read a worker's JS heap from outside,
 * so a JS task's `memoryMb` is not enforced in a tab (see docs/architecture.md, "Sandboxes").
 * With cross-origin isolation (COOP/COEP headers), the logs of a killed task survive through a
 * shared-memory mirror; without it they are lost with the worker.
 *
 * @example
 * const executor = new WebWorkerExecutor({ workers: 2 });
 * const result = await executor.run({ runtime: 'python', code: 'def main(x):\n    return x * 2',
 *   codeCid, input: 21, timeoutMs: 5000, memoryMb: 64, seed: 's', clock: Date.now() });
 */
export class WebWorkerExecutor extends SandboxPool {
  constructor(options: WebWorkerExecutorOptions = {}) {
    super(new WebWorkerHost(new URL(options.pyodideUrl ?? '/pyodide/', globalThis.location?.href).href), {
      ...options,
      capacity: options.workers ?? Math.max(1, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1),
      runtimes: options.runtimes ?? ['js', 'wasm', 'python', 'circom'],
      prewarm: options.prewarm ?? false,
      startupTimeoutMs: options.startupTimeoutMs ?? 60_000,
    });
  }
}

/** Starts module Web Workers; a worker is configured by its first message. */
class WebWorkerHost implements SandboxHost {
  readonly #pyodideUrl: string;

  constructor(pyodideUrl: string) {
    this.#pyodideUrl = pyodideUrl.endsWith('/') ? pyodideUrl : `${pyodideUrl}/`;
  }

  logMirror(): SharedArrayBuffer | undefined {
    return globalThis.crossOriginIsolated ? LogMirror.allocate() : undefined;
  }

  spawn(kind: SandboxKind, memoryMb: number, events: HostWorkerEvents): HostWorker {
    // Literal `new Worker(new URL(…))` forms: bundlers (Vite) find and build worker entries by them.
    const worker =
      kind === 'python'
        ? new Worker(new URL('./python-web-worker.ts', import.meta.url), {
            type: 'module',
            name: 'monadmesh-sandbox-python',
          })
        : kind === 'circom'
          ? new Worker(new URL('./circom-web-worker.ts', import.meta.url), {
              type: 'module',
              name: 'monadmesh-sandbox-circom',
            })
          : new Worker(new URL('./sandbox-web-worker.ts', import.meta.url), {
              type: 'module',
              name: 'monadmesh-sandbox-ses',
            });
    let gone = false;
    const end = () => {
      if (gone) return;
      gone = true;
      worker.terminate();
      events.exit();
    };
    worker.onmessage = (event) => events.message(event.data);
    worker.onmessageerror = () =>
      events.crash(nodeErrorOf('a message from the sandbox could not be decoded'));
    // An uncaught error in a worker's own code (not a task's: tasks' errors are results) or a
    // worker script that failed to load. A Web Worker outlives its errors; the pool ends it.
    worker.onerror = (event) => {
      event.preventDefault();
      events.crash(nodeErrorOf(`the sandbox worker failed: ${event.message || 'it did not load'}`));
    };
    worker.postMessage({ type: 'configure', pyodideUrl: this.#pyodideUrl, memoryMb });
    return {
      post: (message) => worker.postMessage(message),
      terminate: async () => end(),
    };
  }
}
