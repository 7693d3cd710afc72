/**
 * Entry point of a circom sandbox: a `worker_threads` worker (`thread-executor.ts`) or a child
 * process under Node's permission model (`process-executor.ts`). It proves with snarkjs on one
 * thread (`CircomSandbox`); snarkjs compiles WebAssembly and builds its curve at start, which SES's
 * frozen intrinsics do not allow, so circom gets its own kind of worker, without SES. What it runs
 * of the job is the circuit's witness calculator, a WebAssembly module that reaches nothing but the
 * imports snarkjs gives it (errors and log messages), and the prover reads only the proving key
 * it is handed: no network (`fetch` throws) and no host files are needed or given.
 */
import { CircomSandbox } from '../core/circom-sandbox.ts';
import { serveCircomSandbox } from '../core/sandbox-worker-loop.ts';
import { hostPort } from './host-port.ts';

const started = performance.now();
const port = hostPort();

globalThis.fetch = (() => {
  throw new Error('network access is not available to sandboxed tasks');
}) as typeof fetch;
process.on('unhandledRejection', () => {});

await CircomSandbox.warm();
serveCircomSandbox(port, new CircomSandbox());
port.post({ type: 'ready', startupMs: performance.now() - started });
