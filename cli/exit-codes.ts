import { ErrorCode } from '../protocol/index.ts';
import { CliError } from './cli-error.ts';

/** Exit codes scripts can rely on; `--help` and the README list the same table. */
export const ExitCode = {
  /** The command did what was asked (for `run`/`results`: every task succeeded). */
  ok: 0,
  /** The job finished with failed tasks, or was cancelled. */
  jobFailed: 1,
  /** Bad arguments, or a request the API refused as invalid (validation, unknown job, conflict). */
  usage: 2,
  /** Not logged in, or the API rejected the credentials or the wallet. */
  auth: 3,
  /** The API is unreachable, failed, or answered something unexpected. */
  unavailable: 4,
  /** Interrupted with Ctrl-C (128 + SIGINT), after cancelling the job. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const exitCodesHelp = `Exit codes:
    0  success (run/results: every task succeeded)
    1  the job finished with failed tasks, or was cancelled
    2  bad arguments, or a request the API refused (validation, unknown job, ...)
    3  not logged in, or the credentials were rejected
    4  the API is unreachable or failed
  130  interrupted (Ctrl-C); a running job was cancelled first`;

const authCodes: ReadonlySet<ErrorCode> = new Set([
  'unauthorized',
  'forbidden',
  'siwe_invalid',
  'nonce_invalid',
]);
const serverCodes: ReadonlySet<ErrorCode> = new Set(['internal', 'misconfigured']);
const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** What the CLI says about a failure: exit code, a stable code for `--json`, and a message. */
export interface Failure {
  exitCode: ExitCode;
  code: string;
  message: string;
}

/** Exit code for an API error code: auth → 3, server faults → 4, any other refusal → 2. */
export function exitCodeForApiCode(code: ErrorCode, status?: number): ExitCode {
  if (authCodes.has(code)) return ExitCode.auth;
  if (serverCodes.has(code) || (status !== undefined && status >= 500)) return ExitCode.unavailable;
  return ExitCode.usage;
}

/**
 * Classify any thrown value. API errors are recognised by shape (`code` from protocol/errors.ts
 * and an HTTP `status`, as the client's MeshApiError has) or by the `code: message` text of the
 * sign-in helpers, so this module needs nothing from the client to be tested.
 */
export function describeFailure(error: unknown): Failure {
  if (error instanceof CliError)
    return { exitCode: error.exitCode, code: error.code, message: error.message };
  if (error instanceof Error) {
    const { code, status } = error as Error & { code?: unknown; status?: unknown };
    // The client's MeshApiError for a network failure.
    if (code === 'unreachable') {
      const why = networkCause(error);
      const detail = why && /\(([A-Z_]+)\)$/.exec(why)?.[1];
      const message =
        detail && !error.message.includes(detail) ? `${error.message} (${detail})` : error.message;
      return { exitCode: ExitCode.unavailable, code, message };
    }
    const apiCode = ErrorCode.safeParse(code);
    if (apiCode.success) {
      return {
        exitCode: exitCodeForApiCode(apiCode.data, typeof status === 'number' ? status : undefined),
        code: apiCode.data,
        message: error.message,
      };
    }
    // client/sign-in.ts throws `Error('<code>: <message>')` or `Error('HTTP <status>')`.
    const prefixed = /^([a-z_]+): ([\s\S]*)$/.exec(error.message);
    const prefixedCode = ErrorCode.safeParse(prefixed?.[1]);
    if (prefixed && prefixedCode.success) {
      return {
        exitCode: exitCodeForApiCode(prefixedCode.data),
        code: prefixedCode.data,
        message: prefixed[2]!,
      };
    }
    const http = /^HTTP (\d{3})\b/.exec(error.message);
    if (http) {
      const httpStatus = Number(http[1]);
      const exitCode =
        httpStatus === 401 || httpStatus === 403
          ? ExitCode.auth
          : httpStatus >= 500
            ? ExitCode.unavailable
            : ExitCode.usage;
      return { exitCode, code: `http_${httpStatus}`, message: error.message };
    }
    const network = networkCause(error);
    if (network) return { exitCode: ExitCode.unavailable, code: 'unreachable', message: network };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { exitCode: ExitCode.unavailable, code: 'unexpected', message };
}

/** A human reason when `error` (or one of its causes) is a failed connection or a timeout. */
function networkCause(error: Error): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as Error & { code?: unknown }).code;
    if (typeof code === 'string' && networkCodes.has(code)) return `cannot reach the API (${code})`;
    if (current.name === 'TimeoutError') return 'the API did not answer in time';
    if (current instanceof TypeError && current.message === 'fetch failed' && !current.cause) {
      return 'cannot reach the API';
    }
    current = current.cause;
  }
  if (error instanceof TypeError && error.message === 'fetch failed') return 'cannot reach the API';
  return undefined;
}
