import { expect, test } from 'vitest';
import collatz from '../../../templates/wasm-as/collatz.ts?raw';
import { compileAssemblyScript } from './assemblyscript.ts';

test('default: the Collatz template compiles to a WASI command module', async () => {
  const r = await compileAssemblyScript(collatz);
  expect(r.ok, r.ok ? '' : r.error).toBe(true);
  if (!r.ok) return;
  const module = await WebAssembly.compile(r.wasm as Uint8Array<ArrayBuffer>);
  expect(WebAssembly.Module.exports(module).map((e) => e.name)).toContain('_start');
  expect(WebAssembly.Module.imports(module).every((i) => i.module === 'wasi_snapshot_preview1')).toBe(true);
});

test('error: a type error comes back as readable diagnostics with the line', async () => {
  const r = await compileAssemblyScript('export function f(): i32 {\n  return "nope";\n}\n');
  expect(r.ok).toBe(false);
  if (!r.ok) expect(r.error).toMatch(/input\.ts.*2/s);
});
