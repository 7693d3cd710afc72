import { describe, expect, test } from 'vitest';
import { CliError } from './cli-error.ts';
import { runtimeOfFile } from './runtime-of-file.ts';

describe('runtimeOfFile', () => {
  test('default: .js and .mjs are JavaScript, .wasm is WebAssembly', () => {
    expect(runtimeOfFile('a/square.js')).toBe('js');
    expect(runtimeOfFile('B.MJS')).toBe('js');
    expect(runtimeOfFile('sieve.wasm')).toBe('wasm');
  });

  test('behavior: .py is Python', () => {
    expect(runtimeOfFile('f.py')).toBe('python');
  });

  test('error: runtimes that are not available yet exit 2', () => {
    for (const [file, runtime, available] of [
      ['f.py', 'python', ['js']],
      ['f.wasm', 'wasm', ['js']],
    ] as const) {
      const error = (() => {
        try {
          runtimeOfFile(file, available);
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
