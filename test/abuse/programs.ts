import type { WasmFixtureName } from '../../browser-node/src/core/executor-tests/context.ts';
import type { JsonValue } from '../../protocol/job.ts';

/**
 * The abuse suite's programs: hostile tasks of every runtime, each with the outcome it must have,
 * and one honest probe per runtime that looks for what a hostile task may try to leave behind
 * (globals, prototype patches, Python hooks, builtins and modules, files). Plain data with no
 * Node import, so a browser host can run the same list.
 *
 * Every canary a hostile program plants carries the word `abuse_canary` (or `ABUSE_CANARY`), which
 * is what the probes look for.
 */

/** A WebAssembly module, by name among the built test programs (`headless/wasm-fixtures/`). */
export interface WasmCode {
  fixture: WasmFixtureName;
  /** Only the first bytes of the module (a broken module that still starts with `\0asm`). */
  truncateTo?: number;
}

export type Allocation =
  | 'heap'
  | 'string'
  | 'typed-array'
  | 'array-buffer'
  | 'wasm-grow'
  | 'python'
  | 'many-workers';

/** What came back for one task, as the suite sees it. */
export interface AbuseResult {
  state: string;
  output?: unknown;
  error?: { kind: string; message: string };
  logs?: string;
}

export interface HostileProgram {
  name: string;
  runtime: 'js' | 'python' | 'wasm';
  /** JS or Python source; for wasm, the module to upload (a wasm job runs by `codeCid`). */
  source: string | WasmCode;
  inputs: JsonValue[];
  memoryMb?: number;
  timeoutMs?: number;
  expect: {
    state: 'failed' | 'succeeded';
    /** The error kind of every task (when `state` is failed). */
    kind?: 'memory_limit' | 'timeout' | 'output_invalid' | 'user_error';
    /** More that must hold of each task's result; true when it does. */
    check?: (result: AbuseResult) => boolean;
  };
  /** Set on memory bombs: which kind of allocation it makes. */
  allocation?: Allocation;
}

export interface Probe {
  name: string;
  runtime: 'js' | 'python' | 'wasm';
  source: string | WasmCode;
  input: JsonValue;
  /** The probe's output when nothing leaked. */
  expected: JsonValue;
}

const py = (...lines: string[]) => `${lines.join('\n')}\n`;

/** Limits small enough that the whole suite stays quick. */
const MEMORY = { memoryMb: 64, timeoutMs: 20_000 } as const;
const LOOP = { timeoutMs: 500 } as const;
const QUICK = { timeoutMs: 5_000 } as const;

const failed = (kind: HostileProgram['expect']['kind']) => ({ state: 'failed' as const, kind });
const messageMatches = (pattern: RegExp) => (r: AbuseResult) => pattern.test(r.error?.message ?? '');

