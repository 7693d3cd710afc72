import type { CompileResult } from './circom-compiler.ts';

const cache = new Map<string, Promise<CompileResult>>();

/** A compilation that runs longer is stopped (a circuit whose loops never end, say). */
export const COMPILE_TIMEOUT_MS = 120_000;

/**
 * Compile circom source and set it up for Groth16 in a Web Worker of its own (ended afterwards:
 * the compiler holds a large memory). A source compiled before in this page is not compiled again
 * (its keys stay the same), unless it failed.
 */
export function compileCircuit(source: string, name?: string): Promise<CompileResult> {
  const known = cache.get(source);
  if (known) return known;
  const compiled = new Promise<CompileResult>((resolve) => {
    const worker = new Worker(new URL('./circom-compile.worker.ts', import.meta.url), { type: 'module' });
    const timer = setTimeout(
      () =>
        done({
          ok: false,
          stage: 'compile',
          message: `the compiler did not finish in ${COMPILE_TIMEOUT_MS / 1000} s (a loop that never ends?): stopped`,
        }),
      COMPILE_TIMEOUT_MS,
    );
    const done = (result: CompileResult) => {
      clearTimeout(timer);
      worker.terminate();
      if (!result.ok) cache.delete(source);
      resolve(result);
    };
    worker.addEventListener('message', (event: MessageEvent<CompileResult>) => done(event.data));
    worker.addEventListener('error', (event) =>
      done({
        ok: false,
        stage: 'compile',
        message: `the compiler stopped: ${event.message || 'worker error'}`,
      }),
    );
    worker.postMessage({ source, ...(name ? { name } : {}) });
  });
  cache.set(source, compiled);
  return compiled;
}
