import { describe, expect, test } from 'vitest';
import { MeshApiError } from '../client/index.ts';
import { CliError, usageError } from './cli-error.ts';
import { describeFailure, ExitCode, exitCodeForApiCode } from './exit-codes.ts';

describe('describeFailure', () => {
  test('default: API error codes map to 2, 3 or 4', () => {
    expect(exitCodeForApiCode('validation_failed')).toBe(ExitCode.usage);
    expect(exitCodeForApiCode('not_found')).toBe(ExitCode.usage);
    expect(exitCodeForApiCode('conflict')).toBe(ExitCode.usage);
    expect(exitCodeForApiCode('runtime_unavailable')).toBe(ExitCode.usage);
    expect(exitCodeForApiCode('unauthorized')).toBe(ExitCode.auth);
    expect(exitCodeForApiCode('forbidden')).toBe(ExitCode.auth);
    expect(exitCodeForApiCode('siwe_invalid')).toBe(ExitCode.auth);
    expect(exitCodeForApiCode('internal')).toBe(ExitCode.unavailable);
    expect(exitCodeForApiCode('misconfigured')).toBe(ExitCode.unavailable);
    expect(exitCodeForApiCode('bad_request', 502)).toBe(ExitCode.unavailable);
  });

  test("behavior: the client's MeshApiError keeps the API's code and message", () => {
    expect(describeFailure(new MeshApiError('unauthorized', 401, 'invalid API key'))).toEqual({
      exitCode: 3,
      code: 'unauthorized',
      message: 'invalid API key',
    });
    expect(describeFailure(new MeshApiError('not_found', 404, 'job x does not exist'))).toMatchObject({
      exitCode: 2,
      code: 'not_found',
    });
    expect(describeFailure(new MeshApiError('unreachable', 0, 'cannot reach http://127.0.0.1:9'))).toEqual({
      exitCode: 4,
      code: 'unreachable',
      message: 'cannot reach http://127.0.0.1:9',
    });
  });

  test('behavior: CLI errors carry their own exit code', () => {
    expect(describeFailure(usageError('missing --inputs'))).toEqual({
      exitCode: 2,
      code: 'usage',
      message: 'missing --inputs',
    });
    expect(describeFailure(new CliError('not_logged_in', 'not logged in', ExitCode.auth)).exitCode).toBe(3);
  });

  test('behavior: network failures anywhere in the cause chain are exit 4', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    expect(describeFailure(new TypeError('fetch failed', { cause: refused }))).toEqual({
      exitCode: 4,
      code: 'unreachable',
      message: 'cannot reach the API (ECONNREFUSED)',
    });
    expect(describeFailure(new TypeError('fetch failed')).exitCode).toBe(4);
    expect(describeFailure(new DOMException('timed out', 'TimeoutError')).exitCode).toBe(4);
  });

  test('behavior: `code: message` and `HTTP n` texts of plain errors are understood', () => {
    expect(describeFailure(new Error('siwe_invalid: bad signature'))).toEqual({
      exitCode: 3,
      code: 'siwe_invalid',
      message: 'bad signature',
    });
    expect(describeFailure(new Error('HTTP 503')).exitCode).toBe(4);
    expect(describeFailure(new Error('HTTP 401')).exitCode).toBe(3);
  });

  test('error: anything unexpected is exit 4, never 0 or 1', () => {
    expect(describeFailure(new RangeError('oops'))).toEqual({
      exitCode: 4,
      code: 'unexpected',
      message: 'oops',
    });
    expect(describeFailure('a string').exitCode).toBe(4);
  });
});