const js: HostileProgram[] = [
  // Memory: one program per kind of allocation.
  {
    name: 'js-heap-objects',
    runtime: 'js',
    source: 'export default () => { const a = []; for (;;) a.push({ x: Math.random(), y: [1, 2, 3] }); }',
    inputs: [null],
    ...MEMORY,
    expect: failed('memory_limit'),
    allocation: 'heap',
  },
  {
    name: 'js-strings',
    runtime: 'js',
    source: "export default () => { const a = []; for (let i = 0; ; i++) a.push('x'.repeat(1 << 20) + i); }",
    inputs: [null],
    ...MEMORY,
    expect: failed('memory_limit'),
    allocation: 'string',
  },
  {
    // Measured in the issue: 16 GiB of typed array, filled.
    name: 'js-float64array-2e31-fill',
    runtime: 'js',
    source: 'export default () => new Float64Array(2 ** 31).fill(1).length',
    inputs: [null],
    ...MEMORY,
    expect: failed('memory_limit'),
    allocation: 'typed-array',
  },
  {
    name: 'js-array-buffers',
    runtime: 'js',
    source:
      'export default () => { const b = []; for (;;) { const buf = new ArrayBuffer(1 << 24); new Uint8Array(buf).fill(7); b.push(buf); } }',
    inputs: [null],
    ...MEMORY,
    expect: failed('memory_limit'),
    allocation: 'array-buffer',
  },
  {
    // Every slot of the node fills its memory at the same moment.
    name: 'js-many-workers-at-once',
    runtime: 'js',
    source: 'export default () => { const b = []; for (;;) b.push(new Uint8Array(1 << 22).fill(1)); }',
    inputs: [1, 2, 3, 4],
    ...MEMORY,
    expect: failed('memory_limit'),
    allocation: 'many-workers',
  },
  {
    // An output so large that serializing it exhausts the heap.
    name: 'js-output-serialization-oom',
    runtime: 'js',
    source: "export default () => Array.from({ length: 3e6 }, (_, i) => ({ i, s: 'x'.repeat(20) }))",
    inputs: [null],
    ...MEMORY,
    expect: failed('memory_limit'),
  },
  // Output.
  {
    name: 'js-output-too-large',
    runtime: 'js',
    source: "export default () => 'x'.repeat(1024 * 1024)",
    inputs: [null],
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'js-tojson-undefined',
    runtime: 'js',
    source: 'export default () => ({ toJSON: () => undefined })',
    inputs: [null],
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'js-tojson-throws',
    runtime: 'js',
    source: "export default () => ({ toJSON() { throw new Error('from toJSON'); } })",
    inputs: [null],
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'js-getter-throws',
    runtime: 'js',
    source: "export default () => ({ get boom() { throw new Error('from a getter'); } })",
    inputs: [null],
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'js-proxy-output-traps-throw',
    runtime: 'js',
    source:
      "export default () => new Proxy({}, { ownKeys() { throw new Error('trap'); }, get() { throw new Error('trap'); } })",
    inputs: [null],
    ...QUICK,
    expect: { state: 'failed' },
  },
  {
    name: 'js-cyclic-output',
    runtime: 'js',
    source: 'export default () => { const a = {}; a.self = a; return a; }',
    inputs: [null],
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'js-deep-output',
    runtime: 'js',
    source: 'export default () => { let v = 0; for (let i = 0; i < 100000; i++) v = [v]; return v; }',
    inputs: [null],
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'js-bigint-output',
    runtime: 'js',
    source: 'export default () => ({ n: 10n ** 30n })',
    inputs: [null],
    ...QUICK,
    expect: failed('output_invalid'),
  },
  // Time.
  {
    name: 'js-infinite-loop',
    runtime: 'js',
    source: 'export default () => { for (;;) {} }',
    inputs: [null],
    ...LOOP,
    expect: failed('timeout'),
  },
  {
    name: 'js-never-settles',
    runtime: 'js',
    source: 'export default () => new Promise(() => {})',
    inputs: [null],
    ...LOOP,
    expect: failed('timeout'),
  },
  {
    name: 'js-microtask-spin',
    runtime: 'js',
    source: 'export default async () => { for (;;) await null; }',
    inputs: [null],
    ...LOOP,
    expect: failed('timeout'),
  },
  {
    name: 'js-catastrophic-regexp',
    runtime: 'js',
    source: "export default () => /^(a+)+$/.test('a'.repeat(40) + 'b')",
    inputs: [null],
    ...LOOP,
    expect: failed('timeout'),
  },
  {
    name: 'js-loop-in-thrown-getter',
    runtime: 'js',
    source: 'export default () => { throw { get message() { for (;;) {} }, get stack() { for (;;) {} } }; }',
    inputs: [null],
    ...LOOP,
    expect: { state: 'failed' },
  },
  {
    name: 'js-stack-overflow',
    runtime: 'js',
    source: 'const f = (n) => f(n + 1) + 1;\nexport default () => f(0)',
    inputs: [null],
    ...QUICK,
    expect: failed('user_error'),
  },
  // Escapes and leftovers.
  {
    name: 'js-process-exit',
    runtime: 'js',
    source: 'export default () => { process.exit(1); }',
    inputs: [null],
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'js-function-constructor',
    runtime: 'js',
    source:
      "export default () => { const F = ({}).constructor.constructor; const g = F('return this')(); return [typeof g.process, typeof g.require, typeof g.postMessage]; }",
    inputs: [null],
    ...QUICK,
    // SES leaves Function.prototype.constructor dead: the task fails before reaching any global.
    expect: { ...failed('user_error'), check: messageMatches(/not a valid constructor/) },
  },
  {
    name: 'js-prepare-stack-trace',
    runtime: 'js',
    source:
      "export default () => { try { Error.prepareStackTrace = (e, sites) => sites.map((s) => typeof s.getThis?.()); } catch (e) { return 'refused: ' + e.name; } return String(new Error('x').stack); }",
    inputs: [null],
    ...QUICK,
    expect: {
      state: 'succeeded',
      check: (r) => typeof r.output === 'string' && !/object|function/.test(r.output),
    },
  },
  {
    // Plants canaries everywhere a later task might see them; each write is allowed to fail.
    name: 'js-prototype-and-global-canaries',
    runtime: 'js',
    source: `export default () => {
      const tries = {
        global: () => { globalThis.abuse_canary = 'leak'; },
        objectProto: () => { Object.prototype.abuse_canary = 'leak'; },
        arrayProto: () => { Array.prototype.abuse_canary = 'leak'; },
        arrayPush: () => { Array.prototype.push = () => 0; },
        jsonStringify: () => { JSON.stringify = () => '"abuse_canary"'; },
        mathRandom: () => { Math.random = () => 0.5; },
        consoleLog: () => { console.log = () => {}; },
        defineOnGlobal: () => { Object.defineProperty(globalThis, 'abuse_canary_2', { value: 1 }); },
        setProto: () => { Object.setPrototypeOf(Object.prototype, { abuse_canary: 1 }); },
        dateNow: () => { Date.now = () => 0; },
      };
      const planted = [];
      for (const [name, attempt] of Object.entries(tries)) {
        try { attempt(); planted.push(name); } catch {}
      }
      return planted;
    }`,
    inputs: [null],
    ...QUICK,
    expect: { state: 'succeeded' },
  },
  {
    name: 'js-log-flood',
    runtime: 'js',
    source:
      "export default () => { const big = 'x'.repeat(10000); for (let i = 0; i < 100000; i++) console.log(big, i); return 'survived'; }",
    inputs: [null],
    ...QUICK,
    expect: {
      state: 'succeeded',
      check: (r) => r.output === 'survived' && new TextEncoder().encode(r.logs ?? '').byteLength <= 16 * 1024,
    },
  },
  {
    name: 'js-static-import',
    runtime: 'js',
    source: "import fs from 'fs';\nexport default () => fs.readFileSync('/etc/passwd', 'utf8')",
    inputs: [null],
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'js-dynamic-import',
    runtime: 'js',
    source: "export default async () => (await import('node:fs')).readFileSync('/etc/passwd', 'utf8')",
    inputs: [null],
    ...QUICK,
    expect: failed('user_error'),
  },
];

