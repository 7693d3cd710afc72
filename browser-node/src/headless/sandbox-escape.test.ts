import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { JsonValue } from '../../../protocol/job.ts';
import { limits } from '../../../protocol/limits.ts';
import type { ExecResult } from '../core/executor.ts';
import { LEXICAL_GLOBALS } from '../core/js-module.ts';
import { ProcessExecutor } from './process-executor.ts';

/**
 * Each test is an attack a hostile task could try. Each asserts that the attack fails (the task
 * reports it had no access, or it fails) and that nothing leaked: not to the host, not to the
 * next task. One worker thread, so consecutive tasks share a warm worker, as they do in a node.
 */
const executor = new ProcessExecutor({ processes: 1, warmMemoryMb: 64 });
afterAll(() => executor.close());

let cid = 0;
function run(code: string, input: JsonValue = null, timeoutMs = 5_000): Promise<ExecResult> {
  return executor.run({
    runtime: 'js',
    code,
    codeCid: `escape-${++cid}`,
    input,
    timeoutMs,
    memoryMb: 64,
    seed: 'escape',
    clock: 1_700_000_000_000,
  });
}

/** Runs a probe that must succeed and returns what it found. */
async function probe(code: string, input: JsonValue = null): Promise<JsonValue> {
  const result = await run(code, input);
  if (!result.ok) throw new Error(`probe failed: ${JSON.stringify(result.error)}`);
  return result.output;
}

/** `attempt(() => …)` in user code: the value, or the name of what was thrown. */
const attempt = `const attempt = (f) => { try { const v = f(); return v === undefined ? 'undefined' : typeof v === 'function' ? 'function' : v; } catch (e) { return 'threw ' + (e && e.name); } };\n`;

/**
 * A name that is not a global reads as `undefined` under SES's scope terminator (calling it is then
 * a TypeError); a plain ReferenceError is as good. Either way, nothing was reached.
 */
const blocked = expect.stringMatching(/^(undefined|threw (TypeError|ReferenceError))$/);

/** The worker is still healthy and isolation still holds. */
async function expectHealthy() {
  expect(await probe('export default () => ({ proto: Object.keys(Object.prototype), n: 1 + 1 })')).toEqual({
    proto: [],
    n: 2,
  });
}

