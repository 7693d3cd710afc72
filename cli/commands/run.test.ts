import { describe, expect, test } from 'vitest';
import { CliError } from '../cli-error.ts';
import { parseRunArgs } from './run.ts';

function usage(argv: string[]): string {
  try {
    parseRunArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    expect((error as CliError).showUsage).toBe(true);
    return (error as CliError).message;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
}

describe('parseRunArgs', () => {
  test('default: a file and --inputs, everything else unset', () => {
    expect(parseRunArgs(['square.js', '--inputs', 'range:0..10'])).toMatchObject({
      file: 'square.js',
      inputs: 'range:0..10',
      out: undefined,
      unordered: false,
      timeoutMs: undefined,
      memoryMb: undefined,
      maxAttempts: undefined,
      dryRun: false,
      detach: false,
      json: false,
    });
  });

  test('behavior: every option, in any order, with = or a separate value', () => {
    expect(
      parseRunArgs([
        '--json',
        '--inputs=in.jsonl',
        'f.mjs',
        '--timeout',
        '5000',
        '--memory=64',
        '--attempts',
        '1',
        '--label',
        'x',
        '--unordered',
        '-o',
        'out.jsonl',
        '--api',
        'http://127.0.0.1:1',
        '--key',
        'mmk_k',
      ]),
    ).toMatchObject({
      file: 'f.mjs',
      inputs: 'in.jsonl',
      out: 'out.jsonl',
      unordered: true,
      timeoutMs: 5000,
      memoryMb: 64,
      maxAttempts: 1,
      label: 'x',
      json: true,
      api: 'http://127.0.0.1:1',
      key: 'mmk_k',
    });
    expect(parseRunArgs(['f.js', '--inputs', 'range:0..2', '--dry-run', '--threads', '2'])).toMatchObject({
      dryRun: true,
      threads: 2,
    });
  });

  test('behavior: --help needs nothing else', () => {
    expect(parseRunArgs(['--help']).help).toBe(true);
    expect(parseRunArgs(['-h']).help).toBe(true);
  });

  test('error: unknown options, missing values and missing arguments', () => {
    expect(usage(['f.js', '--inputs', 'range:0..1', '--bogus'])).toBe('unknown option --bogus');
    expect(usage(['f.js', '--inputs'])).toBe('--inputs needs a value');
    expect(usage(['f.js', '--inputs', 'range:0..1', '--json=yes'])).toBe('--json does not take a value');
    expect(usage(['f.js'])).toMatch(/^missing --inputs/);
    expect(usage(['--inputs', 'range:0..1'])).toBe('missing the function file');
    expect(usage(['a.js', 'b.js', '--inputs', 'range:0..1'])).toBe('unexpected argument "b.js"');
  });

  test('error: limits outside what the API accepts', () => {
    expect(usage(['f.js', '--inputs', 'range:0..1', '--timeout', '5'])).toBe(
      '--timeout must be an integer from 10 to 300000, got "5"',
    );
    expect(usage(['f.js', '--inputs', 'range:0..1', '--timeout', '1.5'])).toMatch(
      /--timeout must be an integer/,
    );
    expect(usage(['f.js', '--inputs', 'range:0..1', '--memory', '4096'])).toMatch(
      /--memory must be an integer from 16 to 1024/,
    );
    expect(usage(['f.js', '--inputs', 'range:0..1', '--attempts', '0'])).toMatch(
      /--attempts must be an integer from 1 to 10/,
    );
    expect(usage(['f.js', '--inputs', 'range:0..1', '--attempts', 'three'])).toMatch(/got "three"/);
  });

  test('error: options that contradict each other', () => {
    expect(usage(['f.js', '--inputs', 'range:0..1', '--detach', '--dry-run'])).toMatch(
      /--detach and --dry-run/,
    );
    expect(usage(['f.js', '--inputs', 'range:0..1', '--detach', '--out', 'x'])).toMatch(
      /--detach does not wait/,
    );
    expect(usage(['f.js', '--inputs', 'range:0..1', '--threads', '2'])).toBe(
      '--threads is for --dry-run only',
    );
  });
});
