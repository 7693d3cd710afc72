import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { usageError } from './cli-error.ts';

/** Flags every command takes. */
export const commonOptions = {
  api: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsOptionsConfig;

export const commonHelp = `Common options:
  --api URL     API to talk to (default: saved by login, $MONADMESH_API, or http://127.0.0.1:8787)
  --key KEY     API key (default: $MONADMESH_KEY, or the key saved by login for that API)
  --json        machine-readable output only (one JSON document on stdout; errors as {"error":{code,message}})
  -h, --help    this help`;

type Options = ParseArgsOptionsConfig;

/**
 * `node:util` parseArgs, strict, with the common flags added and its errors turned into short
 * usage errors (exit 2). Positionals are checked against `positionals: [min, max]`.
 */
export function parseCommand<const T extends Options>(
  argv: string[],
  options: T,
  positionals: { min: number; max: number; names: string },
) {
  let parsed: ReturnType<typeof parse<T>>;
  try {
    parsed = parse(argv, options);
  } catch (error) {
    throw usageError(cleanParseError(error as Error & { code?: string }));
  }
  const { values, positionals: rest } = parsed;
  if (!(values as { help?: boolean }).help) {
    if (rest.length < positionals.min) throw usageError(`missing ${positionals.names}`);
    if (rest.length > positionals.max) {
      throw usageError(`unexpected argument ${JSON.stringify(rest[positionals.max])}`);
    }
  }
  return { values, positionals: rest };
}

function parse<T extends Options>(argv: string[], options: T) {
  return parseArgs({
    args: argv,
    options: { ...commonOptions, ...options },
    strict: true,
    allowPositionals: true,
    allowNegative: false,
  });
}

/** parseArgs messages carry a long hint about `--`; keep what the user needs. */
export function cleanParseError(error: Error & { code?: string }): string {
  const unknown = /^Unknown option '([^']+)'/.exec(error.message);
  if (unknown) return `unknown option ${unknown[1]}`;
  const missingValue = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(error.message);
  if (missingValue) return `${missingValue[1]} needs a value`;
  const noValue = /^Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(error.message);
  if (noValue) return `${noValue[1]} does not take a value`;
  return error.message.split('. ')[0]!;
}

/** An integer flag within bounds, or undefined when absent. */
export function intFlag(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw usageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}
