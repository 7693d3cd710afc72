import { readFileSync } from 'node:fs';
import type { ExecResult, Executor } from '../../browser-node/src/core/executor.ts';
import type { JsonValue } from '../../protocol/index.ts';

/** The source of `templates/js/<name>.js`, as a job would upload it. */
export function templateSource(name: string): string {
  return readFileSync(new URL(`./${name}.js`, import.meta.url), 'utf8');
}

/** The example inputs of a template (`<name>.inputs.jsonl`). */
export function templateInputs(name: string): JsonValue[] {
  return readFileSync(new URL(`./${name}.inputs.jsonl`, import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as JsonValue);
}

/** Run a template on one input the way a node runs a task (`seed` as the room makes it: `job:index`). */
export function runTemplate(
  executor: Executor,
  name: string,
  input: JsonValue,
  seed: string,
): Promise<ExecResult> {
  return executor.run({
    runtime: 'js',
    code: templateSource(name),
    codeCid: `template-${name}`,
    input,
    timeoutMs: 60_000,
    memoryMb: 128,
    seed,
    clock: 0,
  });
}
