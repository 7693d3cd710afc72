import {
  type InputsFormat,
  inputsFormatOf,
  type JsonValue,
  limits,
  parseInputs as parseText,
} from '../../../protocol/index.ts';

/** How the user gives the job's inputs. */
export type InputSource =
  | { kind: 'json'; text: string }
  | { kind: 'jsonl'; text: string; fileName?: string }
  | { kind: 'range'; start: number; end: number; step: number; inclusive: boolean };

export type ParsedInputs = { ok: true; inputs: JsonValue[] } | { ok: false; error: string };

/** The user's text as inputs (protocol's parser: the limits the API enforces, errors by line or input). */
function fromText(text: string, format: InputsFormat, empty: string): ParsedInputs {
  const parsed = parseText(text, { format });
  if (parsed.ok) return parsed;
  // Nothing written yet: say what to write rather than what is missing.
  if (parsed.error.reason === 'empty' && text.trim() === '') return { ok: false, error: empty };
  return { ok: false, error: parsed.error.message };
}

const tooMany = (count: number): ParsedInputs => ({
  ok: false,
  error: `that range has ${count.toLocaleString()} values; a job takes at most ${limits.maxInputs.toLocaleString()} inputs`,
});

/** Numbers from `start` to `end` by `step` (end excluded unless `inclusive`), like the CLI's `range:A..B`. */
export function rangeInputs(start: number, end: number, step: number, inclusive: boolean): ParsedInputs {
  if (![start, end, step].every(Number.isFinite))
    return { ok: false, error: 'start, end and step must be numbers' };
  if (step === 0) return { ok: false, error: 'step cannot be 0' };
  if ((end - start) / step < 0) {
    return { ok: false, error: `a step of ${step} never gets from ${start} to ${end}` };
  }
  const count = Math.floor((end - start) / step + 1e-9) + 1;
  // One more than the limit may still lose its excluded end; more cannot.
  if (count > limits.maxInputs + 1) {
    return tooMany(count);
  }
  const inputs: number[] = [];
  for (let i = 0; i < count; i++) {
    // Multiply rather than accumulate, so 0.1 steps do not drift.
    const v = Number((start + i * step).toPrecision(15));
    if (v === end && !inclusive) break;
    inputs.push(v);
  }
  if (inputs.length === 0) return { ok: false, error: 'a job needs at least one input' };
  if (inputs.length > limits.maxInputs) {
    return tooMany(inputs.length);
  }
  return { ok: true, inputs };
}

/** Turn what the user wrote, uploaded or generated into the job's inputs, or a readable error. */
export function parseInputs(source: InputSource): ParsedInputs {
  switch (source.kind) {
    case 'json':
      return fromText(source.text, 'array', 'write a JSON array of inputs, e.g. [1, 2, 3]');
    case 'jsonl':
      // A file named .json holds an array, .jsonl lines; any other name is read either way.
      return fromText(
        source.text,
        source.fileName ? inputsFormatOf(source.fileName) : 'lines',
        'the file has no inputs: write one JSON value per line',
      );
    case 'range':
      return rangeInputs(source.start, source.end, source.step, source.inclusive);
  }
}