/** Reaches for a module the import blocker refuses, through the builtin importer. */
const rebuilt = (name: string) =>
  `m.BuiltinImporter.create_module(m.ModuleSpec(${JSON.stringify(name)}, m.BuiltinImporter))`;

const python: HostileProgram[] = [
  {
    name: 'py-bytearrays',
    runtime: 'python',
    source: py('def main(x):', '    a = []', '    while True:', '        a.append(bytearray(1 << 20))'),
    inputs: [null],
    ...MEMORY,
    expect: failed('memory_limit'),
    allocation: 'python',
  },
  {
    name: 'py-int-lists',
    runtime: 'python',
    source: py('def main(x):', '    a = []', '    while True:', '        a.append(list(range(100000)))'),
    inputs: [null],
    ...MEMORY,
    expect: failed('memory_limit'),
    allocation: 'python',
  },
  {
    name: 'py-infinite-loop',
    runtime: 'python',
    source: py('def main(x):', '    while True:', '        pass'),
    inputs: [null],
    ...LOOP,
    expect: failed('timeout'),
  },
  {
    name: 'py-recursion',
    runtime: 'python',
    source: py('def f(n):', '    return f(n + 1) + 1', 'def main(x):', '    return f(0)'),
    inputs: [null],
    ...QUICK,
    expect: { ...failed('user_error'), check: messageMatches(/RecursionError/) },
  },
  {
    name: 'py-recursion-limit-raised',
    runtime: 'python',
    source: py(
      'import sys',
      'def f(n):',
      '    return f(n + 1) + 1',
      'def main(x):',
      '    sys.setrecursionlimit(10 ** 6)',
      '    return f(0)',
    ),
    inputs: [null],
    ...QUICK,
    expect: { state: 'failed' },
  },
  {
    name: 'py-output-too-large',
    runtime: 'python',
    source: py('def main(x):', "    return 'a' * (1024 * 1024 + 1)"),
    inputs: [null],
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'py-output-not-json',
    runtime: 'python',
    source: py('def main(x):', '    return [object(), {1, 2}]'),
    inputs: [null],
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'py-output-nan',
    runtime: 'python',
    source: py('def main(x):', "    return float('nan')"),
    inputs: [null],
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'py-import-js',
    runtime: 'python',
    source: py('import js', 'def main(x):', '    return str(js.globalThis)'),
    inputs: [null],
    ...QUICK,
    expect: { ...failed('user_error'), check: messageMatches(/not available/) },
  },
  {
    // `_ctypes` is out of the builtin table: `import ctypes` fails before any JS is reached.
    name: 'py-rebuilt-ctypes-run-script',
    runtime: 'python',
    source: py(
      'import sys, importlib.machinery as m',
      'def main(x):',
      "    for name in ('ctypes', '_ctypes'):",
      '        sys.modules.pop(name, None)',
      '    sys.meta_path[:] = [m.BuiltinImporter, m.FrozenImporter, m.PathFinder]',
      '    import ctypes',
      '    run = ctypes.CDLL(None).emscripten_run_script_string',
      '    run.restype = ctypes.c_char_p',
      "    return {'reached': run(b'String(typeof process)').decode()}",
    ),
    inputs: [null],
    ...QUICK,
    expect: { ...failed('user_error'), check: (r) => /ctypes/.test(r.error?.message ?? '') },
  },
  {
    // The importer builds nothing: `_testcapi` is out of the builtin table.
    name: 'py-rebuilt-testcapi',
    runtime: 'python',
    source: py(
      'import importlib.machinery as m',
      'def main(x):',
      '    try:',
      `        mod = ${rebuilt('_testcapi')}`,
      "        return {'testcapi': None if mod is None else sorted(n for n in dir(mod) if not n.startswith('_'))[:3]}",
      '    except BaseException as e:',
      "        return {'refused': type(e).__name__}",
    ),
    inputs: [null],
    ...QUICK,
    expect: { state: 'succeeded', check: (r) => JSON.stringify(r.output) === '{"testcapi":null}' },
  },
  {
    // gc.get_objects would hand the task the harness's own objects: gc cannot be rebuilt.
    name: 'py-rebuilt-gc',
    runtime: 'python',
    source: py(
      'import importlib.machinery as m',
      'def main(x):',
      '    try:',
      `        gc = ${rebuilt('gc')}`,
      '        objs = gc.get_objects()',
      "        return {'objects': len(objs) > 0}",
      '    except BaseException as e:',
      "        return {'refused': type(e).__name__}",
    ),
    inputs: [null],
    ...QUICK,
    expect: { state: 'succeeded', check: (r) => JSON.stringify(r.output) === '{"refused":"AttributeError"}' },
  },
  {
    // Walks out of the task into the harness's frames: below main there is only the frame that
    // calls steps, and nothing under it.
    name: 'py-getframe-walk',
    runtime: 'python',
    source: py(
      'import sys',
      'def main(x):',
      '    names = []',
      '    try:',
      '        f = sys._getframe(0)',
      '        while f is not None:',
      '            names.append(f.f_code.co_name)',
      '            f = f.f_back',
      '    except BaseException as e:',
      "        return {'refused': type(e).__name__, 'frames': len(names)}",
      "    return {'frames': len(names), 'names': names[:8]}",
    ),
    inputs: [null],
    ...QUICK,
    expect: {
      state: 'succeeded',
      check: (r) => JSON.stringify(r.output) === '{"frames":2,"names":["main","call"]}',
    },
  },
  {
    // Patches the harness's globals through its frames, hoping to change the next task's output:
    // sys._getframe refuses the frame below the task.
    name: 'py-getframe-patch-harness',
    runtime: 'python',
    source: py(
      'import sys',
      'def main(x):',
      '    patched = 0',
      '    try:',
      '        f = sys._getframe(1)',
      '        while f is not None:',
      '            g = f.f_globals',
      "            if g.get('__name__') != '__main__':",
      "                g['abuse_canary'] = 'leak'",
      '                patched += 1',
      '            f = f.f_back',
      '    except BaseException as e:',
      "        return {'refused': type(e).__name__, 'patched': patched}",
      "    return {'patched': patched}",
    ),
    inputs: [null],
    ...QUICK,
    expect: {
      state: 'succeeded',
      check: (r) => JSON.stringify(r.output) === '{"refused":"RuntimeError","patched":0}',
    },
  },
  {
    // `_pyodide_core` cannot be rebuilt: there is no to_js to call.
    name: 'py-rebuilt-pyodide-core-to-js',
    runtime: 'python',
    source: py(
      'import importlib.machinery as m',
      'def main(x):',
      `    core = ${rebuilt('_pyodide_core')}`,
      '    arr = core.to_js([1])',
      '    ctor = arr.constructor.constructor',
      "    if ctor is None: raise RuntimeError('no Function')",
      "    return 'reached'",
    ),
    inputs: [null],
    ...QUICK,
    expect: { ...failed('user_error'), check: messageMatches(/AttributeError/) },
  },
  {
    name: 'py-settrace-setprofile',
    runtime: 'python',
    source: py(
      'import sys, threading',
      'def hook(frame, event, arg):',
      '    return hook',
      'def main(x):',
      '    sys.settrace(hook)',
      '    sys.setprofile(hook)',
      '    threading.settrace(hook)',
      '    threading.setprofile(hook)',
      "    return 'hooked'",
    ),
    inputs: [null],
    ...QUICK,
    expect: { state: 'succeeded' },
  },
  {
    name: 'py-builtins-patch',
    runtime: 'python',
    source: py(
      'import builtins',
      'def main(x):',
      '    builtins.len = lambda v: 42',
      "    builtins.abuse_canary = 'leak'",
      '    builtins.print = lambda *a, **k: None',
      '    builtins.sorted = lambda v, **k: []',
      "    return 'patched'",
    ),
    inputs: [null],
    ...QUICK,
    expect: { state: 'succeeded' },
  },
  {
    name: 'py-sys-modules-tamper',
    runtime: 'python',
    source: py(
      'import sys, types, math, json',
      'def main(x):',
      "    fake = types.ModuleType('json')",
      '    fake.dumps = lambda *a, **k: \'"abuse_canary"\'',
      "    sys.modules['json'] = fake",
      "    sys.modules['abuse_canary'] = fake",
      '    math.pi = 3',
      '    json.dumps = lambda *a, **k: \'"abuse_canary"\'',
      "    sys.modules.pop('os', None)",
      "    return 'tampered'",
    ),
    inputs: [null],
    ...QUICK,
    expect: { state: 'succeeded' },
  },
  {
    name: 'py-atexit-codecs-audit',
    runtime: 'python',
    source: py(
      'import atexit, codecs, sys',
      'def search(name):',
      "    if name == 'abuse_canary':",
      "        return codecs.lookup('utf-8')",
      '    return None',
      'def main(x):',
      "    atexit.register(lambda: print('abuse_canary'))",
      '    codecs.register(search)',
      '    sys.addaudithook(lambda event, args: None)',
      "    return codecs.lookup('abuse_canary').name",
    ),
    inputs: [null],
    ...QUICK,
    expect: { state: 'succeeded' },
  },
  {
    name: 'py-files-and-environ',
    runtime: 'python',
    source: py(
      'import os',
      'def main(x):',
      '    written = []',
      "    for path in ('/tmp/abuse_canary', os.path.expanduser('~/abuse_canary'), 'abuse_canary'):",
      '        try:',
      "            with open(path, 'w') as f:",
      "                f.write('leak')",
      '            written.append(path)',
      '        except OSError:',
      '            pass',
      "    os.environ['ABUSE_CANARY'] = 'leak'",
      "    os.putenv('ABUSE_CANARY_PUT', 'leak')",
      '    return written',
    ),
    inputs: [null],
    ...QUICK,
    expect: { state: 'succeeded' },
  },
  {
    name: 'py-class-and-code-patch',
    runtime: 'python',
    source: py(
      'import statistics, fractions',
      'def fake(data):',
      '    return -1',
      'def main(x):',
      '    statistics.mean.__code__ = fake.__code__',
      "    fractions.Fraction.abuse_canary = 'leak'",
      '    return statistics.mean([1, 2])',
    ),
    inputs: [null],
    ...QUICK,
    // The patch works within the task (mean returns -1); the probe sees neither.
    expect: { state: 'succeeded', check: (r) => r.output === -1 },
  },
  {
    name: 'py-threads',
    runtime: 'python',
    source: py(
      'import threading',
      'def main(x):',
      '    t = threading.Thread(target=lambda: None)',
      '    t.start()',
      "    return 'started'",
    ),
    inputs: [null],
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'py-read-host-file',
    runtime: 'python',
    source: py('def main(x):', "    return open('/etc/hostname').read()"),
    inputs: [null],
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'py-log-flood',
    runtime: 'python',
    source: py('def main(x):', "    for i in range(20000): print('spam' * 50, i)", "    return 'survived'"),
    inputs: [null],
    ...QUICK,
    expect: {
      state: 'succeeded',
      check: (r) => r.output === 'survived' && new TextEncoder().encode(r.logs ?? '').byteLength <= 16 * 1024,
    },
  },
];

