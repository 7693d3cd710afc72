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
 * Pyodide loads before `ready`, so its cold start never counts against a task's time limit.
 */
import { registerHooks } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { HostToSandbox, type SandboxToHost } from '../../../protocol/sandbox.ts';
import { PythonSandbox } from '../core/python-sandbox.ts';
import { loadLocalPyodide } from './load-local-pyodide.ts';

const started = performance.now();

if (!parentPort) throw new Error('python-worker.ts must run as a worker thread');
const port = parentPort;
const send = (message: SandboxToHost) => port.postMessage(message);

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

const sandbox = PythonSandbox.prepare(await loadLocalPyodide());

// After load, the JS behind Python: Emscripten's `emscripten_run_script` (reachable from ctypes)
// is `eval`, and a JS object that Python got hold of anyway must not lead to `Function`.
globalThis.eval = () => {
  throw new Error('eval is not available to sandboxed tasks');
};
for (const fn of [() => {}, async () => {}, function* () {}, async function* () {}]) {
  Object.defineProperty(Object.getPrototypeOf(fn), 'constructor', { value: undefined });
}

port.on('message', (raw: unknown) => {
  const decoded = HostToSandbox.safeParse(raw);
  if (!decoded.success || decoded.data.type !== 'run.python') {
    send({ type: 'fatal', message: 'the Python worker accepts only run.python messages' });
    return;
  }
  try {
    const result = sandbox.run(decoded.data);
    // Pyodide cannot go on after JS threw through it: the host replaces this worker.
    send(sandbox.broken ? { ...result, retire: true } : result);
  } catch (error) {
    send({ type: 'fatal', message: String(error).slice(0, 2000) });
  }
});

send({ type: 'ready', startupMs: performance.now() - started });
