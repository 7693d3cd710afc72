/**
 * Entry point of a SES sandbox Web Worker (see `web-worker-executor.ts`): the browser twin of
 * `headless/sandbox-worker.ts`, with the same message loop (`serveSesSandbox`). A dedicated worker
 * has no DOM and no `window`, `parent` or `opener`; its only channel is the host's port.
 */
import 'ses';
import { sandboxLockdownOptions } from '../core/js-sandbox.ts';
import { serveSesSandbox } from '../core/sandbox-worker-loop.ts';
import { closeWorkerGlobals, messageChannelMacrotask, workerScope } from './worker-globals.ts';

const started = performance.now();
const post = (message: unknown) => workerScope.postMessage(message);
const onMessage = (listener: (event: MessageEvent) => void) =>
  workerScope.addEventListener('message', listener);

lockdown(sandboxLockdownOptions);
closeWorkerGlobals(globalThis);
// A task may leave a rejected promise unhandled; it must not reach the page's console as an error.
workerScope.addEventListener('unhandledrejection', (event) => event.preventDefault());

serveSesSandbox(
  { post, onMessage: (listener) => onMessage((event) => listener(event.data)) },
  { macrotask: messageChannelMacrotask },
);
post({ type: 'ready', startupMs: performance.now() - started });
