import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

// In a process of its own: sealing freezes the built-ins of the process it runs in.
const sandbox = fileURLToPath(new URL('../core/python-sandbox.ts', import.meta.url));

test('behavior: after sealJavaScriptBehindPython the built-ins are frozen, eval and Function are gone, and objects can still own constructor/toString', () => {
  const script = `
    const { sealJavaScriptBehindPython } = await import(${JSON.stringify(sandbox)});
    sealJavaScriptBehindPython();
    const out = {};
    out.frozen = [Object.prototype, Array.prototype, Function.prototype, Object, Array, JSON, Math,
      Promise.prototype, Uint8Array.prototype, Object.getPrototypeOf(Uint8Array.prototype),
      WebAssembly.Memory.prototype, Error.prototype, TypeError.prototype, Date].every(Object.isFrozen);
    try { Array.prototype.push = () => 0; out.push = 'changed'; } catch (e) { out.push = e.constructor === undefined ? 'threw' : e.name; }
    try { Object.prototype.toString = () => 'x'; out.toString = 'changed'; } catch (e) { out.toString = e.name; }
    const o = {}; o.constructor = 1; o.toString = () => 'mine';
    out.own = [o.constructor, String(o), ({}).toString()];
    try { eval('1'); out.eval = 'ran'; } catch (e) { out.eval = e.message; }
    out.Function = (() => {}).constructor === undefined;
    out.dateNow = typeof Date.now();
    process.stdout.write(JSON.stringify(out));
  `;
  const out = JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: {} }),
  );
  expect(out).toEqual({
    frozen: true,
    push: 'TypeError',
    toString: 'TypeError',
    own: [1, 'mine', '[object Object]'],
    eval: 'eval is not available to sandboxed tasks',
    Function: true,
    dateNow: 'number',
  });
});
