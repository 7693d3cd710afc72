import { version as pyodideVersion } from 'pyodide';
import type { RuntimeFingerprint } from '../../../protocol/index.ts';
import { WASI_SHIM_VERSION } from '../core/wasi-task.ts';

/**
 * The engine facts of a browser node, for its runtime fingerprint: the browser and its major
 * version from the user agent (a browser does not expose its V8 version; Chromium's V8 follows the
 * browser's version), the platform, Pyodide's version and the WASI shim's.
 */
export function browserEngine(
  userAgent = globalThis.navigator?.userAgent ?? '',
): RuntimeFingerprint['engine'] {
  const engine: RuntimeFingerprint['engine'] = {
    name: 'browser',
    pyodide: pyodideVersion,
    wasiHost: `@bjorn3/browser_wasi_shim@${WASI_SHIM_VERSION}`,
  };
  // Order matters: Edge and Opera also say "Chrome/", and Chrome also says "Safari/".
  const known: [string, RegExp][] = [
    ['edge', /Edg\/([\d.]+)/],
    ['opera', /OPR\/([\d.]+)/],
    ['firefox', /Firefox\/([\d.]+)/],
    ['chromium', /Chrom(?:e|ium)\/([\d.]+)/],
    ['safari', /Version\/([\d.]+).*Safari\//],
  ];
  for (const [name, pattern] of known) {
    const match = pattern.exec(userAgent);
    if (match) {
      engine.name = name;
      engine.version = match[1]!.slice(0, 64);
      break;
    }
  }
  const platform = /\(([^;)]+)/.exec(userAgent)?.[1];
  if (platform) engine.platform = platform.slice(0, 64);
  return engine;
}
