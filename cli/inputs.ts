import { readFile } from 'node:fs/promises';
import { inputsFormatOf, type JsonValue, limits, parseInputs } from '../protocol/index.ts';
import { usageError } from './cli-error.ts';

/**
 * The inputs of a job from `--inputs`:
 * - `range:A..B`: the integers A, A+1, …, B-1 (`range:A..=B` includes B);
 * - a `.jsonl`/`.ndjson` file: one JSON value per line (blank lines are skipped);
 * - a `.json` file: one JSON array;
 * - `-` (stdin) or any other file: a JSON array if the whole text is one, else JSON lines (so a
 *   one-line `[1, 2]` is two inputs there: name the file `.jsonl` to mean one).
 *
 * Text is read by protocol's `parseInputs`, the parser the web app uses too, with the limits the
 * API enforces: a file the API would refuse is refused here, naming the line or input at fault.
 *
 * @example await readInputs('range:0..1000') // [0, 1, …, 999]
 */
export async function readInputs(
  spec: string,
  read: (path: string) => Promise<string> = readText,
): Promise<JsonValue[]> {
  if (spec.startsWith('range:')) return parseRange(spec);
  let text: string;
  try {
    text = await read(spec);
  } catch (error) {
    throw usageError(
      `cannot read --inputs ${spec}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const parsed = parseInputs(text, { format: spec === '-' ? 'auto' : inputsFormatOf(spec) });
  if (!parsed.ok) throw usageError(`${spec === '-' ? 'stdin' : spec}: ${parsed.error.message}`);
  return parsed.inputs;
}

/** `range:A..B` (B excluded) or `range:A..=B` (B included), integers, at most `limits.maxInputs`. */
export function parseRange(spec: string): number[] {
  const match = /^range:(-?\d+)\.\.(=?)(-?\d+)$/.exec(spec.trim());
  if (!match) {
    throw usageError(`bad range ${JSON.stringify(spec)}: expected range:A..B (B excluded) or range:A..=B`);
  }
  const start = Number(match[1]);
  const end = Number(match[3]) + (match[2] ? 1 : 0);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
    throw usageError(`bad range ${spec}: the bounds must be safe integers`);
  }
  if (end <= start) throw usageError(`range ${spec} is empty: a job needs at least one input`);
  if (end - start > limits.maxInputs) {
    throw usageError(`range ${spec} has ${end - start} inputs; a job takes at most ${limits.maxInputs}`);
  }
  return Array.from({ length: end - start }, (_, i) => start + i);
}

async function readText(path: string): Promise<string> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  return readFile(path, 'utf8');
}
