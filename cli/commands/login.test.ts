import { describe, expect, test } from 'vitest';
import { CliError } from '../cli-error.ts';
import { parseLoginArgs, parsePrivateKey } from './login.ts';

const KEY = `0x${'ab'.repeat(32)}`;

function usage(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    return (error as CliError).message;
  }
  throw new Error('expected a usage error');
}

describe('parseLoginArgs', () => {
  test('default: --dev is account 0', () => {
    expect(parseLoginArgs(['--dev']).method).toEqual({ kind: 'dev', account: 0 });
  });

  test('behavior: each way of logging in', () => {
    expect(parseLoginArgs(['--dev', '--account', '1']).method).toEqual({ kind: 'dev', account: 1 });
    expect(parseLoginArgs(['--key-file', '/k']).method).toEqual({ kind: 'key-file', path: '/k' });
    expect(parseLoginArgs(['--key', 'mmk_abc_def', '--api', 'http://x']).method).toEqual({
      kind: 'key',
      key: 'mmk_abc_def',
    });
  });

  test('error: none or several ways, or a bad account or key', () => {
    expect(usage(() => parseLoginArgs([]))).toMatch(/exactly one of --dev, --key-file FILE or --key KEY/);
    expect(usage(() => parseLoginArgs(['--dev', '--key', 'mmk_x']))).toMatch(/exactly one/);
    expect(usage(() => parseLoginArgs(['--dev', '--account', '9']))).toMatch(
      /--account must be an integer from 0 to 1/,
    );
    expect(usage(() => parseLoginArgs(['--key-file', 'k', '--account', '1']))).toBe(
      '--account goes with --dev',
    );
    expect(usage(() => parseLoginArgs(['--key', 'sk-123']))).toMatch(/--key must be an API key \(mmk_…\)/);
    expect(usage(() => parseLoginArgs(['--dev', 'extra']))).toBe('unexpected argument "extra"');
  });
});

describe('parsePrivateKey', () => {
  test('default: a 0x key with a trailing newline', () => {
    expect(parsePrivateKey(`${KEY}\n`, 'f')).toBe(KEY);
  });

  test('behavior: without 0x, in upper case', () => {
    expect(parsePrivateKey(KEY.slice(2).toUpperCase(), 'f')).toBe(KEY);
  });

  test('error: anything else, without echoing the file', () => {
    const message = usage(() => parsePrivateKey('0x1234 secret words', '/home/me/key'));
    expect(message).toBe('/home/me/key does not hold a private key (64 hex digits, optionally 0x-prefixed)');
  });
});
