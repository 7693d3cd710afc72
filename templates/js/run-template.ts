import type { ExecResult, Executor } from '../../browser-node/src/core/executor.ts';
import type { JsonValue } from '../../protocol/index.ts';
import { runTemplateCode, templateFile, templateInputsOf } from '../template-files.ts';

/** The source of `templates/js/<name>.js`, as a job would upload it. */
export const templateSource = (name: string): string => templateFile('js', `${name}.js`);

/** The example inputs of a template (`<name>.inputs.jsonl`). */
export const templateInputs = (name: string): JsonValue[] => templateInputsOf('js', name);

/** Run a template on one input the way a node runs a task (`seed` as the room makes it: `job:index`). */
export const runTemplate = (
  executor: Executor,
  name: string,
  input: JsonValue,
  seed: string,
): Promise<ExecResult> => runTemplateCode(executor, 'js', name, templateSource(name), input, seed);
