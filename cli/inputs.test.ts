import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { limits } from '../protocol/index.ts';
import { CliError } from './cli-error.ts';
import { parseRange, readInputs } from './inputs.ts';

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

  test('behavior: CRLF line ends and a byte order mark (as Windows editors write them) are read', async () => {
    expect(await readInputs(file('crlf.jsonl', '\uFEFF{"a":1}\r\n\r\n{"a":2}\r\n'))).toEqual([
      { a: 1 },
      { a: 2 },
    ]);
  });

  test('error: a bad JSON line names the file, its line and column', async () => {
    expect(await usageMessage(readInputs(file('bad.jsonl', '1\n2\n{oops\n')))).toBe(
      `${join(dir, 'bad.jsonl')}: line 3, column 2: not JSON (Expected property name or '}')`,
    );
    expect(await usageMessage(readInputs('-', async () => '1\nnope'))).toMatch(/^stdin: line 2: not JSON/);
  });

  test('error: a .json file that is not an array, or not JSON', async () => {
    expect(await usageMessage(readInputs(file('obj.json', '{"a":1}')))).toMatch(
      /obj\.json: expected a JSON array of inputs, .*got an object$/,
    );
    expect(await usageMessage(readInputs(file('null.json', 'null')))).toMatch(/got null$/);
    expect(await usageMessage(readInputs(file('broken.json', '[1,')))).toMatch(
      /broken\.json: line 1, column 4: not JSON/,
    );
  });

  test('error: an empty file, or a missing one', async () => {
    expect(await usageMessage(readInputs(file('empty.jsonl', '\n\n')))).toMatch(/empty\.jsonl: no inputs/);
    expect(await usageMessage(readInputs(file('empty.json', '[]')))).toMatch(/empty\.json: no inputs/);
    expect(await usageMessage(readInputs(join(dir, 'missing.jsonl')))).toMatch(
      /cannot read --inputs .*missing\.jsonl: ENOENT/,
    );
  });

  test('error: limits the API enforces are checked before anything is sent', async () => {
    expect(await usageMessage(readInputs(file('many.jsonl', '1\n'.repeat(limits.maxInputs + 1))))).toMatch(
      `many.jsonl: ${limits.maxInputs + 1} inputs; a job takes at most ${limits.maxInputs}`,
    );
    const big = JSON.stringify('x'.repeat(limits.maxInputBytes));
    expect(await usageMessage(readInputs(file('big.jsonl', `1\n${big}\n`)))).toMatch(
      /big\.jsonl: input 1 \(line 2\) is \d+ bytes as JSON; the limit is 65536/,
    );
    // JSON.parse reads 1e400 as Infinity, which would go out as null: refused instead.
    expect(await usageMessage(readInputs(file('huge.json', '[1e400]')))).toMatch(
      /huge\.json: input 0 is not a JSON value/,
    );
  });
});
