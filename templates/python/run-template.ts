import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ExecResult, Executor } from '../../browser-node/src/core/executor.ts';
import type { JsonValue } from '../../protocol/index.ts';
import { runTemplateCode, templateFile, templateInputsOf } from '../template-files.ts';

/** The source of `templates/python/<name>.py`, as a job would upload it. */
export const pythonTemplateSource = (name: string): string => templateFile('python', `${name}.py`);

/** The example inputs of a Python template (`<name>.inputs.jsonl`). */
export const pythonTemplateInputs = (name: string): JsonValue[] => templateInputsOf('python', name);

/** Run a Python template on one input the way a node runs a task (`seed` as the room makes it). */
export const runPythonTemplate = (
  executor: Executor,
  name: string,
  input: JsonValue,
  seed: string,
): Promise<ExecResult> => runTemplateCode(executor, 'python', name, pythonTemplateSource(name), input, seed);

/**
 * The outputs of a template under the machine's CPython (`python3`, through `run-cpython.py`),
 * as JSON text serialized the way the node serializes them, one per task.
 */
export function cpythonOutputs(name: string, tasks: { input: JsonValue; seed: string }[]): string[] {
  const runner = fileURLToPath(new URL('./run-cpython.py', import.meta.url));
  const template = fileURLToPath(new URL(`./${name}.py`, import.meta.url));
  const stdin = tasks.map((task) => JSON.stringify({ ...task, clock: 0 })).join('\n');
  return execFileSync('python3', [runner, template], { input: stdin, encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.trim());
}
