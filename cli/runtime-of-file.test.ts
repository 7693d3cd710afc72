import { describe, expect, test } from 'vitest';
import { CliError } from './cli-error.ts';
import { runtimeOfFile } from './runtime-of-file.ts';

describe('runtimeOfFile', () => {
  test('default: .js and .mjs are JavaScript', () => {
    expect(runtimeOfFile('a/square.js')).toBe('js');
    expect(runtimeOfFile('B.MJS')).toBe('js');
  });

  test('behavior: .py and .wasm work once their runtimes are available', () => {
    expect(runtimeOfFile('f.py', ['js', 'python'])).toBe('python');
    expect(runtimeOfFile('f.wasm', ['js', 'wasm'])).toBe('wasm');
  });

  test('error: .py and .wasm are not available yet (exit 2)', () => {
    for (const [file, runtime] of [
      ['f.py', 'python'],
      ['f.wasm', 'wasm'],
    ] as const) {
      const error = (() => {
        try {
          runtimeOfFile(file);
        } catch (e) {
          return e as CliError;
        }
      })();
      expect(error).toBeInstanceOf(CliError);
      expect(error?.exitCode).toBe(2);
      expect(error?.code).toBe('runtime_unavailable');
      expect(error?.message).toMatch(`the ${runtime} runtime`);
      expect(error?.message).toMatch('is not available yet');
    }
  });

  test('error: an unknown extension', () => {
    expect(() => runtimeOfFile('f.ts')).toThrow(/cannot tell the runtime of f\.ts/);
    expect(() => runtimeOfFile('Makefile')).toThrow(/cannot tell the runtime/);
  });
});
