import { describe, expect, test } from 'vitest';
import type { JsonValue } from '../../protocol/index.ts';
import {
  cpythonOutputs,
  pythonTemplateInputs,
  pythonTemplateSource,
} from '../../templates/python/run-template.ts';
import { type Finished, useLocalMesh } from './local-mesh-fixture.ts';

// Python end to end: `wrangler dev` and one headless node running Pyodide. Outputs are checked
// byte for byte against the machine's CPython run with the seed the job room gives each task
// (`<job id>:<index>`).
const mesh = useLocalMesh({ capacity: 2 });

/** Submit Python source with inputs and wait for the results, in input order. */
function runPythonJob(
  source: string,
  inputs: JsonValue[],
  extra: Record<string, JsonValue> = {},
): Promise<Finished> {
  return mesh.run({ runtime: 'python', source, inputs, ...extra });
}

describe('Python end to end', () => {
  test('default: monte-carlo-pi matches CPython with the same seeds', async () => {
    const inputs = pythonTemplateInputs('monte-carlo-pi');
    const { id, status, results } = await runPythonJob(pythonTemplateSource('monte-carlo-pi'), inputs);
    expect(status.state).toBe('succeeded');
    const expected = cpythonOutputs(
      'monte-carlo-pi',
      results.map((r) => ({ input: inputs[r.index]!, seed: `${id}:${r.index}` })),
    );
    expect(results.map((r) => JSON.stringify(r.output))).toEqual(expected);
  });

  test('behavior: word-frequency matches CPython on every example input', async () => {
    const inputs = pythonTemplateInputs('word-frequency');
    const { id, status, results } = await runPythonJob(pythonTemplateSource('word-frequency'), inputs);
    expect(status.state).toBe('succeeded');
    expect(results.map((r) => r.index)).toEqual(inputs.map((_, i) => i));
    const expected = cpythonOutputs(
      'word-frequency',
      results.map((r) => ({ input: inputs[r.index]!, seed: `${id}:${r.index}` })),
    );
    expect(results.map((r) => JSON.stringify(r.output))).toEqual(expected);
  });

  test('error: hostile tasks fail alone, with clear errors, and the node keeps serving', async () => {
    const source = [
      'import importlib, socket',
      'def main(attack):',
      "    if attack == 'js':",
      "        return importlib.import_module('js').globalThis is not None",
      "    if attack == 'pyodide_js':",
      "        return str(importlib.import_module('pyodide_js'))",
      "    if attack == 'socket':",
      "        return str(socket.create_connection(('127.0.0.1', 9), timeout=1))",
      "    if attack == 'file':",
      "        return open('/etc/hostname').read()",
      "    if attack == 'recursion':",
      '        return main(attack)',
      '    return attack * 2',
    ].join('\n');
    const inputs = ['js', 'pyodide_js', 'socket', 'file', 'recursion', 'ok'];
    const { status, results } = await runPythonJob(source, inputs, { maxAttempts: 1 });
    expect(status.state).toBe('failed');
    const byInput = new Map(results.map((r) => [inputs[r.index], r]));
    for (const attack of ['js', 'pyodide_js', 'socket', 'file', 'recursion']) {
      expect(byInput.get(attack), attack).toMatchObject({ state: 'failed', error: { kind: 'user_error' } });
    }
    expect(byInput.get('js')?.error?.message).toMatch(/module 'js' is not available/);
    expect(byInput.get('recursion')?.error?.message).toMatch(/RecursionError/);
    expect(byInput.get('ok')).toMatchObject({ state: 'succeeded', output: 'okok' });
  });
});
