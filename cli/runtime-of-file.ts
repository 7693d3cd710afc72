import { extname } from 'node:path';
import { availableRuntimes, type Runtime } from '../protocol/index.ts';
import { CliError, usageError } from './cli-error.ts';
import { ExitCode } from './exit-codes.ts';

const byExtension: Record<string, Runtime> = {
  '.js': 'js',
  '.mjs': 'js',
  '.py': 'python',
  '.wasm': 'wasm',
};

/** Runtimes the CLI can submit and dry-run: the platform's available ones that a node here runs. */
export const cliRuntimes: readonly Runtime[] = availableRuntimes.filter(
  (r) => r === 'js' || r === 'wasm' || r === 'python',
);

/**
 * The runtime a code file runs on, from its extension. Runtimes the platform knows but cannot
 * run yet fail here with exit 2 rather than after an upload and a `runtime_unavailable` answer.
 */
export function runtimeOfFile(path: string, available: readonly Runtime[] = cliRuntimes): Runtime {
  const ext = extname(path).toLowerCase();
  const runtime = byExtension[ext];
  if (!runtime) {
    throw usageError(`cannot tell the runtime of ${path}: expected a .js, .mjs, .py or .wasm file`);
  }
  if (!available.includes(runtime)) {
    throw new CliError(
      'runtime_unavailable',
      `the ${runtime} runtime (${ext}) is not available yet; runtimes available now: ${available.join(', ')}`,
      ExitCode.usage,
    );
  }
  return runtime;
}
