import { arch, platform } from 'node:os';
import { version as pyodideVersion } from 'pyodide';
import type { RuntimeFingerprint } from '../../../protocol/index.ts';
import { WASI_SHIM_VERSION } from '../core/wasi-task.ts';

/**
 * The engine facts of a headless node, for its runtime fingerprint: Node and V8 versions, the
 * platform, Pyodide's version and the WASI shim's.
 */
export function headlessEngine(): RuntimeFingerprint['engine'] {
  const engine: RuntimeFingerprint['engine'] = {
    name: 'node',
    version: process.versions.node,
    v8: process.versions.v8,
    pyodide: pyodideVersion,
    wasiHost: `@bjorn3/browser_wasi_shim@${WASI_SHIM_VERSION}`,
    platform: platform(),
    arch: arch(),
  };
  return engine;
}
