/**
 * Entry point of a Python sandbox Web Worker (see `web-worker-executor.ts`): the browser twin of
 * `headless/python-worker.ts`, with the same message loop (`servePythonSandbox`). Pyodide loads
 * from the URL the host configures (our own origin, never a CDN), with empty `jsglobals`; after
 * that, the worker closes its network and storage APIs and what lies behind Python on the JS side.
 *
 * Memory: a browser cannot cap a worker's heap from outside, so the cap is on Pyodide's wasm
 * memory itself. Emscripten grows it through `WebAssembly.Memory.prototype.grow` and treats a
 * failure as out of memory; refusing to grow past `memoryMb` over what the task started with
 * turns a memory bomb into Python's `MemoryError` (reported as `memory_limit`).
 */
import type { SandboxConfigure } from '../../../protocol/sandbox.ts';
import { type PyodideLike, PythonSandbox, sealJavaScriptBehindPython } from '../core/python-sandbox.ts';
import { servePythonSandbox } from '../core/sandbox-worker-loop.ts';
import { closeWorkerGlobals, workerScope } from './worker-globals.ts';

const WASM_PAGE = 65_536;
const post = (message: unknown) => workerScope.postMessage(message);
const onMessage = (listener: (event: MessageEvent) => void) =>
  workerScope.addEventListener('message', listener);
workerScope.addEventListener('unhandledrejection', (event) => event.preventDefault());

// The memory cap: the task's budget in pages, from the size of the memory when the task started.
let budgetPages = Number.POSITIVE_INFINITY;
let memory: WebAssembly.Memory | undefined;
let taskStartPages: number | undefined;
const grow = WebAssembly.Memory.prototype.grow;
WebAssembly.Memory.prototype.grow = function (this: WebAssembly.Memory, delta: number) {
  memory ??= this;
  if (taskStartPages !== undefined && this === memory) {
    const pages = this.buffer.byteLength / WASM_PAGE;
    if (pages + delta > taskStartPages + budgetPages) {
      throw new RangeError(
        `the task's memory limit of ${Math.round((budgetPages * WASM_PAGE) / 2 ** 20)} MB`,
      );
    }
  }
  return grow.call(this, delta);
};
// Registered before the loop's own listener, so it runs first: each task starts a new budget.
onMessage(() => {
  if (memory && budgetPages !== Number.POSITIVE_INFINITY)
    taskStartPages = memory.buffer.byteLength / WASM_PAGE;
});

await servePythonSandbox(
  { post, onMessage: (listener) => onMessage((event) => listener(event.data)) },
  async (configure: SandboxConfigure | undefined) => {
    if (!configure) throw new Error('the Python worker was not configured');
    const { loadPyodide } = await import('pyodide');
    const pyodide = await loadPyodide({
      indexURL: configure.pyodideUrl,
      jsglobals: {},
      env: {},
      packages: [],
    });
    const sandbox = PythonSandbox.prepare(pyodide as unknown as PyodideLike);
    closeWorkerGlobals(globalThis);
    sealJavaScriptBehindPython();
    budgetPages = Math.floor((configure.memoryMb * 2 ** 20) / WASM_PAGE);
    return sandbox;
  },
  { awaitConfigure: true },
);
