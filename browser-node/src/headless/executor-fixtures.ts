import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildTemplates } from '../../../scripts/build-wasm.ts';
import { templateFile, templateInputsOf } from '../../../templates/template-files.ts';
import { type ExecutorFixtures, primeSieveInputs } from '../core/executor-tests/context.ts';
import { buildWasmFixtures } from './wasm-fixtures/fixtures.ts';

/**
 * Builds what the executor test list needs (templates and test programs from source) and runs the
 * natively compiled C template for the reference outputs. Fails, with the apt-get line to run,
 * when clang-14 or wasi-libc is missing: the tests then fail, they are not skipped.
 */
export async function buildExecutorFixtures(): Promise<ExecutorFixtures> {
  const built = await buildTemplates();
  return {
    templates: {
      c: new Uint8Array(readFileSync(built.cWasm)),
      as: new Uint8Array(readFileSync(built.asWasm)),
    },
    wasm: buildWasmFixtures(),
    primeSieveNative: primeSieveInputs.map((input) => [
      input,
      JSON.parse(execFileSync(built.cNative, { input: JSON.stringify(input), encoding: 'utf8' })),
    ]),
    sources: (['monte-carlo-pi', 'word-frequency'] as const).flatMap((name) => [
      {
        runtime: 'js' as const,
        name,
        code: templateFile('js', `${name}.js`),
        inputs: templateInputsOf('js', name),
      },
      {
        runtime: 'python' as const,
        name,
        code: templateFile('python', `${name}.py`),
        inputs: templateInputsOf('python', name),
      },
    ]),
  };
}
