/**
 * Entry point of a circom sandbox Web Worker (see `web-worker-executor.ts`): the browser twin of
 * `headless/circom-worker.ts`, with the same message loop (`serveCircomSandbox`). snarkjs proves on
 * one thread here (no helper workers); the worker's network and storage APIs are removed first,
 * and what runs of the job is the circuit's witness calculator, a WebAssembly module that reaches
 * only the imports snarkjs gives it.
 */
import { CircomSandbox } from '../core/circom-sandbox.ts';
import { serveCircomSandbox } from '../core/sandbox-worker-loop.ts';
import { closeWorkerGlobals, workerScope } from './worker-globals.ts';

const started = performance.now();
const post = (message: unknown) => workerScope.postMessage(message);
closeWorkerGlobals(globalThis);
workerScope.addEventListener('unhandledrejection', (event) => event.preventDefault());

await CircomSandbox.warm();
serveCircomSandbox(
  {
    post,
    onMessage: (listener) => workerScope.addEventListener('message', (event) => listener(event.data)),
  },
  new CircomSandbox(),
);
post({ type: 'ready', startupMs: performance.now() - started });
