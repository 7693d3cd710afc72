import { afterAll, describe, expect, test } from 'vitest';
import { ThreadExecutor } from '../../browser-node/src/headless/thread-executor.ts';
import { cpythonOutputs, pythonTemplateInputs, runPythonTemplate } from './run-template.ts';

// The Python templates in Pyodide, checked byte for byte against the machine's CPython run with
// the same seeds (`run-cpython.py`).
const executor = new ThreadExecutor({ threads: 1, warmMemoryMb: 128, prewarm: false });
afterAll(() => executor.close());

/** The node's output as JSON text; the executor parsed it, and JS re-serializes it identically. */
async function outputText(name: string, input: Parameters<typeof runPythonTemplate>[2], seed: string) {
  const result = await runPythonTemplate(executor, name, input, seed);
  if (!result.ok) throw new Error(`${name} failed: ${JSON.stringify(result.error)}`);
  return JSON.stringify(result.output);
}

describe('templates/python', () => {
  test('default: monte-carlo-pi matches CPython with the same seeds', async () => {
    const tasks = pythonTemplateInputs('monte-carlo-pi')
      .slice(0, 2)
      .map((input, i) => ({ input, seed: `job-1:${i}` }));
    const expected = cpythonOutputs('monte-carlo-pi', tasks);
    for (const [i, task] of tasks.entries()) {
      expect(await outputText('monte-carlo-pi', task.input, task.seed)).toBe(expected[i]);
    }
    expect(expected[0]).not.toBe(expected[1]);
    const { pi } = JSON.parse(expected[0]!) as { pi: number };
    expect(Math.abs(pi - Math.PI)).toBeLessThan(0.02);
  }, 60_000);

  test('behavior: word-frequency matches CPython on every example input', async () => {
    const tasks = pythonTemplateInputs('word-frequency').map((input, i) => ({ input, seed: `job-2:${i}` }));
    const expected = cpythonOutputs('word-frequency', tasks);
    for (const [i, task] of tasks.entries()) {
      expect(await outputText('word-frequency', task.input, task.seed)).toBe(expected[i]);
    }
    expect(JSON.parse(expected[0]!)).toMatchObject({ words: 24, distinct: 10 });
  }, 60_000);

  test('error: word-frequency without text is a user_error with the Python traceback', async () => {
    const result = await runPythonTemplate(executor, 'word-frequency', { words: [] }, 'job-3:0');
    expect(result).toMatchObject({
      ok: false,
      error: { kind: 'user_error', message: expect.stringMatching(/TypeError: input.text must be a string/) },
    });
    if (!result.ok) expect(result.error.message).toMatch(/Traceback \(most recent call last\)/);
  });
});
