import { fileURLToPath } from 'node:url';
import type { PyodideLike } from '../core/python-sandbox.ts';

/** Pyodide's files in our own node_modules: the only place they are loaded from (never a CDN). */
export const pyodideIndexPath = fileURLToPath(new URL('../../../node_modules/pyodide/', import.meta.url));

/**
 * Loads Pyodide with the standard library only, from node_modules, with no JavaScript globals
 * visible to Python (`jsglobals: {}`) and an empty environment.
 */
export async function loadLocalPyodide(): Promise<PyodideLike> {
  const { loadPyodide } = await import('pyodide');
  const pyodide = await loadPyodide({ indexURL: pyodideIndexPath, jsglobals: {}, env: {}, packages: [] });
  return pyodide as unknown as PyodideLike;
}
