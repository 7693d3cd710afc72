import { isJsonValue, type JsonValue, MAX_JSON_DEPTH } from './job.ts';
import { limits } from './limits.ts';
import { utf8Length } from './utf8.ts';

/**
 * How a text holds a job's inputs:
 * - `array`: one JSON array, one element per task;
 * - `lines`: JSON lines, one value per non-blank line (so a line `[1, 2]` is one input);
 * - `auto`: an array if the whole text is one, else JSON lines.
 */
export type InputsFormat = 'array' | 'lines' | 'auto';

/** Why a text is not a job's inputs. */
export type InputsErrorReason =
  /** No inputs: blank text, blank lines only, or `[]`. */
  | 'empty'
  /** The text (`array`) or a line (`lines`) does not parse as JSON. */
  | 'not_json'
  /** The text parses, but not to an array (`array` only). */
  | 'not_array'
  /** More than `limits.maxInputs` inputs. */
  | 'too_many'
  /** One input is over `limits.maxInputBytes` as JSON UTF-8 bytes. */
  | 'too_large'
  /** One input parses to something JSON cannot carry: a number out of range, or too deep. */
  | 'not_json_value';

/** Where and why a text is not a job's inputs. Its message names the line or input at fault. */
export class InputsError extends Error {
  override readonly name = 'InputsError';
  readonly reason: InputsErrorReason;
  /** 1-based line of the text at fault, when known. */
  readonly line: number | undefined;
  /** 1-based column on that line, when the JSON parser gives a position. */
  readonly column: number | undefined;
  /** 0-based index of the input at fault (the task it would have been), when there is one. */
  readonly index: number | undefined;
  constructor(
    reason: InputsErrorReason,
    message: string,
    at: { line?: number | undefined; column?: number | undefined; index?: number | undefined } = {},
  ) {
    super(message);
    this.reason = reason;
    this.line = at.line;
    this.column = at.column;
    this.index = at.index;
  }
}

export interface ParseInputsOptions {
  /** Default `auto`. */
  format?: InputsFormat;
}

export type ParseInputsResult = { ok: true; inputs: JsonValue[] } | { ok: false; error: InputsError };

/**
 * A job's inputs from text: a JSON array or JSON lines (blank lines skipped, CRLF and a leading
 * byte order mark accepted), checked against the limits the API enforces: at least one input, at
 * most `limits.maxInputs`, each at most `limits.maxInputBytes` as JSON and a JSON value (finite
 * numbers, nested at most `MAX_JSON_DEPTH` deep). It never throws: the error says which line or
 * input failed and why.
 *
 * In `auto`, a text that starts with `[` but is not one JSON document is read as JSON lines when
 * its first line is JSON by itself (`[1]\n[2]` is two inputs), else it is a broken array and the
 * array's parse error is the one reported.
 *
 * @example
 * parseInputs('{"n": 1}\r\n\n{"n": 2}\n') // { ok: true, inputs: [{ n: 1 }, { n: 2 }] }
 * parseInputs('1\n{oops', { format: 'lines' }).error?.message // 'line 2, column 2: not JSON (…)'
 */
export function parseInputs(text: string, options: ParseInputsOptions = {}): ParseInputsResult {
  const { format = 'auto' } = options;
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === '') {
    return fail('empty', 'no inputs: the text is empty (a job needs at least one input)');
  }
  if (format === 'lines') return fromLines(body);
  if (format === 'array') return fromArray(body);
  if (!body.trimStart().startsWith('[')) return fromLines(body);
  const whole = parseJson(body);
  if (whole.ok) return Array.isArray(whole.value) ? checkEach(whole.value) : fromLines(body);
  const firstLine = body.split('\n').find((line) => line.trim() !== '')!;
  return parseJson(firstLine).ok ? fromLines(body) : notJson(body, whole.error);
}

/** The format a file's name implies: `.json` an array, `.jsonl`/`.ndjson` JSON lines, else `auto`. */
export function inputsFormatOf(fileName: string): InputsFormat {
  const ext = /\.[^./\\]*$/.exec(fileName.toLowerCase())?.[0];
  if (ext === '.json') return 'array';
  if (ext === '.jsonl' || ext === '.ndjson') return 'lines';
  return 'auto';
}

function fromArray(body: string): ParseInputsResult {
  const parsed = parseJson(body);
  if (!parsed.ok) return notJson(body, parsed.error);
  if (!Array.isArray(parsed.value)) {
    return fail(
      'not_array',
      `expected a JSON array of inputs, one element per task (e.g. [1, 2, 3]); got ${kindOf(parsed.value)}`,
    );
  }
  return checkEach(parsed.value);
}

