import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { circuitManifest } from '../../../client/circuit.ts';
import { loadCircuit } from '../../../client/circuit-files.ts';
import { buildTemplates } from '../../../scripts/build-wasm.ts';
import { buildCircuits, testBuildDir } from '../../../scripts/circuits.ts';
import { templateFile, templateInputsOf } from '../../../templates/template-files.ts';
import {
  type CircuitFixtures,
  type ExecutorFixtures,
  primeSieveInputs,
} from '../core/executor-tests/context.ts';
import { buildWasmFixtures } from './wasm-fixtures/fixtures.ts';

/**
 * Builds what the executor test list needs (templates and test programs from source) and runs the
 * natively compiled C template for the reference outputs. Fails, with the apt-get line to run,
 * when clang-14 or wasi-libc is missing: the tests then fail, they are not skipped.
 */
export async function buildExecutorFixtures(): Promise<ExecutorFixtures> {
  const built = await buildTemplates();
  return {
    circuits: await buildCircuitFixtures(),
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

/** sum_range and matmul built from source, and sum_range set up a second time (another key). */
async function buildCircuitFixtures(): Promise<CircuitFixtures> {
  const out = testBuildDir('executors');
  const other = testBuildDir('executors-other');
  try {
    await buildCircuits({ names: ['sum_range', 'matmul'], out });
    await buildCircuits({ names: ['sum_range'], out: other });
    const sumRange = await loadCircuit(out, 'sum_range');
    const manifest = await circuitManifest(sumRange);
    return {
      sumRange: { wasm: sumRange.wasm, zkey: sumRange.zkey, manifest: JSON.stringify(manifest) },
      matmulZkey: (await loadCircuit(out, 'matmul')).zkey,
      otherSetupZkey: (await loadCircuit(other, 'sum_range')).zkey,
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  }
}
