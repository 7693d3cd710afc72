import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { WASI_SHIM_VERSION } from './wasi-task.ts';

test('behavior: WASI_SHIM_VERSION is the installed @bjorn3/browser_wasi_shim', () => {
  const entry = import.meta.resolve('@bjorn3/browser_wasi_shim');
  const pkg = JSON.parse(readFileSync(new URL('../package.json', entry), 'utf8')) as { version: string };
  expect(WASI_SHIM_VERSION).toBe(pkg.version);
});
