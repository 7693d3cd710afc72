import { describe, expect, test } from 'vitest';
import { limits } from '../../../protocol/index.ts';
import { parseInputs, rangeInputs } from './parse-inputs.ts';

describe('parseInputs', () => {
  test('default: a JSON array gives one input per element', () => {
    expect(parseInputs({ kind: 'json', text: '[1, "a", {"x": [true, null]}]' })).toEqual({
      ok: true,
      inputs: [1, 'a', { x: [true, null] }],
    });
  });

  test('error: invalid JSON says so, with the line and column when the parser gives a position', () => {
    expect(parseInputs({ kind: 'json', text: '[1,\n 2,\n oops]' })).toMatchObject({
      ok: false,
      error: expect.stringContaining('not JSON'),
    });
    expect(parseInputs({ kind: 'json', text: '[1,\n 2' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^line 2, column 3: not JSON/),
    });
  });

  test('error: a JSON value that is not an array is refused with an example', () => {
    const r = parseInputs({ kind: 'json', text: '{"a": 1}' });
    expect(r).toEqual({
      ok: false,
      error: 'expected a JSON array of inputs, one element per task (e.g. [1, 2, 3]); got an object',
    });
  });

  test('error: empty input says what to write; an empty array that a job needs an input', () => {
    expect(parseInputs({ kind: 'json', text: '  ' })).toEqual({
      ok: false,
      error: 'write a JSON array of inputs, e.g. [1, 2, 3]',
    });
    expect(parseInputs({ kind: 'json', text: '[]' })).toMatchObject({
      ok: false,
      error: expect.stringContaining('a job needs at least one input'),
    });
  });

  test('error: an input over the size limit is named', () => {
    const big = JSON.stringify(['x'.repeat(limits.maxInputBytes)]);
    const r = parseInputs({ kind: 'json', text: `[1, ${big}]` });
    expect(r).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^input 1 is .* bytes as JSON; the limit is/),
    });
  });

  test('default: JSON lines skip blank lines (CRLF too)', () => {
    expect(parseInputs({ kind: 'jsonl', text: '{"a":1}\r\n\n  [2]\r\n"three"\n' })).toEqual({
      ok: true,
      inputs: [{ a: 1 }, [2], 'three'],
    });
  });

  test('error: a bad JSON line is reported by its line number', () => {
    const r = parseInputs({ kind: 'jsonl', text: '1\n2\n{nope\n4' });
    expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/^line 3, column 2: not JSON/) });
  });

  test('error: a file with no lines', () => {
    expect(parseInputs({ kind: 'jsonl', text: '\n\n' })).toEqual({
      ok: false,
      error: 'the file has no inputs: write one JSON value per line',
    });
  });

  test('behavior: an uploaded file is read by its name: .json an array, .jsonl lines, others either way', () => {
    const array = '[1,\n 2]\n';
    expect(parseInputs({ kind: 'jsonl', text: array, fileName: 'in.json' })).toEqual({
      ok: true,
      inputs: [1, 2],
    });
    expect(parseInputs({ kind: 'jsonl', text: array, fileName: 'in.txt' })).toEqual({
      ok: true,
      inputs: [1, 2],
    });
    expect(parseInputs({ kind: 'jsonl', text: '[1, 2]\n', fileName: 'in.jsonl' })).toEqual({
      ok: true,
      inputs: [[1, 2]],
    });
    expect(parseInputs({ kind: 'jsonl', text: '{"a": 1}', fileName: 'in.json' })).toMatchObject({
      ok: false,
      error: expect.stringContaining('expected a JSON array of inputs'),
    });
  });

  test('error: a value JSON cannot carry is named (a number that overflows to Infinity)', () => {
    expect(parseInputs({ kind: 'json', text: '[1, 1e999]' })).toEqual({
      ok: false,
      error: 'input 1 is not a JSON value: a number too large for a double (it reads as Infinity)',
    });
  });
});

describe('rangeInputs', () => {
  test('default: end excluded', () => {
    expect(rangeInputs(0, 5, 1, false)).toEqual({ ok: true, inputs: [0, 1, 2, 3, 4] });
  });

  test('behavior: inclusive end, negative and fractional steps without drift', () => {
    expect(rangeInputs(0, 5, 1, true)).toEqual({ ok: true, inputs: [0, 1, 2, 3, 4, 5] });
    expect(rangeInputs(3, 0, -1, false)).toEqual({ ok: true, inputs: [3, 2, 1] });
    expect(rangeInputs(0, 0.5, 0.1, true)).toEqual({ ok: true, inputs: [0, 0.1, 0.2, 0.3, 0.4, 0.5] });
  });

  test('error: zero step, wrong direction, too many values', () => {
    expect(rangeInputs(0, 5, 0, false)).toMatchObject({ ok: false, error: 'step cannot be 0' });
    expect(rangeInputs(0, 5, -1, false)).toMatchObject({
      ok: false,
      error: expect.stringContaining('never gets'),
    });
    expect(rangeInputs(0, limits.maxInputs + 10, 1, false)).toMatchObject({
      ok: false,
      error: expect.stringContaining('at most'),
    });
  });

  test('behavior: exactly the input limit is accepted', () => {
    const r = rangeInputs(0, limits.maxInputs, 1, false);
    expect(r.ok && r.inputs.length).toBe(limits.maxInputs);
  });
});
