import { afterAll, describe, expect, test } from 'vitest';
import { seededUint32 } from '../../browser-node/src/core/seeded-random.ts';
import { ThreadExecutor } from '../../browser-node/src/headless/thread-executor.ts';
import { runTemplate, templateInputs } from './run-template.ts';

const executor = new ThreadExecutor({ threads: 1, warmMemoryMb: 128 });
afterAll(() => executor.close());

/** The same estimate in plain TypeScript, with the sandbox's Math.random: 53 bits of sfc32. */
function reference(samples: number, seed: string) {
  const next = seededUint32(seed);
  const random = () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
  let inside = 0;
  for (let i = 0; i < samples; i++) if (random() ** 2 + random() ** 2 <= 1) inside++;
  return { samples, inside, pi: (4 * inside) / samples };
}

describe('templates/js/monte-carlo-pi', () => {
  test('default', async () => {
    const result = await runTemplate(executor, 'monte-carlo-pi', { samples: 200_000 }, 'job-1:0');
    expect(result).toMatchObject({ ok: true, output: reference(200_000, 'job-1:0') });
    if (result.ok) expect(Math.abs((result.output as { pi: number }).pi - Math.PI)).toBeLessThan(0.02);
  });

  test('behavior: the example inputs match the reference, and batches differ by seed', async () => {
    const inputs = templateInputs('monte-carlo-pi').slice(0, 2);
    const outputs = [];
    for (const [i, input] of inputs.entries()) {
      const result = await runTemplate(executor, 'monte-carlo-pi', input, `job-2:${i}`);
      expect(result.ok && result.output).toEqual(
        reference((input as { samples: number }).samples, `job-2:${i}`),
      );
      outputs.push(result.ok && result.output);
    }
    expect(outputs[1]).not.toEqual(outputs[0]);
  });

  test('behavior: deterministic: two runs give byte-identical output', async () => {
    const a = await runTemplate(executor, 'monte-carlo-pi', { samples: 100_000 }, 'job-3:7');
    const b = await runTemplate(executor, 'monte-carlo-pi', { samples: 100_000 }, 'job-3:7');
    expect(a.ok && JSON.stringify(a.output)).toBe(b.ok && JSON.stringify(b.output));
  });

  test('error: a bad sample count fails the task', async () => {
    const result = await runTemplate(executor, 'monte-carlo-pi', { samples: -1 }, 'job-4:0');
    expect(result).toMatchObject({
      ok: false,
      error: { kind: 'user_error', message: expect.stringMatching(/samples/) },
    });
  });
});