const attack = (name: string, extra: Record<string, JsonValue> = {}): JsonValue[] => [
  { attack: name, ...extra },
];

const wasm: HostileProgram[] = [
  {
    name: 'wasm-memory-grow',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('grow'),
    ...MEMORY,
    expect: failed('memory_limit'),
    allocation: 'wasm-grow',
  },
  {
    name: 'wasm-huge-initial-memory',
    runtime: 'wasm',
    source: { fixture: 'hugeInitialMemory' },
    inputs: attack('args'),
    ...MEMORY,
    expect: failed('memory_limit'),
  },
  {
    name: 'wasm-big-maximum-memory-grow',
    runtime: 'wasm',
    source: { fixture: 'bigMaximumMemory' },
    inputs: attack('grow'),
    ...MEMORY,
    expect: failed('memory_limit'),
    allocation: 'wasm-grow',
  },
  {
    name: 'wasm-infinite-loop',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('loop'),
    ...LOOP,
    expect: failed('timeout'),
  },
  {
    name: 'wasm-recursion',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('recurse'),
    ...QUICK,
    expect: { ...failed('user_error'), check: messageMatches(/^stack overflow/) },
  },
  {
    name: 'wasm-c-stack-overflow',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('framed'),
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'wasm-trap',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('trap'),
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'wasm-out-of-bounds',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('oob'),
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'wasm-stdout-flood',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('flood'),
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'wasm-not-json',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('not-json'),
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'wasm-bad-utf8',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('bad-utf8'),
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'wasm-deep-json',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('deep-json'),
    ...QUICK,
    expect: failed('output_invalid'),
  },
  {
    name: 'wasm-exit-code',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('exit'),
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'wasm-filesystem',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('fs'),
    ...QUICK,
    expect: {
      state: 'succeeded',
      check: (r) =>
        typeof r.output === 'object' &&
        r.output !== null &&
        Object.values(r.output).every(
          (v) => v === 'Capabilities insufficient' || v === 'Bad file descriptor',
        ),
    },
  },
  {
    // Leaves secrets in static and heap memory for the wasm probe to look for.
    name: 'wasm-remember',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('remember'),
    ...QUICK,
    expect: { state: 'succeeded' },
  },
  {
    name: 'wasm-socket-import',
    runtime: 'wasm',
    source: { fixture: 'socketImport' },
    inputs: [null],
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'wasm-host-import',
    runtime: 'wasm',
    source: { fixture: 'hostImport' },
    inputs: [{ port: 9 }],
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'wasm-reactor',
    runtime: 'wasm',
    source: { fixture: 'reactor' },
    inputs: [null],
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'wasm-truncated-module',
    runtime: 'wasm',
    source: { fixture: 'abuse', truncateTo: 1000 },
    inputs: [null],
    ...QUICK,
    expect: failed('user_error'),
  },
  {
    name: 'wasm-log-flood',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    inputs: attack('log-flood'),
    ...QUICK,
    expect: { state: 'succeeded', check: (r) => r.output === 'done' },
  },
];

