import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { JsonValue } from '../../../../protocol/job.ts';
import { collatzReference } from '../../../../scripts/collatz-reference.ts';
import type { ExecRequest, Executor } from '../executor.ts';
import { type ExecutorFixtures, type ExecutorTestContext, primeSieveInputs } from './context.ts';
import { expectOk, taskRequest } from './expect.ts';

/**
 * WebAssembly tasks: the templates (C built with clang-14 + wasi-libc, AssemblyScript built with its
 * npm compiler) against independent computations (the C compiled natively, a TypeScript
 * reference), the WASI world a task sees, determinism, and the pool.
 */
export function wasmExecutorTests(context: ExecutorTestContext): void {
  let executor: Executor;
  let templates: ExecutorFixtures['templates'];
  let fixtures: ExecutorFixtures['wasm'];
  let native: ExecutorFixtures['primeSieveNative'];
  beforeAll(() => {
    executor = context.create({ capacity: 2, warmMemoryMb: 64, prewarm: true });
    ({ templates, wasm: fixtures, primeSieveNative: native } = context.fixtures());
  });
  afterAll(() => executor.close());

  /** The native build's output for `input` (one of `primeSieveInputs`). */
  function nativeOutputOf(input: JsonValue): JsonValue {
    const found = native.find(([known]) => JSON.stringify(known) === JSON.stringify(input));
    if (!found) throw new Error(`no native output for ${JSON.stringify(input)}`);
    return found[1];
  }

  const run = (code: Uint8Array, codeCid: string, input: JsonValue, overrides: Partial<ExecRequest> = {}) =>
    executor.run(
      taskRequest('wasm', code, input, {
        codeCid,
        timeoutMs: 10_000,
        seed: 'job-1:0',
        clock: 1_700_000_000_123,
        ...overrides,
      }),
    );

  describe(`${context.host} executor: WebAssembly`, () => {
    test('default', async () => {
      expect(executor.runtimes).toEqual(['js', 'wasm', 'python', 'circom']);
      const result = await run(templates.c, 'prime-sieve', { lo: 0, hi: 100 });
      expect(result).toMatchObject({
        ok: true,
        output: { lo: 0, hi: 100, count: 25, twins: 8, largest: 97, sum: 1060 },
        logs: 'sieved [0, 100) with 5 base primes\n',
      });
    });

    test('behavior: the C template (clang-14 + wasi-libc) matches the same C compiled natively', async () => {
      const inputs = primeSieveInputs;
      const results = await Promise.all(inputs.map((input) => run(templates.c, 'prime-sieve', input)));
      results.forEach((result, i) => {
        expect(expectOk(result)).toEqual(nativeOutputOf(inputs[i]!));
      });
      expect(expectOk(results[1]!)).toMatchObject({ count: 78_498, largest: 999_983 });
    });

    test('behavior: the AssemblyScript template matches a TypeScript reference', async () => {
      const ranges: [number, number][] = [
        [1, 2],
        [1, 100_000],
        [837_799, 837_800], // the longest trajectory below one million
        [1_000_000, 1_010_000],
      ];
      const results = await Promise.all(
        ranges.map(([from, to]) => run(templates.as, 'collatz', { from, to })),
      );
      results.forEach((result, i) => {
        const [from, to] = ranges[i]!;
        expect(expectOk(result)).toEqual(collatzReference(from, to));
        expect(result.logs).toBe(`walked ${to - from} trajectories\n`);
      });
      expect(expectOk(results[2]!)).toMatchObject({ longest: { start: 837_799, steps: 524 } });
    });

    test('behavior: a template refuses bad input with a user_error carrying its stderr', async () => {
      const result = await run(templates.c, 'prime-sieve', { from: 1 });
      if (result.ok) throw new Error('expected a failure');
      expect(result.error.kind).toBe('user_error');
      expect(result.error.message).toMatch(/^the program exited with code 2: expected input like/);
      const as = await run(templates.as, 'collatz', { from: 0, to: 5 });
      expect(as.ok ? undefined : as.error.message).toMatch(/exited with code 2: expected input like/);
    });

    test('behavior: determinism: the same task twice gives byte-identical output and logs', async () => {
      const cases: [Uint8Array, string, JsonValue][] = [
        [templates.c, 'prime-sieve', { lo: 123_456, hi: 654_321 }],
        [templates.as, 'collatz', { from: 1, to: 50_000 }],
        [fixtures.abuse, 'abuse', { attack: 'probe' }], // reads the clocks and random_get
      ];
      for (const [code, cid, input] of cases) {
        const first = await run(code, cid, input);
        const second = await run(code, cid, input);
        expect(first.ok).toBe(true);
        expect(JSON.stringify([second.ok && second.output, second.logs])).toBe(
          JSON.stringify([first.ok && first.output, first.logs]),
        );
      }
    });

    describe('the WASI world of a task', () => {
      test('behavior: argv is ["task"], the environment is empty, stdin is the input JSON', async () => {
        expect(expectOk(await run(fixtures.abuse, 'abuse', { attack: 'args' }))).toEqual({
          argc: 1,
          argv0: 'task',
        });
        const input = { attack: 'echo', text: 'ünïcødé 🚀 "quoted"\n', list: [1, 2.5, null, true] };
        expect(expectOk(await run(fixtures.abuse, 'abuse', input))).toEqual({ stdin: input });
      });

      test('behavior: clocks are the task clock and a virtual monotonic clock; sleep does not wait', async () => {
        const started = performance.now();
        const probe = expectOk(
          await run(fixtures.abuse, 'abuse', { attack: 'probe' }, { clock: 1_234_567_890_123 }),
        );
        expect(performance.now() - started).toBeLessThan(1_500); // the program slept 2 s
        expect(probe).toMatchObject({
          realtime: 1_234_567_890_123,
          time: 1_234_567_890,
          mono: [1000, 2000],
          slept: 0,
          env: 0,
        });
        // nanosleep(2 s) moved the virtual clock by 2 s (plus the 1 µs step of the read after it).
        expect((probe as { sleptNs: number }).sleptNs).toBe(2_000_001_000);
      });

      test('behavior: random_get is seeded by the task seed', async () => {
        const random = async (seed: string) =>
          (expectOk(await run(fixtures.abuse, 'abuse', { attack: 'probe' }, { seed })) as { random: string })
            .random;
        const a = await random('job-1:0');
        expect(a).toMatch(/^[0-9a-f]{32}$/);
        expect(await random('job-1:0')).toBe(a);
        expect(await random('job-1:1')).not.toBe(a);
      });

      test('behavior: stderr is the logs, bounded like JS logs', async () => {
        const result = await run(fixtures.abuse, 'abuse', { attack: 'log-flood' });
        expect(expectOk(result)).toBe('done');
        expect(new TextEncoder().encode(result.logs).byteLength).toBeLessThanOrEqual(16 * 1024);
        expect(result.logs).toMatch(/…\[truncated \d+ bytes\]$/);
      });

      test('behavior: memory up to memoryMb is usable; a declared 1 GiB maximum is lowered, not refused', async () => {
        expect(expectOk(await run(fixtures.abuse, 'abuse', { attack: 'alloc', mib: 48 }))).toEqual({
          allocated: 48,
          check: 7,
        });
        const capped = await run(fixtures.bigMaximumMemory, 'abuse-max-1g', { attack: 'alloc', mib: 200 });
        expect(capped.ok ? capped.output : capped.error.message).toMatch(/cannot allocate 200 MiB/);
        expect(
          expectOk(
            await run(
              fixtures.bigMaximumMemory,
              'abuse-max-1g',
              { attack: 'alloc', mib: 200 },
              { memoryMb: 256 },
            ),
          ),
        ).toEqual({ allocated: 200, check: 7 });
      });
    });

    describe('pool', () => {
      test('behavior: JS and wasm tasks share warm workers', async () => {
        const js = (x: number) =>
          executor.run({
            runtime: 'js',
            code: 'export default (x) => x * 2',
            codeCid: 'double',
            input: x,
            timeoutMs: 5_000,
            memoryMb: 64,
            seed: 's',
            clock: 0,
          });
        const mixed = await Promise.all([
          js(1),
          run(templates.c, 'prime-sieve', { lo: 0, hi: 10 }),
          js(2),
          run(templates.as, 'collatz', { from: 1, to: 3 }),
          js(3),
        ]);
        expect(mixed.map(expectOk)).toEqual([
          2,
          { lo: 0, hi: 10, count: 4, twins: 2, largest: 7, sum: 17 },
          4,
          collatzReference(1, 3),
          6,
        ]);
      });

      test('behavior: a JS task after a big wasm task is not charged for the wasm memory', async () => {
        // The wasm task leaves 48 MiB of memory for V8 to collect some time later; the JS task's
        // off-heap watchdog must not count it (sequential tasks land on the same idle worker).
        const js = {
          runtime: 'js',
          code: 'export default (mb) => { const b = new Uint8Array(mb * 1024 * 1024); b.fill(1); return b.length; }',
          codeCid: 'js-alloc',
          timeoutMs: 10_000,
          memoryMb: 64,
          seed: 's',
          clock: 0,
        } as const;
        for (let i = 0; i < 3; i++) {
          expect(expectOk(await run(fixtures.abuse, 'abuse', { attack: 'alloc', mib: 48 }))).toMatchObject({
            allocated: 48,
          });
          expect(expectOk(await executor.run({ ...js, input: 40 }))).toBe(40 * 1024 * 1024);
        }
      });

      test('behavior: JS code given as UTF-8 bytes runs like text', async () => {
        const result = await executor.run({
          runtime: 'js',
          code: new TextEncoder().encode("export default (x) => x + '!'"),
          codeCid: 'bytes-js',
          input: 'hi',
          timeoutMs: 5_000,
          memoryMb: 64,
          seed: 's',
          clock: 0,
        });
        expect(expectOk(result)).toBe('hi!');
      });

      test('behavior: warm wasm tasks are cheap (the module is compiled once per worker)', async () => {
        for (let i = 0; i < 4; i++) await run(templates.c, 'prime-sieve', { lo: 0, hi: 10 });
        const started = performance.now();
        for (let i = 0; i < 20; i++) await run(templates.c, 'prime-sieve', { lo: i, hi: i + 10 });
        const perTask = (performance.now() - started) / 20;
        expect(perTask).toBeLessThan(50);
      });

      test('error: wasm code given as text is refused', async () => {
        const result = await executor.run({
          runtime: 'wasm',
          code: 'not bytes',
          codeCid: 'text-wasm',
          input: null,
          timeoutMs: 5_000,
          memoryMb: 64,
          seed: 's',
          clock: 0,
        });
        expect(result.ok ? undefined : result.error).toEqual({
          kind: 'node_error',
          message: 'the code of a wasm task must be bytes',
        });
      });
    });
  });
}