function fromLines(body: string): ParseInputsResult {
  const lines = body.split('\n');
  // Counted before parsing, so a file far over the limit costs no parsing.
  let count = 0;
  for (const line of lines) if (line.trim() !== '') count++;
  const tooMany = checkCount(count);
  if (tooMany) return tooMany;
  const inputs: JsonValue[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.trim();
    if (!line) continue;
    const parsed = parseJson(line);
    if (!parsed.ok) {
      const { detail, offset } = describeJsonError(line, parsed.error);
      const column = offset === undefined ? undefined : raw.length - raw.trimStart().length + offset + 1;
      const where = column === undefined ? `line ${i + 1}` : `line ${i + 1}, column ${column}`;
      return fail('not_json', `${where}: not JSON (${detail})`, {
        line: i + 1,
        column,
        index: inputs.length,
      });
    }
    const problem = checkOne(parsed.value, inputs.length, i + 1);
    if (problem) return problem;
    inputs.push(parsed.value as JsonValue);
  }
  return { ok: true, inputs };
}

function checkEach(values: unknown[]): ParseInputsResult {
  if (values.length === 0)
    return fail('empty', 'no inputs: the array is empty (a job needs at least one input)');
  const tooMany = checkCount(values.length);
  if (tooMany) return tooMany;
  for (let i = 0; i < values.length; i++) {
    const problem = checkOne(values[i], i, undefined);
    if (problem) return problem;
  }
  return { ok: true, inputs: values as JsonValue[] };
}

function checkCount(count: number): ParseInputsResult | undefined {
  if (count === 0) return fail('empty', 'no inputs: only blank lines (a job needs at least one input)');
  if (count > limits.maxInputs) {
    return fail('too_many', `${count} inputs; a job takes at most ${limits.maxInputs}`);
  }
  return undefined;
}

/** The error for input `index` (on `line` of JSON lines), if it breaks a limit. */
function checkOne(value: unknown, index: number, line: number | undefined): ParseInputsResult | undefined {
  const name = line === undefined ? `input ${index}` : `input ${index} (line ${line})`;
  if (!isJsonValue(value)) {
    return fail('not_json_value', `${name} is not a JSON value: ${whyNotJson(value, 0)}`, { line, index });
  }
  const size = utf8Length(JSON.stringify(value));
  if (size > limits.maxInputBytes) {
    return fail('too_large', `${name} is ${size} bytes as JSON; the limit is ${limits.maxInputBytes}`, {
      line,
      index,
    });
  }
  return undefined;
}

/** What `isJsonValue` refused in a value JSON.parse produced: only overflowing numbers and depth can be. */
function whyNotJson(value: unknown, depth: number): string {
  if (typeof value === 'number') return `a number too large for a double (it reads as ${value})`;
  if (depth >= MAX_JSON_DEPTH) return `it is nested deeper than ${MAX_JSON_DEPTH} levels`;
  for (const v of Object.values(value as object)) {
    if (!isJsonValue(v, depth + 1)) return whyNotJson(v, depth + 1);
  }
  return 'it does not survive a JSON round trip';
}

type Parsed = { ok: true; value: unknown } | { ok: false; error: unknown };

function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error };
  }
}

function notJson(body: string, error: unknown): ParseInputsResult {
  const { detail, offset } = describeJsonError(body, error);
  if (offset === undefined) return fail('not_json', `not JSON (${detail})`);
  const before = body.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return fail('not_json', `line ${line}, column ${column}: not JSON (${detail})`, { line, column });
}

/**
 * The parser's reason without the position or the echoed text (both engine-specific; the caller
 * reports the position as a line and column of the user's text), and the offset when given.
 */
function describeJsonError(text: string, error: unknown): { detail: string; offset: number | undefined } {
  const message = error instanceof Error ? error.message : String(error);
  // A text cut short has no position in V8's message: it is the end of the text.
  const position =
    /at position (\d+)/.exec(message)?.[1] ??
    (/end of JSON input/i.test(message) ? String(text.trimEnd().length) : undefined);
  const detail = message
    .replace(/ at position \d+(?: \(line \d+ column \d+\))?/, '')
    .replace(/ in JSON$/, '')
    .replace(/, ".*" is not valid JSON$/s, '')
    .trim();
  return { detail: detail || message, offset: position === undefined ? undefined : Number(position) };
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  return `a ${typeof value}`;
}

function fail(
  reason: InputsErrorReason,
  message: string,
  at?: { line?: number | undefined; column?: number | undefined; index?: number | undefined },
): { ok: false; error: InputsError } {
  return { ok: false, error: new InputsError(reason, message, at) };
}