/** Every hostile program, JS first, then Python, then WebAssembly. */
export const HOSTILE: HostileProgram[] = [...js, ...python, ...wasm];

/**
 * One honest task per runtime that also reports every canary it finds: the list `leaks` must be
 * empty. The input is 21 and `double` must be 42.
 */
export const PROBES: Probe[] = [
  {
    name: 'probe-js',
    runtime: 'js',
    source: `export default (x) => {
      const leaks = [];
      const names = (o) => Reflect.ownKeys(o).map(String);
      for (const n of names(globalThis)) if (/abuse_canary/i.test(n)) leaks.push('global ' + n);
      for (const [label, o] of [['Object.prototype', Object.prototype], ['Array.prototype', Array.prototype]])
        for (const n of names(o)) if (/abuse_canary/i.test(n)) leaks.push(label + '.' + n);
      if ({}.abuse_canary !== undefined) leaks.push('inherited abuse_canary');
      if (Object.getPrototypeOf(Object.prototype) !== null) leaks.push('Object.prototype has a prototype');
      const a = []; a.push(1, 2);
      if (a.length !== 2) leaks.push('Array.prototype.push');
      if (JSON.stringify({ a: [1] }) !== '{"a":[1]}') leaks.push('JSON.stringify');
      if (Date.now() === 0) leaks.push('Date.now');
      if (typeof console.log !== 'function') leaks.push('console.log');
      return { double: x * 2, leaks };
    }`,
    input: 21,
    expected: { double: 42, leaks: [] },
  },
  {
    name: 'probe-python',
    runtime: 'python',
    source: py(
      'import builtins, sys, os, math, json, codecs, statistics, collections, fractions, threading',
      'def main(x):',
      '    leaks = []',
      "    if any('abuse_canary' in n for n in dir(builtins)): leaks.append('builtins')",
      "    if len([1, 2]) != 2: leaks.append('len')",
      "    if sorted([2, 1]) != [1, 2]: leaks.append('sorted')",
      "    if sys.gettrace() is not None: leaks.append('settrace')",
      "    if sys.getprofile() is not None: leaks.append('setprofile')",
      "    if getattr(threading, '_trace_hook', None) is not None: leaks.append('threading.settrace')",
      "    if getattr(threading, '_profile_hook', None) is not None: leaks.append('threading.setprofile')",
      "    if any('abuse_canary' in m for m in sys.modules): leaks.append('sys.modules')",
      "    if json.dumps([1]) != '[1]': leaks.append('json.dumps')",
      "    if math.pi != 3.141592653589793: leaks.append('math.pi')",
      "    if statistics.mean([1, 2]) != 1.5: leaks.append('statistics.mean')",
      "    if hasattr(collections.OrderedDict, 'abuse_canary'): leaks.append('OrderedDict')",
      "    if hasattr(fractions.Fraction, 'abuse_canary'): leaks.append('Fraction')",
      '    try:',
      "        codecs.lookup('abuse_canary')",
      "        leaks.append('codecs.register')",
      '    except LookupError:',
      '        pass',
      "    for path in ('/tmp/abuse_canary', os.path.expanduser('~/abuse_canary'), 'abuse_canary'):",
      "        if os.path.exists(path): leaks.append('file ' + path)",
      "    if any('ABUSE_CANARY' in k for k in os.environ): leaks.append('os.environ')",
      '    try:',
      '        f = sys._getframe(0)',
      '        while f is not None:',
      "            if 'abuse_canary' in f.f_globals: leaks.append('frame globals ' + f.f_code.co_name)",
      '            f = f.f_back',
      '    except Exception:',
      '        pass  # frames beyond the task may be refused',
      "    return {'double': x * 2, 'leaks': leaks}",
    ),
    input: 21,
    expected: { double: 42, leaks: [] },
  },
  {
    // What `wasm-remember` stored is gone: a fresh instance per task.
    name: 'probe-wasm',
    runtime: 'wasm',
    source: { fixture: 'abuse' },
    input: { attack: 'recall' },
    expected: { static: '', heapByte: 0 },
  },
];
