import { readFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import type { RuntimeFingerprint } from '../../../protocol/index.ts';

/**
 * The engine facts of a headless node, for its runtime fingerprint. The WASI host's version is
 * read from the installed package (its `exports` hide `package.json` from `import`), so it follows
 * upgrades without a constant to forget.
 */
export function headlessEngine(): RuntimeFingerprint['engine'] {
  const engine: RuntimeFingerprint['engine'] = {
    name: 'node',
    version: process.versions.node,
    v8: process.versions.v8,
    platform: platform(),
    arch: arch(),
  };
  const wasi = wasiShimVersion();
  if (wasi) engine.wasiHost = `@bjorn3/browser_wasi_shim@${wasi}`;
  return engine;
}

function wasiShimVersion(): string | undefined {
  try {
    // …/node_modules/@bjorn3/browser_wasi_shim/dist/index.js → …/browser_wasi_shim/package.json
    const entry = import.meta.resolve('@bjorn3/browser_wasi_shim');
    const pkg = JSON.parse(readFileSync(new URL('../package.json', entry), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}
