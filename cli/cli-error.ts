import type { ExitCode } from './exit-codes.ts';

/**
 * A failure the CLI reports itself (bad arguments, no credentials, a file it cannot read),
 * with the exit code it ends the process with and a short stable `code` for `--json` output.
 *
 * @example throw new CliError('usage', 'missing --inputs', ExitCode.usage)
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: string;
  readonly exitCode: ExitCode;
  /** Print the command's usage after the message (for argument mistakes). */
  readonly showUsage: boolean;
  constructor(code: string, message: string, exitCode: ExitCode, options: { showUsage?: boolean } = {}) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
    this.showUsage = options.showUsage ?? false;
  }
}

/** A mistake in the command line: exit 2, with the usage of the command. */
export function usageError(message: string): CliError {
  return new CliError('usage', message, 2, { showUsage: true });
}
