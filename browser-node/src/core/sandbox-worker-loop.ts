import { HostToSandbox, type SandboxConfigure, type SandboxToHost } from '../../../protocol/sandbox.ts';
import type { CircomSandbox } from './circom-sandbox.ts';
import { JsSandbox } from './js-sandbox.ts';
import type { PythonSandbox } from './python-sandbox.ts';
import { WasmSandbox } from './wasm-sandbox.ts';

/** The worker's end of its channel to the host, whatever the host (worker_threads or a Web Worker). */
export interface WorkerPort {
  post(message: SandboxToHost): void;
  onMessage(listener: (raw: unknown) => void): void;
}

/**
 * The message loop of a SES worker (JS and wasm tasks), the same in both hosts; the entry point
 * (`sandbox-worker.ts` headless, `sandbox-web-worker.ts` in a tab) runs `lockdown()` first. One
 * task at a time: the host never sends the next `run` before the previous result, and a queue
 * here keeps that true regardless. Every message is decoded; a malformed one is `fatal`.
 */
export function serveSesSandbox(port: WorkerPort, options: { macrotask: () => Promise<void> }): void {
  const sandbox = new JsSandbox({ macrotask: options.macrotask });
  const wasm = new WasmSandbox();
  let queue: Promise<void> = Promise.resolve();
  port.onMessage((raw) => {
    const decoded = HostToSandbox.safeParse(raw);
    if (!decoded.success) {
      port.post({
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
            port.post(await sandbox.run(message));
            break;
          case 'run.batch': {
            const results = [];
            for (const run of message.runs) results.push(await sandbox.run(run));
            port.post({ type: 'results', results });
            break;
          }
          case 'run.wasm':
            port.post(await wasm.run(message));
            break;
          case 'run.python':
            port.post({ type: 'fatal', message: 'Python tasks run in a Python worker, not here' });
            break;
          case 'run.circom':
            port.post({ type: 'fatal', message: 'circom tasks run in a circom worker, not here' });
            break;
          case 'configure':
            break; // nothing to configure: SES workers load nothing
        }
      })
      // Keeps the queue going; the host replaces a worker that reports a fatal error.
      .catch((error: unknown) => port.post({ type: 'fatal', message: String(error).slice(0, 2000) }));
  });
}

/**
 * The message loop of a Python worker, the same in both hosts. `prepare` loads Pyodide (the host's
 * way: node_modules headless, our own origin in a tab) and closes it; it runs once, before the
 * worker says `ready`, so Pyodide's cold start never counts against a task. Hosts that configure
 * their workers by message (a browser) pass `awaitConfigure`: the worker then waits for it first.
 */
export async function servePythonSandbox(
  port: WorkerPort,
  prepare: (configure: SandboxConfigure | undefined) => Promise<PythonSandbox>,
  options: { awaitConfigure: boolean },
): Promise<void> {
  const started = performance.now();
  let sandbox: PythonSandbox | undefined;
  let configured: (configure: SandboxConfigure) => void = () => {};
  const configure = new Promise<SandboxConfigure>((resolve) => {
    configured = resolve;
  });
  port.onMessage((raw) => {
    const decoded = HostToSandbox.safeParse(raw);
    if (decoded.success && decoded.data.type === 'configure') {
      configured(decoded.data);
      return;
    }
    if (!decoded.success || decoded.data.type !== 'run.python' || !sandbox) {
      port.post({ type: 'fatal', message: 'the Python worker accepts only run.python messages, once ready' });
      return;
    }
    try {
      const result = sandbox.run(decoded.data);
      // Pyodide cannot go on after JS threw through it: the host replaces this worker.
      port.post(sandbox.broken ? { ...result, retire: true } : result);
    } catch (error) {
      port.post({ type: 'fatal', message: String(error).slice(0, 2000) });
    }
  });
  try {
    sandbox = await prepare(options.awaitConfigure ? await configure : undefined);
  } catch (error) {
    port.post({ type: 'fatal', message: `Pyodide did not load: ${String(error).slice(0, 2000)}` });
    return;
  }
  port.post({ type: 'ready', startupMs: performance.now() - started });
}

/**
 * The message loop of a circom worker (proving with snarkjs), the same in both hosts: one task at
 * a time, every message decoded; anything but `run.circom` (and a browser's `configure`) is fatal.
 */
export function serveCircomSandbox(port: WorkerPort, sandbox: CircomSandbox): void {
  let queue: Promise<void> = Promise.resolve();
  port.onMessage((raw) => {
    const decoded = HostToSandbox.safeParse(raw);
    if (decoded.success && decoded.data.type === 'configure') return;
    if (!decoded.success || decoded.data.type !== 'run.circom') {
      port.post({ type: 'fatal', message: 'the circom worker accepts only run.circom messages' });
      return;
    }
    const message = decoded.data;
    queue = queue
      .then(async () => port.post(await sandbox.run(message)))
      .catch((error: unknown) => port.post({ type: 'fatal', message: String(error).slice(0, 2000) }));
  });
}
