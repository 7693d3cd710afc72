import { describe, expect, test } from 'vitest';
import { InputsError, inputsFormatOf, parseInputs } from './inputs.ts';
import { MAX_JSON_DEPTH } from './job.ts';
import { limits } from './limits.ts';

/** The error of a text that must fail. */
function errorOf(text: string, format?: 'array' | 'lines' | 'auto'): InputsError {
  const result = parseInputs(text, format ? { format } : {});
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result.inputs)}`);
  expect(result.error).toBeInstanceOf(InputsError);
  return result.error;
}

const nested = (depth: number): unknown => (depth === 0 ? 1 : [nested(depth - 1)]);

describe('parseInputs', () => {
  test('default: a JSON array is one input per element', () => {
    expect(parseInputs('[1, "a", {"x": [true, null]}, [2]]')).toEqual({
      ok: true,
      inputs: [1, 'a', { x: [true, null] }, [2]],
    });
    expect(parseInputs('[1, 2]', { format: 'array' })).toEqual({ ok: true, inputs: [1, 2] });
  });

  test('default: JSON lines are one input per line, blank lines skipped, CRLF and trailing whitespace accepted', () => {
    const text = '{"a":1}\r\n\r\n  [2]  \r\n"three"\n\t\n4 \n';
    expect(parseInputs(text)).toEqual({ ok: true, inputs: [{ a: 1 }, [2], 'three', 4] });
    expect(parseInputs(text, { format: 'lines' })).toEqual({ ok: true, inputs: [{ a: 1 }, [2], 'three', 4] });
  });

  test('behavior: a byte order mark and surrounding whitespace are ignored in both formats', () => {
    expect(parseInputs('\uFEFF[1, 2]\n\n')).toEqual({ ok: true, inputs: [1, 2] });
    expect(parseInputs('\uFEFF\n  [1, 2]\r\n', { format: 'array' })).toEqual({ ok: true, inputs: [1, 2] });
    expect(parseInputs('\uFEFF1\r\n2\r\n', { format: 'lines' })).toEqual({ ok: true, inputs: [1, 2] });
  });

  test('behavior: auto reads an array when the whole text is one, else JSON lines', () => {
    expect(parseInputs('[1,\n 2,\n 3]\n')).toEqual({ ok: true, inputs: [1, 2, 3] });
    expect(parseInputs('[1]\n[2]\n')).toEqual({ ok: true, inputs: [[1], [2]] });
    expect(parseInputs('{"a":1}')).toEqual({ ok: true, inputs: [{ a: 1 }] });
    expect(parseInputs('"x"\n[1]')).toEqual({ ok: true, inputs: ['x', [1]] });
  });

  test('behavior: lines reads a one-line array as one input; array refuses JSON lines', () => {
    expect(parseInputs('[1, 2, 3]\n', { format: 'lines' })).toEqual({ ok: true, inputs: [[1, 2, 3]] });
    expect(errorOf('[1]\n[2]\n', 'array')).toMatchObject({ reason: 'not_json', line: 2, column: 1 });
  });

  test('error: a bad line is named by its line number (blank lines counted), with the column and the input it would be', () => {
    const error = errorOf('1\n\n2\n  {oops\n5');
    expect(error).toMatchObject({ reason: 'not_json', line: 4, column: 4, index: 2 });
    expect(error.message).toBe("line 4, column 4: not JSON (Expected property name or '}')");
    expect(errorOf('1\r\n2\r\nnope\r\n', 'lines')).toMatchObject({ reason: 'not_json', line: 3, index: 2 });
  });

  test('error: a broken array is reported as an array, at its line and column', () => {
    const error = errorOf('[1,\n 2');
    expect(error).toMatchObject({ reason: 'not_json', line: 2, column: 3 });
    expect(error.message).toMatch(/^line 2, column 3: not JSON \(.+\)$/);
    // Cut short: at the end of the text.
    expect(errorOf('[1,\n 2,\n\n')).toMatchObject({
      message: 'line 2, column 4: not JSON (Unexpected end of JSON input)',
    });
    // Without a position from the parser, the reason alone (not the echoed text).
    const noPosition = errorOf('[1,\n 2,\n oops]', 'array');
    expect(noPosition.reason).toBe('not_json');
    expect(noPosition.message).toMatch(/^(line \d+, column \d+: )?not JSON \([^\n]+\)$/);
  });

  test('error: empty text, blank lines only, and an empty array', () => {
    for (const text of ['', '  \n\r\n\t', '\uFEFF']) {
      expect(errorOf(text)).toMatchObject({ reason: 'empty', line: undefined, index: undefined });
      expect(errorOf(text, 'lines').reason).toBe('empty');
      expect(errorOf(text, 'array').reason).toBe('empty');
    }
    expect(errorOf('[]').message).toBe('no inputs: the array is empty (a job needs at least one input)');
    expect(errorOf(' [ ]\n', 'array').reason).toBe('empty');
  });

  test('error: a JSON value that is not an array, as array format', () => {
    expect(errorOf('{"a": 1}', 'array')).toMatchObject({
      reason: 'not_array',
      message: 'expected a JSON array of inputs, one element per task (e.g. [1, 2, 3]); got an object',
    });
    expect(errorOf('null', 'array').message).toMatch(/got null$/);
    expect(errorOf('"s"', 'array').message).toMatch(/got a string$/);
  });

  test(`error: more than ${limits.maxInputs} inputs, in either format`, () => {
    const array = JSON.stringify(Array.from({ length: limits.maxInputs + 1 }, (_, i) => i));
    expect(errorOf(array)).toMatchObject({
      reason: 'too_many',
      message: `${limits.maxInputs + 1} inputs; a job takes at most ${limits.maxInputs}`,
    });
    const lines = `${'1\n'.repeat(limits.maxInputs + 2)}{not even parsed`;
    expect(errorOf(lines)).toMatchObject({
      reason: 'too_many',
      message: expect.stringMatching(/^100003 inputs/),
    });
    const exactly = parseInputs('0\n'.repeat(limits.maxInputs));
    expect(exactly.ok && exactly.inputs.length).toBe(limits.maxInputs);
  });

  test(`error: an input over ${limits.maxInputBytes} bytes as JSON UTF-8 is named, by index and line`, () => {
    // 'é' is 2 bytes in UTF-8: the limit is on bytes, not characters.
    const big = JSON.stringify('é'.repeat(limits.maxInputBytes / 2));
    const fits = JSON.stringify('é'.repeat(limits.maxInputBytes / 2 - 2));
    expect(parseInputs(`[${fits}]`).ok).toBe(true);
    expect(errorOf(`[1, ${big}]`)).toMatchObject({
      reason: 'too_large',
      index: 1,
      line: undefined,
      message: `input 1 is ${limits.maxInputBytes + 2} bytes as JSON; the limit is ${limits.maxInputBytes}`,
    });
    expect(errorOf(`1\n\n${big}\n`)).toMatchObject({
      reason: 'too_large',
      index: 1,
      line: 3,
      message: expect.stringMatching(/^input 1 \(line 3\) is 65538 bytes as JSON/),
    });
    // Astral characters are 4 bytes (two UTF-16 units).
    const emoji = JSON.stringify('😀'.repeat(limits.maxInputBytes / 4));
    expect(errorOf(`[${emoji}]`).message).toMatch(`is ${limits.maxInputBytes + 2} bytes`);
  });

  test('error: values JSON.parse gives but JSON cannot carry: an overflowing number, nesting too deep', () => {
    expect(errorOf('[1, 1e400]')).toMatchObject({
      reason: 'not_json_value',
      index: 1,
      message: 'input 1 is not a JSON value: a number too large for a double (it reads as Infinity)',
    });
    expect(errorOf('1\n{"x": [-1e999]}', 'lines')).toMatchObject({
      reason: 'not_json_value',
      index: 1,
      line: 2,
      message: expect.stringContaining('-Infinity'),
    });
    expect(parseInputs(JSON.stringify([nested(MAX_JSON_DEPTH)])).ok).toBe(true);
    expect(errorOf(JSON.stringify([1, nested(MAX_JSON_DEPTH + 1)]))).toMatchObject({
      reason: 'not_json_value',
      index: 1,
      message: `input 1 is not a JSON value: it is nested deeper than ${MAX_JSON_DEPTH} levels`,
    });
  });
});

describe('inputsFormatOf', () => {
  test('default: the extension picks the format, else auto', () => {
    expect(inputsFormatOf('inputs.json')).toBe('array');
    expect(inputsFormatOf('data/inputs.JSONL')).toBe('lines');
    expect(inputsFormatOf('x.ndjson')).toBe('lines');
    expect(inputsFormatOf('inputs.txt')).toBe('auto');
    expect(inputsFormatOf('inputs')).toBe('auto');
    expect(inputsFormatOf('a.json/inputs')).toBe('auto');
    expect(inputsFormatOf('-')).toBe('auto');
  });
});
