import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { JsonValue } from '../../../../protocol/job.ts';
import type { ExecRequest, ExecResult, Executor } from '../executor.ts';
import type { ExecutorTestContext } from './context.ts';

/** Python tasks in a warm Pyodide: the `main(input)` contract, logs, determinism, errors. */
export function pythonExecutorTests(context: ExecutorTestContext): void {
  let executor: Executor;
  beforeAll(() => {
    executor = context.create({ capacity: 1, warmMemoryMb: 64, prewarm: false });
  });
  afterAll(() => executor.close());

  function request(code: string, input: JsonValue = null, overrides: Partial<ExecRequest> = {}): ExecRequest {
    return {
      runtime: 'python',
      code,
      codeCid: 'py',
      input,
      timeoutMs: 5_000,
      memoryMb: 64,
      seed: 'seed-1',
      clock: 1_700_000_000_000,
      ...overrides,
    };
  }

  function outputOf(result: ExecResult) {
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    return result.output;
  }

  describe(`${context.host} executor: Python`, () => {
    test('default: main(input) runs, its return is the output, print goes to the logs', async () => {
      // The first task of a fresh worker: a short timeout must not include Pyodide's cold start.
      const result = await executor.run(
        request(
          'import math\ndef main(x):\n    print("n is", x["n"])\n    return {"sqrt": math.sqrt(x["n"])}',
          { n: 16 },
          { timeoutMs: 300 },
        ),
      );
      expect(result).toMatchObject({ ok: true, output: { sqrt: 4 }, logs: 'n is 16\n' });
    }, 60_000);

    test('behavior: stderr goes to the logs too', async () => {
      const result = await executor.run(
        request('import sys\ndef main(x):\n    sys.stderr.write("warn\\n")\n    return 1'),
      );
      expect(result).toMatchObject({ ok: true, output: 1, logs: 'warn\n' });
    });

    test('behavior: deterministic: random is seeded by the task seed, time.time() is the task clock', async () => {
      const code = [
        'import random, time, datetime',
        'def main(x):',
        '    return {"r": [random.random() for _ in range(5)], "t": time.time(), "ns": time.time_ns(), "dt": datetime.datetime.now(datetime.timezone.utc).isoformat(), "c": random.choice("abcdef")}',
      ].join('\n');
      const a = outputOf(await executor.run(request(code)));
      const b = outputOf(await executor.run(request(code)));
      expect(JSON.stringify(a)).toBe(JSON.stringify(b));
      expect(a).toMatchObject({
        t: 1_700_000_000,
        ns: 1_700_000_000_000_000_000,
        dt: '2023-11-14T22:13:20+00:00',
      });
      const other = outputOf(await executor.run(request(code, null, { seed: 'seed-2' })));
      expect(JSON.stringify(other)).not.toBe(JSON.stringify(a));
    });

    test('behavior: a warm worker runs tasks with little overhead', async () => {
      await executor.run(request('def main(x):\n    return x', 0));
      const started = performance.now();
      for (let i = 0; i < 20; i++) outputOf(await executor.run(request('def main(x):\n    return x', i)));
      expect((performance.now() - started) / 20).toBeLessThan(50);
    });

    test('behavior: JS and Python tasks share one pool (a worker of the other kind is replaced)', async () => {
      const js = await executor.run({ ...request('export default (x) => x + 1', 1), runtime: 'js' });
      expect(outputOf(js)).toBe(2);
      expect(outputOf(await executor.run(request('def main(x):\n    return x + 1', 2)))).toBe(3);
      expect(
        outputOf(await executor.run({ ...request('export default (x) => x * 3', 3), runtime: 'js' })),
      ).toBe(9);
    }, 60_000);

    test('error: code without main, and a syntax error, are user errors', async () => {
      const missing = await executor.run(request('x = 1'));
      expect(missing).toMatchObject({
        ok: false,
        error: { kind: 'user_error', message: expect.stringMatching(/main\(input\)/) },
      });
      const syntax = await executor.run(request('def main(x) return 1'));
      expect(syntax).toMatchObject({
        ok: false,
        error: { kind: 'user_error', message: expect.stringMatching(/SyntaxError/) },
      });
    });

    test('error: a raised exception returns its Python traceback and the logs so far', async () => {
      const result = await executor.run(
        request(
          'def helper(x):\n    raise ValueError(f"bad {x}")\ndef main(x):\n    print("before")\n    return helper(x)',
          7,
        ),
      );
      expect(result).toMatchObject({ ok: false, logs: 'before\n', error: { kind: 'user_error' } });
      if (!result.ok) {
        expect(result.error.message).toMatch(
          /^Traceback \(most recent call last\):\n {2}File "<task>", line 5, in main/,
        );
        expect(result.error.message).toMatch(
          /File "<task>", line 2, in helper\n\s+raise ValueError\(f"bad \{x\}"\)\n/,
        );
        expect(result.error.message).toMatch(/\nValueError: bad 7\n$/);
        expect(result.error.message).not.toMatch(/_mm_setup|<exec>/);
      }
    });
  });
}
