/**
 * The in-tab preview: user code runs in the browser node's sandboxes (Web Workers: SES for JS,
 * the WASI shim for wasm, Pyodide from our own `/pyodide/` for Python), the same ones browser
 * nodes run tasks in. The module is loaded on first use, so the workers' code is not part of
 * the page's first load.
 */
import type { PreviewSpec, PreviewTask } from '../../../browser-node/src/browser/preview.ts';

export type { PreviewSpec, PreviewTask };

export async function runPreview(
  spec: PreviewSpec,
  options: { maxInputs?: number; signal?: AbortSignal } = {},
): Promise<PreviewTask[]> {
  const { runPreview: run } = await import('../../../browser-node/src/browser/preview.ts');
  return run(spec, options);
}
