import { readFileSync } from 'node:fs';
import type { ExecResult, Executor } from '../browser-node/src/core/executor.ts';
import type { JsonValue, Runtime } from '../protocol/index.ts';

/** A file of `templates/<dir>/`. */
export function templateFile(dir: string, file: string): string {
  return readFileSync(new URL(`./${dir}/${file}`, import.meta.url), 'utf8');
}

/** The example inputs of a template (`templates/<dir>/<name>.inputs.jsonl`). */
export function templateInputsOf(dir: string, name: string): JsonValue[] {
  return templateFile(dir, `${name}.inputs.jsonl`)
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as JsonValue);
}

/** Run template code on one input the way a node runs a task (`seed` as the room makes it: `job:index`). */
export function runTemplateCode(
  executor: Executor,
  runtime: Runtime,
  name: string,
  code: string,
  input: JsonValue,
  seed: string,
): Promise<ExecResult> {
  return executor.run({
    runtime,
    code,
    codeCid: `template-${name}`,
    input,
    timeoutMs: 60_000,
    memoryMb: 128,
    seed,
    clock: 0,
  });
}
