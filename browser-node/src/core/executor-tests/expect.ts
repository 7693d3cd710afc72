import { expect } from 'vitest';
import type { JsonValue, Runtime } from '../../../../protocol/job.ts';
import type { ExecRequest, ExecResult } from '../executor.ts';

/** The output of a task that must have succeeded (the error and logs in the failure otherwise). */
export function expectOk(result: ExecResult): JsonValue {
  if (!result.ok)
    throw new Error(`expected success, got ${JSON.stringify(result.error)}\nlogs: ${result.logs}`);
  return result.output;
}

/** The error of a task that must have failed with `kind`. */
export function expectError(result: ExecResult, kind: string) {
  if (result.ok) throw new Error(`expected ${kind}, got output ${JSON.stringify(result.output)}`);
  expect(result.error.kind).toBe(kind);
  return result.error;
}

/** A task request with the test defaults: 5 s, 64 MB, a fixed seed and clock. */
export function taskRequest(
  runtime: Runtime,
  code: string | Uint8Array,
  input: JsonValue,
  overrides: Partial<ExecRequest> = {},
): ExecRequest {
  return {
    runtime,
    code,
    codeCid: `${runtime}-code`,
    input,
    timeoutMs: 5_000,
    memoryMb: 64,
    seed: 'seed-1',
    clock: 1_700_000_000_000,
    ...overrides,
  };
}
