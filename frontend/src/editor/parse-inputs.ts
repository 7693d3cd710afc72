import { isJsonValue, type JsonValue, limits } from '../../../protocol/index.ts';

/** How the user gives the job's inputs. */
export type InputSource =
  | { kind: 'json'; text: string }
  | { kind: 'jsonl'; text: string; fileName?: string }
  | { kind: 'range'; start: number; end: number; step: number; inclusive: boolean };

export type ParsedInputs = { ok: true; inputs: JsonValue[] } | { ok: false; error: string };

const utf8 = new TextEncoder();

/** The same limits the API applies, checked before anything is sent, with the offending position. */
function checkLimits(inputs: JsonValue[], where: (i: number) => string): ParsedInputs {
  if (inputs.length === 0) return { ok: false, error: 'a job needs at least one input' };
  if (inputs.length > limits.maxInputs) {
    return {
      ok: false,
      error: `a job takes at most ${limits.maxInputs.toLocaleString()} inputs, got ${inputs.length.toLocaleString()}`,
    };
  }
  for (let i = 0; i < inputs.length; i++) {
    const size = utf8.encode(JSON.stringify(inputs[i])).byteLength;
    if (size > limits.maxInputBytes) {
      return {
        ok: false,
        error: `${where(i)} is ${size.toLocaleString()} bytes as JSON; the limit is ${limits.maxInputBytes.toLocaleString()}`,
      };
    }
  }
  return { ok: true, inputs };
}

/** Line and column of a character offset, for JSON.parse errors that only give a position. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

function jsonError(text: string, e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const position = /position (\d+)/.exec(message)?.[1];
  return position === undefined ? message : `${message} (${lineColumn(text, Number(position))})`;
}

function parseJsonArray(text: string): ParsedInputs {
  if (!text.trim()) return { ok: false, error: 'write a JSON array of inputs, e.g. [1, 2, 3]' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not valid JSON: ${jsonError(text, e)}` };
  }
  if (!Array.isArray(value)) {
    return { ok: false, error: 'the inputs must be a JSON array: one element per task, e.g. [1, 2, 3]' };
  }
  const bad = value.findIndex((v) => !isJsonValue(v));
  if (bad >= 0) return { ok: false, error: `element ${bad} is not a JSON value` };
  return checkLimits(value as JsonValue[], (i) => `element ${i}`);
}

function parseJsonLines(text: string): ParsedInputs {
  const inputs: JsonValue[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    try {
      inputs.push(JSON.parse(line) as JsonValue);
    } catch (e) {
      return { ok: false, error: `line ${i + 1} is not valid JSON: ${e instanceof Error ? e.message : e}` };
    }
  }
  if (inputs.length === 0) return { ok: false, error: 'the file has no JSON lines (one input per line)' };
  return checkLimits(inputs, (i) => `input ${i}`);
}

/** Numbers from `start` to `end` by `step` (end excluded unless `inclusive`), like the CLI's `range:A..B`. */
export function rangeInputs(start: number, end: number, step: number, inclusive: boolean): ParsedInputs {
  if (![start, end, step].every(Number.isFinite))
    return { ok: false, error: 'start, end and step must be numbers' };
  if (step === 0) return { ok: false, error: 'step cannot be 0' };
  if ((end - start) / step < 0) {
    return { ok: false, error: `a step of ${step} never gets from ${start} to ${end}` };
  }
  const count = Math.floor((end - start) / step + 1e-9) + 1;
  if (count > limits.maxInputs + 1) {
    return {
      ok: false,
      error: `that range has ${count.toLocaleString()} values; a job takes at most ${limits.maxInputs.toLocaleString()} inputs`,
    };
  }
  const inputs: number[] = [];
  for (let i = 0; i < count; i++) {
    // Multiply rather than accumulate, so 0.1 steps do not drift.
    const v = Number((start + i * step).toPrecision(15));
    if (v === end && !inclusive) break;
    inputs.push(v);
  }
  return checkLimits(inputs, (i) => `value ${i}`);
}

/** Turn what the user wrote, uploaded or generated into the job's inputs, or a readable error. */
export function parseInputs(source: InputSource): ParsedInputs {
  switch (source.kind) {
    case 'json':
      return parseJsonArray(source.text);
    case 'jsonl':
      return parseJsonLines(source.text);
    case 'range':
      return rangeInputs(source.start, source.end, source.step, source.inclusive);
  }
}
