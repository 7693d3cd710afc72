import { afterAll, describe, expect, test } from 'vitest';
import { ThreadExecutor } from '../../browser-node/src/headless/thread-executor.ts';
import { runTemplate, templateInputs } from './run-template.ts';

const executor = new ThreadExecutor({ threads: 1, warmMemoryMb: 128 });
afterAll(() => executor.close());

/** An independent count: split on non-word characters, trim stray apostrophes, count in an object. */
function reference(text: string, top = 10) {
  const words = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}']+/u)
    .flatMap((w) => w.split(/'{2,}/))
    .map((w) => w.replace(/^'+|'+$/g, ''))
    .filter(Boolean);
  const counts: Record<string, number> = Object.create(null);
  for (const w of words) counts[w] = (counts[w] ?? 0) + 1;
  const ranked = Object.entries(counts).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  return { words: words.length, distinct: ranked.length, top: top === 0 ? ranked : ranked.slice(0, top) };
}

describe('templates/js/word-frequency', () => {
  test('default', async () => {
    const text = 'It was the best of times, it was the worst of times';
    const result = await runTemplate(executor, 'word-frequency', { text, top: 3 }, 'job-1:0');
    expect(result).toMatchObject({
      ok: true,
      output: {
        words: 12,
        distinct: 7,
        top: [
          ['it', 2],
          ['of', 2],
          ['the', 2],
        ],
      },
    });
  });

  test('behavior: the example inputs match an independent count', async () => {
    for (const [i, input] of templateInputs('word-frequency').entries()) {
      const { text, top } = input as { text: string; top?: number };
      const result = await runTemplate(executor, 'word-frequency', input, `job-2:${i}`);
      expect(result.ok && result.output).toEqual(reference(text, top));
    }
  });

  test('behavior: deterministic: two runs give byte-identical output', async () => {
    const text = 'b a c a b a d '.repeat(5_000);
    const a = await runTemplate(executor, 'word-frequency', { text, top: 0 }, 'job-3:0');
    const b = await runTemplate(executor, 'word-frequency', { text, top: 0 }, 'job-3:1');
    expect(a.ok && JSON.stringify(a.output)).toBe(b.ok && JSON.stringify(b.output));
    expect(a.ok && a.output).toEqual(reference(text, 0));
  });

  test('error: input without text fails the task', async () => {
    const result = await runTemplate(executor, 'word-frequency', { words: [] }, 'job-4:0');
    expect(result).toMatchObject({
      ok: false,
      error: { kind: 'user_error', message: expect.stringMatching(/text/) },
    });
  });
});
