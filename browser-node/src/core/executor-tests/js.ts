import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { JsonValue } from '../../../../protocol/job.ts';
import { limits } from '../../../../protocol/limits.ts';
import type { ExecRequest, Executor } from '../executor.ts';
import type { ExecutorTestContext } from './context.ts';
import { expectError, expectOk, taskRequest } from './expect.ts';

/** JavaScript tasks: the contract of a JS function, errors, limits and the pool (see `context.ts`). */
export function jsExecutorTests(context: ExecutorTestContext): void {
  // One pool for the whole suite: workers stay warm, as they do in a node.
  let executor: Executor;
  beforeAll(() => {
    executor = context.create({ capacity: 2, warmMemoryMb: 64, prewarm: true });
  });
  afterAll(() => executor.close());

  let cid = 0;
  const request = (code: string, input: JsonValue = null, overrides: Partial<ExecRequest> = {}) =>
    taskRequest('js', code, input, { codeCid: `code-${++cid}`, ...overrides });

  function run(
    code: string,
    input: JsonValue = null,
    overrides: Partial<ExecRequest> = {},
    signal?: AbortSignal,
  ) {
    return executor.run(request(code, input, overrides), signal);
  }

  describe(`${context.host} executor: JavaScript`, () => {
    test('default', async () => {
      expect(executor.runtimes).toEqual(['js', 'wasm', 'python', 'circom']);
      expect(executor.capacity).toBe(2);
      const result = await run('export default (x) => x * 2', 21);
      expect(result).toMatchObject({ ok: true, output: 42, logs: '' });
      expect(result.durationMs).toBeGreaterThanOrEqual(0);
      expect(result.durationMs).toBeLessThan(1_000);
    });

    test('behavior: async default export and top-level await', async () => {
      const code =
        'const k = await Promise.resolve(3);\nexport default async (x) => { await null; return x * k; };';
      expect(expectOk(await run(code, 5))).toBe(15);
    });

    test('behavior: nested JSON input and output round-trip', async () => {
      const input = {
        a: [1, 2.5, -3e-7, { b: null, c: [true, false] }],
        s: 'ünïcødé 🚀 "quoted"\n',
        e: {},
        n: [],
      };
      expect(expectOk(await run('export default (x) => x', input))).toEqual(input);
      expect(expectOk(await run('export default (x) => ({ got: x, keys: Object.keys(x) })', input))).toEqual({
        got: input,
        keys: ['a', 's', 'e', 'n'],
      });
    });

    test('behavior: undefined output becomes null; the input is a fresh copy', async () => {
      expect(expectOk(await run('export default () => undefined'))).toBeNull();
      const input = { a: 1 };
      expect(expectOk(await run('export default (x) => { x.a = 2; x.b = 3; return x; }', input))).toEqual({
        a: 2,
        b: 3,
      });
      expect(input).toEqual({ a: 1 });
    });

    test('behavior: Date is the task clock', async () => {
      const code = `export default () => ({
      now: Date.now(),
      constructed: new Date().getTime(),
      iso: new Date().toISOString(),
      explicit: new Date(0).toISOString(),
      utc: Date.UTC(2020, 0, 2),
      parsed: Date.parse('2021-03-04T05:06:07Z'),
      called: typeof Date(),
      isDate: new Date() instanceof Date,
      sub: new (class extends Date {})().getTime(),
    })`;
      expect(expectOk(await run(code, null, { clock: 1_234_567_890_123 }))).toEqual({
        now: 1_234_567_890_123,
        constructed: 1_234_567_890_123,
        iso: '2009-02-13T23:31:30.123Z',
        explicit: '1970-01-01T00:00:00.000Z',
        utc: Date.UTC(2020, 0, 2),
        parsed: Date.parse('2021-03-04T05:06:07Z'),
        called: 'string',
        isDate: true,
        sub: 1_234_567_890_123,
      });
    });

    test('behavior: Math.random is seeded and deterministic', async () => {
      const code = `export default () => {
      const values = Array.from({ length: 8 }, () => Math.random());
      console.log(values.join(','));
      return { values, ok: values.every((v) => v >= 0 && v < 1), max: Math.max(1, 2), pi: Math.PI };
    }`;
      const first = await run(code, null, { seed: 'alpha' });
      const second = await run(code, null, { seed: 'alpha' });
      const other = await run(code, null, { seed: 'beta' });
      expect(JSON.stringify([first.ok, first.ok && first.output, first.logs])).toBe(
        JSON.stringify([second.ok, second.ok && second.output, second.logs]),
      );
      const values = (expectOk(first) as { values: number[] }).values;
      expect(new Set(values).size).toBe(8);
      expect(expectOk(first)).toMatchObject({ ok: true, max: 2, pi: Math.PI });
      expect((expectOk(other) as { values: number[] }).values).not.toEqual(values);
    });

    test('error: a task can leave nothing for the next one in its worker: globals and endowments are frozen', async () => {
      // Every write a task might try on what the worker's tasks share; each must fail.
      const tamper = `export default () => {
        const tries = {
          global: () => { globalThis.leak = 1; },
          globalFunction: () => { Function.leak = 1; },
          random: () => { Math.random = () => 0.5; },
          mathProp: () => { Math.leak = 1; },
          now: () => { Date.now = () => 1; },
          dateProp: () => { Date.leak = 1; },
          log: () => { console.log = () => {}; },
          consoleProp: () => { console.leak = 1; },
          prototype: () => { Object.prototype.leak = 1; },
        };
        const wrote = [];
        for (const [name, f] of Object.entries(tries)) {
          try { f(); wrote.push(name); } catch {}
        }
        // A promise left behind, resolved after the task: it must not run in the next task.
        Promise.resolve().then(() => { try { Math.random = () => 0.5; } catch {} });
        return wrote;
      }`;
      const probe = `export default () => ({
        leaks: [typeof globalThis.leak, typeof Math.leak, typeof Date.leak, typeof console.leak, typeof ({}).leak],
        random: Math.random(),
        now: Date.now(),
      })`;
      const clean = expectOk(await run(probe, null, { seed: 's1', clock: 5 }));
      // Twice the pool's capacity, so both workers run a tampering task before a probe.
      for (let i = 0; i < 4; i++) {
        const wrote = expectOk(await run(tamper, null, { seed: `t${i}` }));
        expect(wrote).toEqual([]);
        expect(expectOk(await run(probe, null, { seed: 's1', clock: 5 }))).toEqual(clean);
      }
      expect(clean).toMatchObject({ leaks: Array(5).fill('undefined'), now: 5 });
    });

    test("behavior: a task's standard globals are the compartment's, and its own declarations shadow them", async () => {
      // The module binds the globals it names once (js-module.ts): they must be the task's own
      // endowments (the seeded Math, the task's clock), and a task may still declare the same names.
      const seeded = `export default () => [Math.random(), Date.now(), typeof console.log, [1, 2].map(String)]`;
      const a = expectOk(await run(seeded, null, { seed: 'g1', clock: 7 })) as unknown[];
      expect(expectOk(await run(seeded, null, { seed: 'g1', clock: 7 }))).toEqual(a);
      expect(a.slice(1)).toEqual([7, 'function', ['1', '2']]);
      const own = `const Math = { random: () => 'mine' };
        export default () => { let Date = 3; return [Math.random(), Date]; }`;
      expect(expectOk(await run(own))).toEqual(['mine', 3]);
      const assign = await run('export default () => { Math = { random: () => 1 }; return Math.random(); }');
      expect(assign.ok).toBe(false);
      expect(!assign.ok && assign.error.message).toMatch(/TypeError/);
    });

    test('behavior: console output is captured and formatted', async () => {
      const code = `export default () => {
      console.log('plain', 1, { a: [1, 'x'] }, null, undefined, 10n);
      console.info('info'); console.warn('warn'); console.error('error'); console.debug('debug');
      console.log('%s has %d items (%i%%)', 'cart', 3, 42.9);
      const cyclic = { name: 'c' }; cyclic.self = cyclic;
      console.log(cyclic, () => 1, Symbol('s'));
      console.log(new TypeError('bad'));
      return 0;
    }`;
      const result = await run(code);
      expect(result.logs.split('\n')).toEqual([
        'plain 1 {"a":[1,"x"]} null undefined 10n',
        'info',
        'warn',
        'error',
        'debug',
        'cart has 3 items (42%)',
        '{"name":"c","self":"[Circular]"} [Function: (anonymous)] Symbol(s)',
        'TypeError: bad',
        '    at default (task.js:7:19)',
        '',
      ]);
    });

    test('behavior: logs are bounded and say how much was cut', async () => {
      const code = `export default () => {
      for (let i = 0; i < 5000; i++) console.log('line ' + i + ' ' + 'é'.repeat(20));
      return 'done';
    }`;
      const result = await run(code);
      expect(expectOk(result)).toBe('done');
      const bytes = new TextEncoder().encode(result.logs).byteLength;
      expect(bytes).toBeLessThanOrEqual(limits.maxLogBytes);
      expect(bytes).toBeGreaterThan(limits.maxLogBytes - 200);
      expect(result.logs.startsWith('line 0 éé')).toBe(true);
      const marker = /\n…\[truncated (\d+) bytes\]$/.exec(result.logs);
      expect(marker).not.toBeNull();
      let full = '';
      for (let i = 0; i < 5000; i++) full += `line ${i} ${'é'.repeat(20)}\n`;
      // The marker starts a line of its own; the line break before it is the log's or the marker's.
      let kept = result.logs.slice(0, marker!.index + 1);
      if (!full.startsWith(kept)) kept = kept.slice(0, -1);
      expect(full.startsWith(kept)).toBe(true);
      const utf8 = (text: string) => new TextEncoder().encode(text).byteLength;
      expect(Number(marker![1])).toBe(utf8(full) - utf8(kept));
    });

    describe('errors', () => {
      test('error: a thrown Error has its message and a stack with the user’s lines', async () => {
        const code = [
          'function check(x) {',
          '  if (x < 0) {',
          "    throw new RangeError('negative: ' + x);",
          '  }',
          '}',
          'export default (x) => check(x);',
        ].join('\n');
        const error = expectError(await run(code, -1), 'user_error');
        expect(error.message).toBe('RangeError: negative: -1');
        expect(error.stack).toMatch(
          /^RangeError: negative: -1\n {4}at check \(task\.js:3:11\)\n {4}at default \(task\.js:6:/,
        );
        expect(error.stack).not.toMatch(/node_modules|sandbox|harness|file:/);
      });

      test('error: an error thrown at top level or on line 1 has exact positions', async () => {
        const top = expectError(
          await run("const a = 1;\nthrow new Error('top');\nexport default a;"),
          'user_error',
        );
        expect(top.stack).toContain('task.js:2:7');
        const first = expectError(
          await run("export default () => { throw new Error('one'); }"),
          'user_error',
        );
        expect(first.stack).toContain('at default (task.js:1:30)');
      });

      test('error: non-Error throws give a sensible message', async () => {
        expect(
          expectError(await run("export default () => { throw 'just a string'; }"), 'user_error').message,
        ).toBe('just a string');
        expect(
          expectError(await run('export default () => { throw { code: 42 }; }'), 'user_error').message,
        ).toBe('{"code":42} (thrown, not an Error)');
        expect(
          expectError(await run('export default async () => { throw undefined; }'), 'user_error').message,
        ).toBe('undefined (thrown, not an Error)');
        const hostile =
          'export default () => { throw new Proxy({}, { get() { throw 1; }, getPrototypeOf() { throw 2; } }); }';
        expect(expectError(await run(hostile), 'user_error').message).toMatch(/thrown/);
      });

      test('error: syntax errors, imports and a missing or wrong default export', async () => {
        expect(expectError(await run('export default (x) => x +;'), 'user_error').message).toBe(
          'SyntaxError: Unexpected token at 1:26',
        );
        expect(
          expectError(await run("import fs from 'node:fs';\nexport default 1"), 'user_error').message,
        ).toMatch(/imports are not available in the sandbox at 1:1/);
        expect(expectError(await run('export const a = 1;'), 'user_error').message).toMatch(
          /no default export/,
        );
        expect(expectError(await run('export default 42;'), 'user_error').message).toBe(
          'the default export must be a function, got number',
        );
      });

      test('error: SES source checks surface as user errors', async () => {
        const error = expectError(await run("export default () => 'see <!-- this'"), 'user_error');
        expect(error.message).toMatch(/HTML comment rejected at task\.js:1/);
      });

      test('error: non-JSON outputs are output_invalid', async () => {
        const cases = [
          'export default () => 10n',
          'export default () => { const a = {}; a.a = a; return a; }',
          'export default () => () => 1',
          'export default () => ({ nested: { f() {} } })',
          "export default () => [Symbol('s')]",
          "export default () => ({ toJSON() { throw new Error('no'); } })",
          // Serializes to nothing at all: the task's own failure, not the node's.
          'export default () => ({ toJSON: () => undefined })',
          'export default () => ({ toJSON: () => Symbol.iterator })',
          "export default () => ({ get x() { throw new Error('getter'); } })",
        ];
        for (const code of cases) {
          const error = expectError(await run(code), 'output_invalid');
          expect(error.message).toMatch(/^the output is not JSON-serializable: /);
        }
      });

      test('error: an output over the size limit is output_invalid with size and limit', async () => {
        const error = expectError(
          await run("export default () => 'x'.repeat(1024 * 1024)"),
          'output_invalid',
        );
        expect(error.message).toBe(
          `the output is ${1024 * 1024 + 2} bytes as JSON; the limit is ${limits.maxOutputBytes} bytes`,
        );
        // Exactly at the limit is fine.
        const fits = await run(`export default () => 'é'.repeat(${(limits.maxOutputBytes - 2) / 2})`);
        expect(fits.ok).toBe(true);
      });

      test('error: huge error messages are bounded', async () => {
        const error = expectError(
          await run("export default () => { throw new Error('m'.repeat(100000)); }"),
          'user_error',
        );
        expect(error.message.length).toBeLessThanOrEqual(4096);
        expect(error.message.endsWith('…[truncated]')).toBe(true);
      });
    });

    describe('limits', () => {
      test('error: an infinite loop times out, and the executor keeps working', async () => {
        const started = performance.now();
        const result = await run("export default () => { console.log('spinning'); while (true) {} }", null, {
          timeoutMs: 300,
        });
        const error = expectError(result, 'timeout');
        expect(error.message).toBe('task exceeded its time limit of 300 ms');
        expect(result.logs).toBe('spinning\n'); // recovered from the killed worker
        expect(performance.now() - started).toBeLessThan(3_000);
        expect(expectOk(await run('export default (x) => x + 1', 1))).toBe(2);
      });

      test('error: a promise that never settles times out', async () => {
        const error = expectError(
          await run('export default () => new Promise(() => {})', null, { timeoutMs: 200 }),
          'timeout',
        );
        expect(error.message).toBe('task exceeded its time limit of 200 ms');
        const topLevel = await run('await new Promise(() => {});\nexport default 1', null, {
          timeoutMs: 200,
        });
        expectError(topLevel, 'timeout');
      });

      test('error: microtasks left running after the result are charged to the task, not the next one', async () => {
        const code =
          'export default () => { const spin = () => Promise.resolve().then(spin); spin(); return 1; }';
        expectError(await run(code, null, { timeoutMs: 300 }), 'timeout');
        expect(expectOk(await run('export default () => 2'))).toBe(2);
      });

      test('behavior: deep recursion is a user error, not a crash', async () => {
        const error = expectError(
          await run('const f = (n) => f(n + 1) + 1;\nexport default () => f(0);'),
          'user_error',
        );
        expect(error.message).toMatch(/Maximum call stack size exceeded/);
      });

      test('behavior: an unhandled rejection does not hurt the worker', async () => {
        expect(
          expectOk(
            await run("export default () => { Promise.reject(new Error('ignored')); return 'fine'; }"),
          ),
        ).toBe('fine');
        expect(expectOk(await run('export default () => 1'))).toBe(1);
      });
    });

    describe('pool', () => {
      test('behavior: capacity 2 runs two tasks at once and queues the rest', async () => {
        const hang = run('export default () => new Promise(() => {})', null, { timeoutMs: 2_500 });
        let hangDone = false;
        void hang.then(() => {
          hangDone = true;
        });
        const quick = await Promise.all([1, 2, 3, 4].map((n) => run('export default (x) => x * 10', n)));
        expect(hangDone).toBe(false);
        expect(quick.map(expectOk)).toEqual([10, 20, 30, 40]);
        expectError(await hang, 'timeout');
      });

      test('behavior: aborting a running task terminates it', async () => {
        const controller = new AbortController();
        const pending = run(
          'export default () => { while (true) {} }',
          null,
          { timeoutMs: 20_000 },
          controller.signal,
        );
        setTimeout(() => controller.abort(), 100);
        const started = performance.now();
        const error = expectError(await pending, 'node_error');
        expect(error.message).toBe('aborted');
        expect(performance.now() - started).toBeLessThan(5_000);
        expect(expectOk(await run('export default () => "after"'))).toBe('after');
      });

      test('behavior: aborting before start or while queued', async () => {
        expect(
          expectError(await run('export default () => 1', null, {}, AbortSignal.abort()), 'node_error')
            .message,
        ).toBe('aborted');
        const blockers = [1, 2].map(() =>
          run('export default () => new Promise(() => {})', null, { timeoutMs: 1_000 }),
        );
        const controller = new AbortController();
        const queued = run('export default () => 1', null, {}, controller.signal);
        controller.abort();
        expect(expectError(await queued, 'node_error').message).toBe('aborted');
        for (const blocker of blockers) expectError(await blocker, 'timeout');
      });

      test('error: a circom task that comes without its circuit files is refused', async () => {
        const result = await executor.run({ ...request('x'), runtime: 'circom' });
        expect(expectError(result, 'node_error').message).toMatch(/needs its circuit/);
      });

      test('behavior: warm tasks are cheap', async () => {
        await run('export default (x) => x', 0);
        const started = performance.now();
        for (let i = 0; i < 20; i++) await run('export default (x) => x', i, { codeCid: 'warm-code' });
        const perTask = (performance.now() - started) / 20;
        expect(perTask).toBeLessThan(50);
      });

      test('behavior: a closed executor refuses tasks', async () => {
        const other = context.create({ capacity: 1, warmMemoryMb: 64, prewarm: false });
        await other.close();
        expect(expectError(await other.run(request('export default 1')), 'node_error').message).toBe(
          'the executor is closed',
        );
      });
    });
  });
}
