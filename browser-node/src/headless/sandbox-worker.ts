/**
 * Entry point of a sandbox `worker_threads` worker (see `thread-executor.ts`). Lockdown runs once,
 * at start: that is the expensive part, and why the host keeps workers warm between tasks. Each
 * JS task then gets its own fresh Compartment from `JsSandbox`; each WebAssembly task its own
 * instance from `WasmSandbox`. One task at a time: the host never sends the next `run` before the
 * previous result, and a queue here keeps that true regardless.
 *
 * One kind of worker runs both runtimes, so the pool stays warm whatever mix of jobs a node leases.
 * WebAssembly needs no SES, and lockdown does not get in its way: the wasm host code runs in the
 * start compartment, where `WebAssembly` is intact, and a module reaches nothing but its imports.
 */
import 'ses';
import { parentPort } from 'node:worker_threads';
import { HostToSandbox, type SandboxToHost } from '../../../protocol/sandbox.ts';
import { JsSandbox, sandboxLockdownOptions } from '../core/js-sandbox.ts';
import { WasmSandbox } from '../core/wasm-sandbox.ts';

const started = performance.now();

if (!parentPort) throw new Error('sandbox-worker.ts must run as a worker thread');
const port = parentPort;

lockdown(sandboxLockdownOptions);

// A task may leave a rejected promise unhandled; Node's default would kill this warm worker
// (and fail whatever task runs next). The task's own result does not depend on it: ignore it.
process.on('unhandledRejection', () => {});

const sandbox = new JsSandbox({ macrotask: () => new Promise((resolve) => setImmediate(resolve)) });
const wasm = new WasmSandbox();
const send = (message: SandboxToHost) => port.postMessage(message);

let queue: Promise<void> = Promise.resolve();

port.on('message', (raw: unknown) => {
  const decoded = HostToSandbox.safeParse(raw);
  if (!decoded.success) {
    send({
      type: 'fatal',
      message: `malformed message from the host: ${decoded.error.message.slice(0, 2000)}`,
    });
    return;
  }
  const message = decoded.data;
  queue = queue
    .then(async () => {
      switch (message.type) {
        case 'run':
          send(await sandbox.run(message));
          break;
        case 'run.wasm':
          send(await wasm.run(message));
          break;
        case 'run.python':
          send({ type: 'fatal', message: 'Python tasks run in python-worker.ts, not here' });
          break;
      }
    })
    // Keeps the queue going; the host replaces a worker that reports a fatal error.
    .catch((error: unknown) => send({ type: 'fatal', message: String(error).slice(0, 2000) }));
});

send({ type: 'ready', startupMs: performance.now() - started });
