/**
 * Entry point of a Python sandbox: a `worker_threads` worker (`thread-executor.ts`) or a child
 * process (`process-executor.ts`). Pyodide does
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
import { constants as fsConstants } from 'node:fs';
import { registerHooks } from 'node:module';
import { PythonSandbox, sealJavaScriptBehindPython } from '../core/python-sandbox.ts';
import { servePythonSandbox } from '../core/sandbox-worker-loop.ts';
import { hostPort } from './host-port.ts';
import { loadLocalPyodide } from './load-local-pyodide.ts';

// A worker thread of the node, or a child process of its (see `process-executor.ts`).
const port = hostPort();

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

// Pyodide's NODEFS reads the fs constants through `process.binding`, which Node's permission model
// (a sandbox process) refuses; it mounts nothing of the host, so the constants are all it gets.
Object.defineProperty(process, 'binding', {
  value: (name: string) => {
    if (name === 'constants') return { fs: fsConstants };
    throw new Error(`process.binding('${name}') is not available to sandboxed tasks`);
  },
  configurable: true,
  writable: true,
});

process.on('unhandledRejection', () => {});

await servePythonSandbox(
  port,
  async () => {
    const sandbox = PythonSandbox.prepare(await loadLocalPyodide());
    sealJavaScriptBehindPython();
    return sandbox;
  },
  { awaitConfigure: false },
);
