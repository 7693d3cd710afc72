import { cidOf } from '../../../protocol/cid.ts';
import type { JsonValue, Runtime } from '../../../protocol/job.ts';
import { jobDefaults } from '../../../protocol/limits.ts';
import type { ExecResult, Executor } from '../core/executor.ts';
import { WebWorkerExecutor } from './web-worker-executor.ts';

export interface PreviewSpec {
  runtime: Runtime;
  /** JS module or Python source as text; a wasm module as bytes. */
  code: string | Uint8Array;
  inputs: JsonValue[];
  /** Per task; default the job default. */
  timeoutMs?: number;
  /** Per task; default the job default. */
  memoryMb?: number;
  /** A `circom` preview's circuit (`code` is its manifest as JSON text): each input is proven. */
  circuit?: { wasm: Uint8Array; zkey: Uint8Array };
}

export interface PreviewTask {
  /** Index of the input in `spec.inputs`. */
  index: number;
  input: JsonValue;
  result: ExecResult;
}

export interface PreviewOptions {
  /** How many of the inputs to run, from the first. Default 5. */
  maxInputs?: number;
  /** Stops the preview; tasks still running end as `node_error` "aborted". */
  signal?: AbortSignal;
  /** The executor to run in; default one shared Web Worker pool for the tab (see `previewExecutor`). */
  executor?: Executor;
}

let shared: WebWorkerExecutor | undefined;

/**
 * The tab's preview pool: two Web Workers, created at the first preview and kept warm, so a
 * second preview of a Python function does not load Pyodide again.
 */
export function previewExecutor(): Executor {
  shared ??= new WebWorkerExecutor({ workers: 2 });
  return shared;
}

/**
 * Runs a function on the first few inputs in this tab, in the same sandboxes as a browser compute
 * node, the way a node would run them as tasks of a job (seed `preview:<index>`, the clock fixed
 * at the preview's start), for the editor: outputs, logs and errors, one entry per input, in order.
 * Never rejects for the function's own failures: they are `result.ok === false`.
 *
 * @example
 * const tasks = await runPreview({ runtime: 'python', code: 'def main(x):\n    return x * 2', inputs: [1, 2, 3] });
 * tasks.map((t) => (t.result.ok ? t.result.output : t.result.error.message)); // [2, 4, 6]
 */
export async function runPreview(spec: PreviewSpec, options: PreviewOptions = {}): Promise<PreviewTask[]> {
  const executor = options.executor ?? previewExecutor();
  const bytes = typeof spec.code === 'string' ? new TextEncoder().encode(spec.code) : spec.code;
  const codeCid = (await cidOf(bytes)).toString();
  const clock = Date.now();
  const inputs = spec.inputs.slice(0, Math.max(0, options.maxInputs ?? 5));
  return Promise.all(
    inputs.map(async (input, index) => ({
      index,
      input,
      result: await executor.run(
        {
          runtime: spec.runtime,
          code: spec.code,
          codeCid,
          input,
          timeoutMs: spec.timeoutMs ?? jobDefaults.timeoutMs,
          memoryMb: spec.memoryMb ?? jobDefaults.memoryMb,
          seed: `preview:${index}`,
          clock,
          ...(spec.circuit ? { circuit: spec.circuit } : {}),
        },
        options.signal,
      ),
    })),
  );
}
