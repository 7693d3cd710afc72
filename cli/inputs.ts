import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { type JsonValue, limits } from '../protocol/index.ts';
import { usageError } from './cli-error.ts';

/**
 * The inputs of a job from `--inputs`:
 * - `range:A..B`: the integers A, A+1, …, B-1 (`range:A..=B` includes B);
 * - a `.jsonl`/`.ndjson` file: one JSON value per line (blank lines are skipped);
 * - a `.json` file: one JSON array;
 * - `-` (stdin) or any other file: a JSON array if the whole text is one, else JSON lines.
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
  const ext = spec === '-' ? '' : extname(spec).toLowerCase();
  if (ext === '.json') return checkCount(parseJsonArray(text, spec), spec);
  if (ext === '.jsonl' || ext === '.ndjson') return checkCount(parseJsonLines(text, spec), spec);
  return checkCount(sniffArray(text) ?? parseJsonLines(text, spec), spec);
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

/** One JSON value per non-blank line; errors name the line. */
export function parseJsonLines(text: string, name = 'inputs'): JsonValue[] {
  const values: JsonValue[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    try {
      values.push(JSON.parse(line) as JsonValue);
    } catch (error) {
      throw usageError(`${name}:${i + 1}: not JSON (${(error as Error).message})`);
    }
  }
  return values;
}

/** A JSON document that must be an array. */
export function parseJsonArray(text: string, name = 'inputs'): JsonValue[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw usageError(`${name}: not JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(value)) {
    throw usageError(
      `${name}: expected a JSON array of inputs, got ${value === null ? 'null' : typeof value}`,
    );
  }
  return value as JsonValue[];
}

/** The array when the whole text is one JSON array (a one-line JSON-lines file of an array is ambiguous:
 * name it `.jsonl` to mean one input). */
function sniffArray(text: string): JsonValue[] | undefined {
  if (!text.trimStart().startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? (value as JsonValue[]) : undefined;
  } catch {
    return undefined;
  }
}

function checkCount(values: JsonValue[], name: string): JsonValue[] {
  if (values.length === 0) throw usageError(`${name} holds no inputs: a job needs at least one`);
  if (values.length > limits.maxInputs) {
    throw usageError(`${name} holds ${values.length} inputs; a job takes at most ${limits.maxInputs}`);
  }
  return values;
}

async function readText(path: string): Promise<string> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  return readFile(path, 'utf8');
}
