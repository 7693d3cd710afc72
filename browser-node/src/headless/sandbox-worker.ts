/**
 * Entry point of a SES sandbox: a `worker_threads` worker (`thread-executor.ts`) or a child process
 * (`process-executor.ts`). Lockdown runs
 * once, at start: that is the expensive part, and why the host keeps workers warm between tasks.
 * Each JS task then gets its own fresh Compartment from `JsSandbox`; each WebAssembly task its own
 * instance from `WasmSandbox` (the loop is `serveSesSandbox`, shared with the browser host).
 *
 * One kind of worker runs both runtimes, so the pool stays warm whatever mix of jobs a node leases.
 * WebAssembly needs no SES, and lockdown does not get in its way: the wasm host code runs in the
 * start compartment, where `WebAssembly` is intact, and a module reaches nothing but its imports.
 */
import 'ses';
import { sandboxLockdownOptions } from '../core/js-sandbox.ts';
import { serveSesSandbox } from '../core/sandbox-worker-loop.ts';
import { hostPort } from './host-port.ts';

const started = performance.now();

// A worker thread of the node, or a child process of its (see `process-executor.ts`).
const port = hostPort();

lockdown(sandboxLockdownOptions);

// A task may leave a rejected promise unhandled; Node's default would kill this warm worker
// (and fail whatever task runs next). The task's own result does not depend on it: ignore it.
process.on('unhandledRejection', () => {});

serveSesSandbox(port, { macrotask: () => new Promise((resolve) => setImmediate(resolve)) });
port.post({ type: 'ready', startupMs: performance.now() - started });
