import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CircuitManifest, outputBindsInput } from '../../../../protocol/circuit.ts';
import { verifyGroth16 } from '../../../../protocol/groth16.ts';
import type { JsonValue } from '../../../../protocol/job.ts';
import type { ExecRequest, Executor } from '../executor.ts';
import type { ExecutorFixtures, ExecutorTestContext } from './context.ts';
import { expectError, expectOk, taskRequest } from './expect.ts';

/**
 * `circom` tasks: a Groth16 proof of the circuit's public signals, made with snarkjs in the host's
 * sandbox, that the room's verifier accepts; and every way a job's circuit can be wrong (input
 * outside the constraints, a proving key of another circuit or of another setup, a private field,
 * a broken manifest or witness calculator) a `user_error` with the reason, one after another in
 * the same executor, which then still proves honest tasks.
 */
export function circomExecutorTests(context: ExecutorTestContext): void {
  let executor: Executor;
  let fixtures: ExecutorFixtures;
  beforeAll(() => {
    executor = context.create({ capacity: 1, warmMemoryMb: 128, prewarm: false });
    fixtures = context.fixtures();
  });
  afterAll(() => executor.close());

  const values = [5, 9, 1, 7, 3, 8, 2, 6];
  const request = (
    input: JsonValue,
    circuit: Partial<ExecRequest['circuit'] & object> = {},
    code?: string,
  ) => {
    const c = fixtures.circuits.sumRange;
    return taskRequest('circom', code ?? c.manifest, input, {
      codeCid: 'circom-sum-range',
      timeoutMs: 60_000,
      memoryMb: 128,
      circuit: { wasm: c.wasm, zkey: c.zkey, ...circuit },
    });
  };
  const manifest = () => CircuitManifest.parse(JSON.parse(fixtures.circuits.sumRange.manifest));

  describe(`${context.host} executor: circom (Groth16 with snarkjs)`, () => {
    test('behavior: a proof of the public signals that the room verifier accepts', async () => {
      const input = { values, lo: 1, hi: 10 };
      const result = await executor.run(request(input));
      const output = expectOk(result);
      expect(output).toEqual(['41', '1', '9', ...values.map(String), '1', '10']);
      if (!result.ok) throw new Error('unreachable');
      expect(result.proof).toBeDefined();
      const m = manifest();
      expect(verifyGroth16(m.verificationKey, result.proof, output)).toEqual({ ok: true });
      expect(outputBindsInput(m, input, output)).toBeUndefined();
      // The proof is of this input's signals only.
      expect(outputBindsInput(m, { ...input, lo: 0 }, output)).toMatch(/another input/);
    });

    test('errors: every wrong circuit or input is a user_error with its reason, then honest work goes on', async () => {
      const ok = { values, lo: 1, hi: 10 };
      const cases: [string, ExecRequest, RegExp][] = [
        [
          'a value out of range',
          request({ values: [...values.slice(1), 11], lo: 1, hi: 10 }),
          /does not satisfy/,
        ],
        [
          'a zkey of another circuit',
          request(ok, { zkey: fixtures.circuits.matmulZkey }),
          /proving key|zkey/,
        ],
        ['a zkey of another setup', request(ok, { zkey: fixtures.circuits.otherSetupZkey }), /same setup/],
        ['a field the circuit does not make public', request({ ...ok, secret: 1 }), /not a public input/],
        ['an array of the wrong length', request({ values: [1, 2], lo: 1, hi: 10 }), /array of 8/],
        ['a manifest that is not JSON', request(ok, {}, 'not json'), /manifest is invalid/],
        [
          'a witness calculator that is not wasm',
          request(ok, { wasm: new TextEncoder().encode('nope') }),
          /./,
        ],
      ];
      for (const [what, req, reason] of cases) {
        const error = expectError(await executor.run(req), 'user_error');
        expect(error.message, what).toMatch(reason);
      }
      const again = expectOk(await executor.run(request({ values: [2, 2, 2, 2, 2, 2, 2, 2], lo: 2, hi: 2 })));
      expect((again as string[]).slice(0, 3)).toEqual(['16', '2', '2']);
    });
  });
}
