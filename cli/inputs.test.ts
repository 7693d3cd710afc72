import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { limits } from '../protocol/index.ts';
import { CliError } from './cli-error.ts';
import { parseJsonArray, parseJsonLines, parseRange, readInputs } from './inputs.ts';

const dir = mkdtempSync(join(tmpdir(), 'monadmesh-inputs-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function usageMessage(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    return (error as CliError).message;
  }
  throw new Error('expected a usage error');
}

describe('readInputs', () => {
  test('default: range:0..1000 is the integers 0 to 999', async () => {
    const inputs = await readInputs('range:0..1000');
    expect(inputs).toHaveLength(1000);
    expect(inputs[0]).toBe(0);
    expect(inputs.at(-1)).toBe(999);
  });

  test('behavior: range:A..=B includes B, and negative bounds work', () => {
    expect(parseRange('range:1..=3')).toEqual([1, 2, 3]);
    expect(parseRange('range:-2..1')).toEqual([-2, -1, 0]);
  });

  test('behavior: a .jsonl file is one value per line, blank lines skipped', async () => {
    const path = file('a.jsonl', '1\n"two"\n\n{"three":3}\n[4]\n');
    expect(await readInputs(path)).toEqual([1, 'two', { three: 3 }, [4]]);
  });

  test('behavior: a .json file is one array', async () => {
    expect(await readInputs(file('a.json', ' [1, {"x": 2}, null]\n'))).toEqual([1, { x: 2 }, null]);
  });

  test('behavior: another extension is an array if the whole text is one, else JSON lines', async () => {
    expect(await readInputs(file('a.txt', '[1,2,3]'))).toEqual([1, 2, 3]);
    expect(await readInputs(file('b.txt', '[1]\n[2]\n'))).toEqual([[1], [2]]);
    expect(await readInputs(file('c.data', '{"a":1}\n{"a":2}'))).toEqual([{ a: 1 }, { a: 2 }]);
  });

  test('behavior: a .jsonl file of one array is one input', async () => {
    expect(await readInputs(file('one.jsonl', '[1,2,3]\n'))).toEqual([[1, 2, 3]]);
  });

  test('behavior: `-` reads through the given reader (stdin)', async () => {
    expect(await readInputs('-', async () => '1\n2\n')).toEqual([1, 2]);
  });

  test('error: bad ranges name the problem', async () => {
    expect(await usageMessage(() => parseRange('range:0-10'))).toMatch(
      /bad range "range:0-10": expected range:A\.\.B/,
    );
    expect(await usageMessage(() => parseRange('range:a..b'))).toMatch(/bad range/);
    expect(await usageMessage(() => parseRange('range:5..5'))).toMatch(/range range:5\.\.5 is empty/);
    expect(await usageMessage(() => parseRange('range:10..2'))).toMatch(/is empty/);
    expect(await usageMessage(() => parseRange(`range:0..${limits.maxInputs + 1}`))).toMatch(
      `has ${limits.maxInputs + 1} inputs; a job takes at most ${limits.maxInputs}`,
    );
    expect(await usageMessage(() => parseRange('range:0..99999999999999999999'))).toMatch(/safe integers/);
  });

  test('error: a bad JSON line names its line number', async () => {
    expect(await usageMessage(readInputs(file('bad.jsonl', '1\n2\n{oops\n')))).toMatch(
      /bad\.jsonl:3: not JSON/,
    );
    expect(() => parseJsonLines('1\nnope', 'x')).toThrow(/x:2: not JSON/);
  });

  test('error: a .json file that is not an array, or not JSON', async () => {
    expect(await usageMessage(readInputs(file('obj.json', '{"a":1}')))).toMatch(
      /expected a JSON array of inputs, got object/,
    );
    expect(() => parseJsonArray('null', 'n')).toThrow(/got null/);
    expect(await usageMessage(readInputs(file('broken.json', '[1,')))).toMatch(/broken\.json: not JSON/);
  });

  test('error: an empty file, or a missing one', async () => {
    expect(await usageMessage(readInputs(file('empty.jsonl', '\n\n')))).toMatch(/holds no inputs/);
    expect(await usageMessage(readInputs(file('empty.json', '[]')))).toMatch(/holds no inputs/);
    expect(await usageMessage(readInputs(join(dir, 'missing.jsonl')))).toMatch(
      /cannot read --inputs .*missing\.jsonl: ENOENT/,
    );
  });
});
