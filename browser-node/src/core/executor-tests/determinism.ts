import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { JsonValue, Runtime } from '../../../../protocol/job.ts';
import type { Executor } from '../executor.ts';
import type { ExecutorFixtures, ExecutorTestContext } from './context.ts';
import { expectOk, taskRequest } from './expect.ts';

/**
 * Determinism, the ground verification stands on: every template (JS, Python, C and
 * AssemblyScript), run twice as the same task (same seed and clock) on the same executor, gives
 * byte-identical output and logs; another seed gives another result where the template is random.
 */
export function determinismExecutorTests(context: ExecutorTestContext): void {
  let executor: Executor;
  let fixtures: ExecutorFixtures;
  beforeAll(() => {
    executor = context.create({ capacity: 2, warmMemoryMb: 128, prewarm: false });
    fixtures = context.fixtures();
  });
  afterAll(() => executor.close());

  let cid = 0;
  const runTwice = async (runtime: Runtime, code: string | Uint8Array, input: JsonValue, seed: string) => {
    // Each code its own CID: workers cache compiled code by CID.
    const codeCid = `determinism-${runtime}-${++cid}`;
    const request = taskRequest(runtime, code, input, { codeCid, seed, timeoutMs: 60_000, memoryMb: 128 });
    const [a, b] = [await executor.run(request), await executor.run(request)];
    return [a, b].map((r) => JSON.stringify([expectOk(r), r.logs]));
  };

  describe(`${context.host} executor: determinism of every template`, () => {
    test('behavior: JS and Python templates: the same task twice is byte-identical', async () => {
      expect(fixtures.sources.map((s) => `${s.runtime}:${s.name}`).sort()).toEqual([
        'js:monte-carlo-pi',
        'js:word-frequency',
        'python:monte-carlo-pi',
        'python:word-frequency',
      ]);
      for (const source of fixtures.sources) {
        const [first, second] = await runTwice(source.runtime, source.code, source.inputs[0]!, 'job-d:0');
        expect(second, `${source.runtime} ${source.name}`).toBe(first);
      }
    }, 120_000);

    test('behavior: WebAssembly templates (C and AssemblyScript): the same task twice is byte-identical', async () => {
      const cases: [Uint8Array, JsonValue][] = [
        [fixtures.templates.c, { lo: 1_000, hi: 200_000 }],
        [fixtures.templates.as, { from: 1, to: 20_000 }],
      ];
      for (const [code, input] of cases) {
        const [first, second] = await runTwice('wasm', code, input, 'job-d:1');
        expect(second).toBe(first);
      }
    });

    test('behavior: the random templates depend on the seed, not on the run', async () => {
      for (const source of fixtures.sources.filter((s) => s.name === 'monte-carlo-pi')) {
        const [a] = await runTwice(source.runtime, source.code, source.inputs[0]!, 'job-d:2');
        const [b] = await runTwice(source.runtime, source.code, source.inputs[0]!, 'job-d:3');
        expect(a, source.runtime).not.toBe(b);
      }
    }, 120_000);
  });
}
