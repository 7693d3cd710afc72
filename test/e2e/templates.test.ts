import { describe, expect, test } from 'vitest';
import { seededUint32 } from '../../browser-node/src/core/seeded-random.ts';
import { templateInputs, templateSource } from '../../templates/js/run-template.ts';
import { type Finished, useLocalMesh } from './local-mesh-fixture.ts';

// The JavaScript templates end to end, with their example inputs: `wrangler dev` and one headless
// node. The Monte Carlo outputs are recomputed here with the seed the job room gives each task
// (`<job id>:<index>`), which is what lets anyone re-check a result.
const mesh = useLocalMesh({ capacity: 2 });

/** Submit a template with its example inputs and wait for the results, in input order. */
function runTemplateJob(name: string): Promise<Finished> {
  return mesh.run({ runtime: 'js', source: templateSource(name), inputs: templateInputs(name), label: name });
}

describe('JavaScript templates end to end', () => {
  test('default: monte-carlo-pi matches a reference with the same seeds, and the batches estimate π', async () => {
    const { id, status, results } = await runTemplateJob('monte-carlo-pi');
    expect(status.state).toBe('succeeded');
    let inside = 0;
    let samples = 0;
    for (const r of results) {
      const next = seededUint32(`${id}:${r.index}`);
      const random = () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
      const n = (r.output as { samples: number }).samples;
      let expected = 0;
      for (let i = 0; i < n; i++) if (random() ** 2 + random() ** 2 <= 1) expected++;
      expect(r.output).toEqual({ samples: n, inside: expected, pi: (4 * expected) / n });
      inside += expected;
      samples += n;
    }
    expect(Math.abs((4 * inside) / samples - Math.PI)).toBeLessThan(0.005);
  });

  test('behavior: word-frequency runs every example input', async () => {
    const { status, results } = await runTemplateJob('word-frequency');
    expect(status.state).toBe('succeeded');
    expect(results.map((r) => r.index)).toEqual(templateInputs('word-frequency').map((_, i) => i));
    expect(results[0]?.output).toEqual({
      words: 24,
      distinct: 10,
      top: [
        ['it', 4],
        ['of', 4],
        ['the', 4],
        ['was', 4],
        ['age', 2],
      ],
    });
  });
});
