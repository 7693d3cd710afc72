/**
 * The in-tab preview: user code runs in the browser node's sandboxes (Web Workers: SES for JS,
 * the WASI shim for wasm, Pyodide for Python), the same ones browser nodes run tasks in, inside
 * the sandbox frame of `sandboxOrigin` (AppConfig) when there is one, so a preview that runs out
 * of memory takes down that frame, not the editor. The modules load on first use, so the
 * workers' code is not part of the page's first load.
 */
import type { PreviewSpec, PreviewTask } from '../../../browser-node/src/browser/preview.ts';
import type { Executor } from '../../../browser-node/src/core/executor.ts';

export type { PreviewSpec, PreviewTask };

/** The preview's frame pool, kept warm between previews (a Python preview loads Pyodide once). */
let framed: { origin: string; executor: Executor } | undefined;

export async function runPreview(
  spec: PreviewSpec,
  options: { maxInputs?: number; signal?: AbortSignal; sandboxOrigin?: string | undefined } = {},
): Promise<PreviewTask[]> {
  const { sandboxOrigin, ...rest } = options;
  const { runPreview: run } = await import('../../../browser-node/src/browser/preview.ts');
  if (sandboxOrigin && framed?.origin !== sandboxOrigin) {
    const { FrameExecutor } = await import('../../../browser-node/src/browser/frame-executor.ts');
    await framed?.executor.close();
    framed = { origin: sandboxOrigin, executor: new FrameExecutor({ sandboxOrigin, workers: 2 }) };
  }
  return run(spec, { ...rest, ...(sandboxOrigin && framed ? { executor: framed.executor } : {}) });
}
