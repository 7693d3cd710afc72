import { describe, expect, test } from 'vitest';
import { compileJsModule, JsModuleError } from './js-module.ts';

/** Evaluates a compiled script as the sandbox would (outside SES: the transform is what is tested). */
async function load(source: string): Promise<unknown> {
  const { script } = compileJsModule(source);
  // biome-ignore lint/security/noGlobalEval: the test runs the compiled script as a compartment would
  const indirectEval = globalThis.eval;
  return await indirectEval(script);
}

function compileError(source: string): JsModuleError {
  try {
    compileJsModule(source);
  } catch (error) {
    if (error instanceof JsModuleError) return error;
    throw error;
  }
  throw new Error('expected a JsModuleError');
}

describe('compileJsModule', () => {
  test('default', async () => {
    const main = (await load('export default (x) => x * 2')) as (x: number) => number;
    expect(main(21)).toBe(42);
  });

  describe('export forms', () => {
    test('behavior: export default <expression>', async () => {
      expect(await load('const k = 3;\nexport default k * 2;')).toBe(6);
      expect(await load('export default { a: [1, 2] }')).toEqual({ a: [1, 2] });
      expect(await load('const a = 1, b = 2;\nexport default (a, b);')).toBe(2);
      expect(await load('export default (1) + (2)')).toBe(3);
    });

    test('behavior: export default function f (hoisted, keeps its name)', async () => {
      const main = (await load(
        'export default function double(x) { return helper(x); }\nfunction helper(x) { return x * 2; }',
      )) as (x: number) => number;
      expect(main(4)).toBe(8);
      expect(main.name).toBe('double');
    });

    test('behavior: anonymous default function and async function are named "default"', async () => {
      const plain = (await load('export default function (x) { return x + 1; }')) as (x: number) => number;
      expect(plain(1)).toBe(2);
      expect(plain.name).toBe('default');
      const asyncMain = (await load('export default async function (x) { return x + 2; }')) as (
        x: number,
      ) => Promise<number>;
      expect(await asyncMain(1)).toBe(3);
      expect(asyncMain.name).toBe('default');
      const arrow = (await load('export default (x) => x')) as () => unknown;
      expect(arrow.name).toBe('default');
    });

    test('behavior: export default class (named and anonymous)', async () => {
      const Named = (await load('export default class Box { constructor(v) { this.v = v; } }')) as new (
        v: number,
      ) => { v: number };
      expect(new Named(5).v).toBe(5);
      expect(Named.name).toBe('Box');
      const Anonymous = (await load('export default class { get x() { return 1; } }')) as new () => {
        x: number;
      };
      expect(new Anonymous().x).toBe(1);
      expect(Anonymous.name).toBe('default');
    });

    test('behavior: export { x as default } reads the binding at the end of the module', async () => {
      expect(await load('let x = 1;\nexport { x as default, x as y };\nx = 2;')).toBe(2);
      expect(await load('const z = 7;\nexport { z as "default" };')).toBe(7);
    });

    test('behavior: named exports lose the export keyword', async () => {
      const source = [
        'export const a = 1, b = 2;',
        'export let c = 3;',
        'export function f() { return a + b + c; }',
        'export async function g() { return 1; }',
        'export class K {}',
        'export default () => f() + (new K() instanceof K ? 10 : 0);',
      ].join('\n');
      expect(((await load(source)) as () => number)()).toBe(16);
    });

    test('behavior: a hashbang line is accepted', async () => {
      expect(await load('#!/usr/bin/env node\nexport default 1')).toBe(1);
    });
  });

  test('behavior: top-level await', async () => {
    const source = 'const base = await Promise.resolve(40);\nexport default (x) => base + x;';
    expect(((await load(source)) as (x: number) => number)(2)).toBe(42);
    expect(await load('export default await Promise.resolve("late")')).toBe('late');
  });

  test('behavior: top-level this is undefined, as in a module', async () => {
    expect(await load('export default typeof this')).toBe('undefined');
  });

  test('behavior: the standard globals a module names are bound once, and its own declarations still shadow them', async () => {
    const { script } = compileJsModule('export default (x) => Math.sqrt(x) + JSON.stringify(x).length');
    // Only the names the module uses, as constants of the outer function.
    expect(script.split('\n')[0]).toContain('const {JSON,Math}=globalThis;');
    expect(script).not.toContain('Reflect');
    expect(((await load('export default (x) => Math.sqrt(x)')) as (x: number) => number)(16)).toBe(4);
    // A module may declare a name the wrapper binds, at its top level or further in.
    const own = (await load(
      'const Math = { sqrt: () => "mine" };\nfunction JSON() { return "f"; }\nexport default () => [Math.sqrt(4), JSON(), ((Map) => Map)(1)];',
    )) as () => unknown;
    expect(own()).toEqual(['mine', 'f', 1]);
    // Assigning to a bound global throws (the compartment's globals are frozen: it would anyway).
    const assign = (await load('export default () => { Math = 1; }')) as () => void;
    expect(assign).toThrow(TypeError);
  });

  test('behavior: line numbers are preserved, even across removed exports and comments', () => {
    const source = [
      '// line 1',
      'export /* line 2',
      '*/ const a = 1; // line 3',
      'export {',
      '  a as b,',
      '};',
      'export default /* line 7',
      '*/ (x) => x; // line 8',
      'const line9 = 9;',
    ].join('\n');
    const { script, line1Offset } = compileJsModule(source);
    const lines = script.split('\n');
    expect(lines[0]?.endsWith('// line 1')).toBe(true);
    expect(line1Offset).toBe(lines[0]!.length - '// line 1'.length);
    expect(lines[2]).toContain('line 3');
    expect(lines[7]).toContain('line 8');
    expect(lines[8]).toBe('const line9 = 9;');
  });

  test('behavior: stack traces point at the user’s lines', async () => {
    const source = [
      'const x = 1;',
      '',
      'function fail() {',
      "  throw new Error('here');",
      '}',
      'export default fail;',
    ].join('\n');
    const main = (await load(source)) as () => void;
    let stack = '';
    try {
      main();
    } catch (error) {
      stack = (error as Error).stack ?? '';
    }
    expect(stack).toContain('task.js:4:9');
  });

  test('behavior: a custom source URL names the script', () => {
    const { script, sourceUrl } = compileJsModule('export default 1', { sourceUrl: 'job-123.js' });
    expect(sourceUrl).toBe('job-123.js');
    expect(script.endsWith('//# sourceURL=job-123.js\n')).toBe(true);
    expect(() => compileJsModule('export default 1', { sourceUrl: 'a b\nc' })).toThrow(TypeError);
  });

  describe('errors', () => {
    test('error: static import, with its position', () => {
      const error = compileError("const a = 1;\n  import fs from 'node:fs';\nexport default a;");
      expect(error.message).toBe(
        'user code must be self-contained: imports are not available in the sandbox at 2:3',
      );
      expect([error.line, error.column]).toEqual([2, 3]);
    });

    test('error: re-exports', () => {
      expect(compileError("export * from 'x';").message).toMatch(/imports are not available.* at 1:1$/);
      expect(compileError("export { a } from 'x';\nexport default 1").message).toMatch(/at 1:1$/);
      expect(compileError("export { default } from 'x';").message).toMatch(/imports are not available/);
    });

    test('error: dynamic import() and import.meta, wherever they are', () => {
      expect(compileError("export default async () => {\n  return import('node:fs');\n}").message).toMatch(
        /imports are not available in the sandbox at 2:10$/,
      );
      expect(compileError('export default () => import.meta.url').message).toMatch(/at 1:22$/);
    });

    test('error: syntax error with line and column', () => {
      const error = compileError('const a = 1;\nconst b = ;\nexport default a;');
      expect(error.message).toBe('SyntaxError: Unexpected token at 2:11');
      expect([error.line, error.column]).toEqual([2, 11]);
    });

    test('error: module-only syntax rules apply (strict mode, no top-level return)', () => {
      expect(compileError('with (a) {}\nexport default 1').message).toMatch(/^SyntaxError: .* at 1:1$/);
      expect(compileError('return 1').message).toMatch(/^SyntaxError: /);
    });

    test('error: no default export', () => {
      const error = compileError('export const a = 1;');
      expect(error.message).toMatch(/no default export/);
      expect(error.line).toBeUndefined();
    });
  });
});
