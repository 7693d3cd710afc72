/**
 * Entry point of a Python sandbox `worker_threads` worker (see `thread-executor.ts`). Pyodide does
 * not load after SES `lockdown()` (its Emscripten glue fails on the frozen intrinsics), so Python
 * gets its own kind of worker, without SES, closed in three layers:
 * - no network: `fetch` throws, and the `ws` package (Emscripten's socket layer in Node) cannot be
 *   resolved, so a Python socket fails to connect instead of opening a real connection;
 * - no JavaScript: Pyodide loads with empty `jsglobals` from node_modules (never a CDN), and the
 *   runner (`python-sandbox.ts`) removes every module and import hook that reaches JS; as a last
 *   line, a JS object that leaked anyway cannot reach `Function` through `.constructor`;
 * - no host files: Pyodide's file system is in memory and nothing of the host is mounted.
 * The message loop is `servePythonSandbox`, shared with the browser host.
 */
import { registerHooks } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { PythonSandbox, sealJavaScriptBehindPython } from '../core/python-sandbox.ts';
import { servePythonSandbox } from '../core/sandbox-worker-loop.ts';
import { loadLocalPyodide } from './load-local-pyodide.ts';

if (!parentPort) throw new Error('python-worker.ts must run as a worker thread');
const port = parentPort;

const refuseNetwork = () => {
  throw new Error('network access is not available to sandboxed tasks');
};
globalThis.fetch = refuseNetwork as typeof fetch;
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'ws' || specifier.startsWith('ws/')) refuseNetwork();
    return nextResolve(specifier, context);
  },
});

process.on('unhandledRejection', () => {});

await servePythonSandbox(
  { post: (message) => port.postMessage(message), onMessage: (listener) => port.on('message', listener) },
  async () => {
    const sandbox = PythonSandbox.prepare(await loadLocalPyodide());
    sealJavaScriptBehindPython();
    return sandbox;
  },
  { awaitConfigure: false },
);