describe('sandbox escapes', () => {
  describe('network', () => {
    let server: Server;
    let url = '';
    let hits = 0;
    beforeAll(async () => {
      server = createServer((_request, response) => {
        hits++;
        response.end('leaked');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test('fetch, XMLHttpRequest, WebSocket and friends are unreachable', async () => {
      const code = `${attempt}export default async (url) => ({
        fetch: attempt(() => fetch(url)),
        viaGlobal: attempt(() => globalThis.fetch(url)),
        viaFunction: attempt(() => Function('return fetch')()(url)),
        viaEval: attempt(() => (0, eval)('fetch')(url)),
        types: [typeof fetch, typeof XMLHttpRequest, typeof WebSocket, typeof Request, typeof EventSource, typeof navigator],
      })`;
      const found = await probe(code, url);
      expect(found).toEqual({
        fetch: blocked,
        viaGlobal: blocked,
        viaFunction: blocked,
        viaEval: blocked,
        types: ['undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'undefined'],
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(hits).toBe(0);
    });
  });

  test('require, module, __dirname and Node built-ins are absent', async () => {
    const code = `${attempt}export default () => ({
      types: [typeof require, typeof module, typeof exports, typeof __dirname, typeof __filename, typeof Buffer, typeof global],
      call: attempt(() => require('node:fs')),
      viaFunction: attempt(() => Function('return require')()),
    })`;
    expect(await probe(code)).toEqual({
      types: Array(7).fill('undefined'),
      call: blocked,
      viaFunction: blocked,
    });
  });

  test('process, process.env and process.exit are unreachable; the worker survives', async () => {
    const code = `${attempt}export default () => ({
      type: typeof process,
      env: attempt(() => process.env.HOME),
      exit: attempt(() => process.exit(1)),
      viaGlobal: attempt(() => globalThis.process.exit(1)),
      viaFunction: attempt(() => Function('return process')().exit(1)),
    })`;
    expect(await probe(code)).toEqual({
      type: 'undefined',
      env: blocked,
      exit: blocked,
      viaGlobal: blocked,
      viaFunction: blocked,
    });
    await expectHealthy();
  });

  test('dynamic import() is rejected, also when smuggled through eval or Function', async () => {
    const direct = await run(
      "export default async () => (await import('node:fs')).readFileSync('/etc/passwd', 'utf8')",
    );
    expect(direct.ok).toBe(false);
    expect(!direct.ok && direct.error.message).toMatch(/imports are not available in the sandbox at 1:35/);
    const code = `export default async () => {
      const results = [];
      for (const make of [() => (0, eval)("imp" + "ort('node:fs')"), () => Function("return imp" + "ort('node:fs')")()]) {
        try { await make(); results.push('imported'); } catch (e) { results.push(e.name + ': ' + e.message); }
      }
      return results;
    }`;
    const results = (await probe(code)) as string[];
    expect(results).toHaveLength(2);
    for (const line of results) expect(line).toMatch(/^SyntaxError: Possible import expression rejected/);
  });

  test('static imports are rejected before anything runs', async () => {
    const result = await run(
      "import fs from 'fs';\nimport { exec } from 'node:child_process';\nexport default () => fs;",
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toEqual({
      kind: 'user_error',
      message: 'user code must be self-contained: imports are not available in the sandbox at 1:1',
    });
  });

  test('the worker’s own globals are not visible', async () => {
    const names = [
      'postMessage',
      'parentPort',
      'self',
      'onmessage',
      'close',
      'importScripts',
      'workerData',
      'setTimeout',
      'setInterval',
      'setImmediate',
      'queueMicrotask',
      'structuredClone',
      'performance',
      'MessageChannel',
      'BroadcastChannel',
      'Worker',
      'crypto',
      'getStackString',
      'lockdown',
      'Compartment',
      'WeakRef',
      'FinalizationRegistry',
      'Intl',
      'Temporal',
      'gc',
    ];
    const code = `export default (names) => names.filter((name) => name in globalThis || typeof globalThis[name] !== 'undefined')`;
    expect(await probe(code, names)).toEqual([]);
  });

  test('the global object holds exactly the expected names, all frozen', async () => {
    const code = `export default () => ({
      names: Reflect.ownKeys(globalThis).map(String).sort(),
      unfrozen: Reflect.ownKeys(globalThis).filter((key) => {
        const value = globalThis[key];
        if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
        return !Object.isFrozen(value) || (typeof value === 'function' && value.prototype && !Object.isFrozen(value.prototype));
      }).map(String),
    })`;
    const { names, unfrozen } = (await probe(code)) as { names: string[]; unfrozen: string[] };
    expect(unfrozen).toEqual([]);
    const standard = [
      'AggregateError',
      'Array',
      'ArrayBuffer',
      'BigInt',
      'BigInt64Array',
      'BigUint64Array',
      'Boolean',
      'DataView',
      'Date',
      'Error',
      'EvalError',
      'Float16Array',
      'Float32Array',
      'Float64Array',
      'Function',
      'Infinity',
      'Int16Array',
      'Int32Array',
      'Int8Array',
      'Iterator',
      'JSON',
      'Map',
      'Math',
      'NaN',
      'Number',
      'Object',
      'Promise',
      'Proxy',
      'RangeError',
      'ReferenceError',
      'Reflect',
      'RegExp',
      'Set',
      'String',
      'Symbol',
      'Symbol(Symbol.unscopables)',
      'SyntaxError',
      'TextDecoder',
      'TextEncoder',
      'TypeError',
      'URIError',
      'Uint16Array',
      'Uint32Array',
      'Uint8Array',
      'Uint8ClampedArray',
      'WeakMap',
      'WeakSet',
      'console',
      'decodeURI',
      'decodeURIComponent',
      'encodeURI',
      'encodeURIComponent',
      'escape',
      'eval',
      'globalThis',
      'harden',
      'isFinite',
      'isNaN',
      'parseFloat',
      'parseInt',
      'undefined',
      'unescape',
    ];
    // Float16Array only where the engine has it.
    expect(names).toEqual(standard.filter((name) => name !== 'Float16Array' || names.includes(name)));
    // The globals a compiled module binds as constants are all there: a missing one would read
    // as undefined where a free reference throws a ReferenceError.
    expect(LEXICAL_GLOBALS.filter((name) => !names.includes(name))).toEqual([]);
  });

  test('the Function constructor via ({}).constructor.constructor is dead', async () => {
    const code = `${attempt}export default () => ({
      ctor: attempt(() => ({}).constructor.constructor('return process')()),
      arrayCtor: attempt(() => [].map.constructor('return this')()),
      protoCtor: attempt(() => Object.getPrototypeOf(() => {}).constructor('return this')()),
    })`;
    expect(await probe(code)).toEqual({
      ctor: 'threw TypeError',
      arrayCtor: 'threw TypeError',
      protoCtor: 'threw TypeError',
    });
  });

  test('Function, indirect eval and direct eval only reach the compartment’s own global', async () => {
    const code = `${attempt}export default () => {
      const viaFunction = Function('return this')();
      const viaEval = (0, eval)('this');
      return {
        functionThis: viaFunction === undefined ? 'undefined' : viaFunction === globalThis ? 'compartment global' : 'other',
        evalThis: viaEval === globalThis ? 'compartment global' : 'other',
        evalProcess: attempt(() => (0, eval)('process')),
        evalPostMessage: attempt(() => (0, eval)('postMessage')),
        functionSetTimeout: attempt(() => Function('return setTimeout')()),
      };
    }`;
    expect(await probe(code)).toEqual({
      functionThis: 'undefined',
      evalThis: 'compartment global',
      evalProcess: blocked,
      evalPostMessage: blocked,
      functionSetTimeout: blocked,
    });
    // A direct eval would see the module scope; SES refuses it outright.
    const direct = await run("export default () => eval('typeof process')");
    expect(!direct.ok && direct.error.message).toMatch(/direct eval expression rejected/);
  });

  test('AsyncFunction, GeneratorFunction and AsyncGeneratorFunction constructors are dead', async () => {
    const code = `${attempt}export default () => ({
      async: attempt(() => (async () => {}).constructor('return process')),
      generator: attempt(() => (function* () {}).constructor('return process')),
      asyncGenerator: attempt(() => (async function* () {}).constructor('return process')),
      viaPrototype: attempt(() => Object.getPrototypeOf(async function () {}).constructor('return 1')),
    })`;
    expect(await probe(code)).toEqual({
      async: 'threw TypeError',
      generator: 'threw TypeError',
      asyncGenerator: 'threw TypeError',
      viaPrototype: 'threw TypeError',
    });
  });

  test('endowments (console, Date, Math) do not lead to the host Function or to host objects', async () => {
    const code = `${attempt}export default () => ({
      log: attempt(() => console.log.constructor('return process')()),
      date: attempt(() => Date.constructor('return process')()),
      now: attempt(() => Date.now.constructor('return this')()),
      random: attempt(() => Math.random.constructor('return this')()),
      protoChain: attempt(() => console.__proto__.constructor.constructor('return this')()),
      dateProto: attempt(() => Date.__proto__.constructor('return this')()),
      consoleProto: Object.getPrototypeOf(console) === Object.prototype,
      mathProto: Object.getPrototypeOf(Math) === Object.prototype,
      bound: attempt(() => Reflect.apply(console.log.constructor, null, ['return 1'])),
    })`;
    expect(await probe(code)).toEqual({
      log: 'threw TypeError',
      date: 'threw TypeError',
      now: 'threw TypeError',
      random: 'threw TypeError',
      protoChain: 'threw TypeError',
      dateProto: 'threw TypeError',
      consoleProto: true,
      mathProto: true,
      bound: 'threw TypeError',
    });
  });

  test('endowments cannot be modified, and the next task gets pristine ones', async () => {
    const code = `${attempt}export default () => ({
      log: attempt(() => { console.log = () => 1; }),
      random: attempt(() => { Math.random = () => 4; }),
      now: attempt(() => { Date.now = () => 0; }),
      defineOnDate: attempt(() => Object.defineProperty(Date, 'x', { value: 1 })),
      protoOfConsole: attempt(() => Object.setPrototypeOf(console, null)),
    })`;
    expect(await probe(code)).toEqual({
      log: 'threw TypeError',
      random: 'threw TypeError',
      now: 'threw TypeError',
      defineOnDate: 'threw TypeError',
      protoOfConsole: 'threw TypeError',
    });
    const first = await probe('export default () => [Math.random(), Date.now()]');
    expect(await probe('export default () => [Math.random(), Date.now()]')).toEqual(first);
  });

  test('Error.prepareStackTrace and V8 CallSites (getThis, getFunction) yield nothing', async () => {
    const code = `${attempt}export default () => {
      const seen = [];
      Error.prepareStackTrace = (error, frames) => {
        seen.push(frames.map((f) => [typeof f.getThis, typeof f.getFunction]));
        return frames;
      };
      const error = new Error('probe');
      const stack = error.stack;
      const holder = {};
      Error.captureStackTrace(holder);
      Error.stackTraceLimit = Infinity;
      return {
        stack,
        holderStack: holder.stack,
        seen,
        prepare: typeof Error.prepareStackTrace === 'function' ? Error.prepareStackTrace(error, []) : 'none',
        limit: attempt(() => Error.stackTraceLimit),
        rangeError: attempt(() => RangeError.prepareStackTrace),
      };
    }`;
    expect(await probe(code)).toEqual({
      stack: '',
      holderStack: '',
      seen: [],
      prepare: '',
      limit: 'undefined',
      rangeError: 'function',
    });
  });

  test('error stacks do not reveal host paths to user code', async () => {
    const code = `export default () => {
      const stacks = [];
      try { null.x; } catch (e) { stacks.push(e.stack); }
      try { console.log({ toJSON() { throw new Error('inner'); } }); } catch (e) { stacks.push(String(e.stack)); }
      try { JSON.parse('{'); } catch (e) { stacks.push(e.stack); }
      return stacks;
    }`;
    const stacks = (await probe(code)) as string[];
    for (const stack of stacks) expect(stack).not.toMatch(/\/|file:|node:|sandbox|harness/);
  });

  test('prototype pollution throws and is visible neither to the next task nor to the host', async () => {
    const code = `${attempt}export default () => ({
      object: attempt(() => { Object.prototype.polluted = 'yes'; }),
      array: attempt(() => { Array.prototype.push = () => 0; }),
      viaProto: attempt(() => { ({}).__proto__.polluted = 'yes'; }),
      define: attempt(() => Object.defineProperty(Array.prototype, 'evil', { value: 1 })),
      setProto: attempt(() => Object.setPrototypeOf(Object.prototype, { evil: 1 })),
      string: attempt(() => { String.prototype.trim = () => 'evil'; }),
      json: attempt(() => { JSON.stringify = () => '"evil"'; }),
      promise: attempt(() => { Promise.prototype.then = () => 0; }),
      ownOverride: (() => { const o = {}; o.toString = () => 'mine'; return String(o); })(),
    })`;
    expect(await probe(code)).toEqual({
      object: 'threw TypeError',
      array: 'threw TypeError',
      viaProto: 'threw TypeError',
      define: 'threw TypeError',
      setProto: 'threw TypeError',
      string: 'threw TypeError',
      json: 'threw TypeError',
      promise: 'threw TypeError',
      ownOverride: 'mine',
    });
    const next = `export default () => ({
      polluted: ({}).polluted, evil: [].evil, push: [1].push(2), trim: ' a '.trim(), json: JSON.stringify({ a: 1 }),
    })`;
    expect(await probe(next)).toEqual({
      polluted: 'undefined' in {} ? 1 : undefined,
      push: 2,
      trim: 'a',
      json: '{"a":1}',
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.isFrozen(Object.prototype)).toBe(false); // the host realm was never locked down by a task
  });

  test('__proto__ keys in the input or the output pollute nothing, in the task or in the host', async () => {
    const input = JSON.parse('{"__proto__": {"polluted": "in"}, "a": 1}') as JsonValue;
    const code = `export default (x) => ({
      ownKeys: Object.keys(x),
      inherited: ({}).polluted === undefined && x.polluted === undefined,
      back: JSON.parse('{"__proto__": {"polluted": "out"}}'),
    })`;
    const output = (await probe(code, input)) as { ownKeys: string[]; inherited: boolean; back: object };
    expect(output.ownKeys).toEqual(['__proto__', 'a']);
    expect(output.inherited).toBe(true);
    expect(Object.keys(output.back)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(output.back)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('globals and module state set by one task are not visible to the next', async () => {
    const setter = `${attempt}let count = 0;
export default () => ({
  count: ++count,
  assign: attempt(() => { globalThis.leak = 'secret'; }),
  define: attempt(() => Object.defineProperty(globalThis, 'leak2', { value: 1 })),
  seen: typeof leak,
})`;
    const first = await executor.run({
      runtime: 'js',
      code: setter,
      codeCid: 'same-code',
      input: null,
      timeoutMs: 5_000,
      memoryMb: 64,
      seed: 's',
      clock: 0,
    });
    const second = await executor.run({
      runtime: 'js',
      code: setter,
      codeCid: 'same-code',
      input: null,
      timeoutMs: 5_000,
      memoryMb: 64,
      seed: 's',
      clock: 0,
    });
    const expected = { count: 1, assign: 'threw TypeError', define: 'threw TypeError', seen: 'undefined' };
    expect(first.ok && first.output).toEqual(expected);
    expect(second.ok && second.output).toEqual(expected);
    expect(await probe("export default () => [typeof leak, typeof leak2, 'leak' in globalThis]")).toEqual([
      'undefined',
      'undefined',
      false,
    ]);
  });

  test('f.caller, f.arguments and arguments.callee reveal nothing', async () => {
    const code = `${attempt}export default () => {
      function inner() { return inner.caller; }
      function args() { return arguments.callee; }
      let fromGetter = 'not run';
      const spy = { get x() { fromGetter = attempt(() => Object.getOwnPropertyDescriptor(spy, 'x').get.caller); return 1; } };
      console.log(spy);
      return {
        inner: attempt(inner),
        callee: attempt(args),
        logCaller: attempt(() => console.log.caller),
        logArguments: attempt(() => console.log.arguments),
        dateCaller: attempt(() => Date.caller),
        fromGetter,
      };
    }`;
    const found = (await probe(code)) as Record<string, string>;
    for (const value of Object.values(found)) expect(value).toMatch(/^(undefined|threw TypeError)$/);
  });

  test('WebAssembly, SharedArrayBuffer, Atomics and Buffer are absent', async () => {
    const code = `${attempt}export default () => ({
      types: [typeof WebAssembly, typeof SharedArrayBuffer, typeof Atomics, typeof Buffer],
      viaMemory: attempt(() => new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer),
      growable: attempt(() => typeof new ArrayBuffer(8, { maxByteLength: 16 }).resize),
    })`;
    expect(await probe(code)).toEqual({
      types: ['undefined', 'undefined', 'undefined', 'undefined'],
      viaMemory: blocked,
      growable: 'function',
    });
  });

  test('Reflect and Proxy give no way around the freeze or the membrane', async () => {
    const code = `${attempt}export default () => ({
      set: Reflect.set(Object.prototype, 'evil', 1),
      define: Reflect.defineProperty(Array.prototype, 'evil', { value: 1 }),
      setProto: Reflect.setPrototypeOf(Function.prototype, null),
      construct: attempt(() => Reflect.construct(Function.prototype.constructor, ['return this'])),
      proxyGlobal: attempt(() => new Proxy(globalThis, {}).process),
      proxyFunction: attempt(() => new Proxy(console.log, { apply: (t, self, args) => t.constructor })('x')),
      ownKeysOfConsole: Reflect.ownKeys(console).sort(),
      getterOfEndowment: attempt(() => Reflect.getOwnPropertyDescriptor(Math, 'random').value.constructor('return 1')),
    })`;
    expect(await probe(code)).toEqual({
      set: false,
      define: false,
      setProto: false,
      construct: 'threw TypeError',
      proxyGlobal: 'undefined',
      proxyFunction: 'function',
      ownKeysOfConsole: ['debug', 'error', 'info', 'log', 'warn'],
      getterOfEndowment: 'threw TypeError',
    });
    await expectHealthy();
  });

  test('top-level this is undefined and no function can get a sloppy this', async () => {
    const code = `const top = this;
export default function () {
  return { top: typeof top, self: typeof this, call: typeof (function () { return this; })(), fn: typeof Function('return this')() };
}`;
    expect(await probe(code)).toEqual({
      top: 'undefined',
      self: 'undefined',
      call: 'undefined',
      fn: 'undefined',
    });
  });

  test('toJSON and getters in the output run inside the compartment, not in the host', async () => {
    const code = `export default () => ({
      get viaGetter() { return [typeof process, typeof postMessage, typeof require, typeof setTimeout].join(); },
      nested: { toJSON() { return [typeof parentPort, typeof self, String(this === globalThis)]; } },
      caller: { toJSON() { try { return String(arguments.callee.caller); } catch (e) { return e.name; } } },
    })`;
    expect(await probe(code)).toEqual({
      viaGetter: 'undefined,undefined,undefined,undefined',
      nested: ['undefined', 'undefined', 'false'],
      caller: 'TypeError',
    });
    const hostile = await run("export default () => ({ toJSON() { throw new Error('from toJSON'); } })");
    expect(!hostile.ok && hostile.error).toMatchObject({ kind: 'output_invalid' });
  });

  test('a log flood stays bounded and does not exhaust memory', async () => {
    const code = `export default () => {
      const big = 'x'.repeat(10000);
      for (let i = 0; i < 200000; i++) console.log(big, i);
      return 'survived';
    }`;
    const result = await run(code);
    expect(result.ok && result.output).toBe('survived');
    expect(new TextEncoder().encode(result.logs).byteLength).toBeLessThanOrEqual(limits.maxLogBytes);
    expect(result.logs).toMatch(/…\[truncated \d+ bytes\]$/);
  });

  test('RegExp legacy statics do not carry data from one task to the next', async () => {
    expect(
      await probe("export default () => { /secret-(\\d+)/.exec('secret-4242'); return typeof RegExp.$1; }"),
    ).toBe('undefined');
    expect(
      await probe('export default () => [typeof RegExp.$1, typeof RegExp.lastMatch, typeof RegExp.input]'),
    ).toEqual(['undefined', 'undefined', 'undefined']);
  });

  test('there is no real clock to read (no timing side channel)', async () => {
    const code = `${attempt}export default () => {
      const before = Date.now();
      let x = 0;
      for (let i = 0; i < 1e6; i++) x += i;
      return {
        same: Date.now() === before && new Date().getTime() === before,
        shared: attempt(() => new Date(0).constructor.now()),
        sharedNew: attempt(() => new (new Date(0).constructor)()),
        performance: typeof performance,
        x: x > 0,
      };
    }`;
    expect(await probe(code)).toEqual({
      same: true,
      shared: 'threw TypeError',
      sharedNew: 'threw TypeError',
      performance: 'undefined',
      x: true,
    });
  });

  test('nested compartments, lockdown and harden give nothing extra', async () => {
    const code = `${attempt}export default () => ({
      compartment: typeof Compartment,
      lockdown: typeof lockdown,
      harden: attempt(() => harden({ a: 1 }).a),
      hardenCtor: attempt(() => harden.constructor('return this')()),
    })`;
    expect(await probe(code)).toEqual({
      compartment: 'undefined',
      lockdown: 'undefined',
      harden: 1,
      hardenCtor: 'threw TypeError',
    });
  });

  test('work started from a thrown value’s getters is charged to its task, not the next one', async () => {
    const code = `export default () => {
      throw { get message() { const spin = () => Promise.resolve().then(spin); spin(); return 'm'; } };
    }`;
    const result = await run(code, null, 500);
    // The endless promise chain ends this task: by its time limit, or, when a busy machine lets the
    // chain outgrow the garbage collector first, by its memory limit. Either way the next task is clean.
    expect(!result.ok && ['timeout', 'memory_limit'].includes(result.error.kind)).toBe(true);
    await expectHealthy();
  });

  test('logs of one task never show up in the next', async () => {
    const first = await run("export default () => { console.log('secret of task A'); return 1; }");
    expect(first.logs).toBe('secret of task A\n');
    const second = await run("export default () => { console.log('task B'); return 2; }");
    expect(second.logs).toBe('task B\n');
  });

  test('an attempt to kill the worker from inside only ends the task', async () => {
    const code = `export default () => {
      const deep = (n) => (n === 0 ? 0 : 1 + deep(n - 1));
      try { deep(1e7); } catch {}
      Promise.reject(new Error('unhandled'));
      throw new Error('last');
    }`;
    const result = await run(code);
    expect(!result.ok && result.error.kind).toBe('user_error');
    await expectHealthy();
  });
});
