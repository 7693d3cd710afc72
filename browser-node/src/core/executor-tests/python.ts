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

  /**
   * Python salts string hashes per interpreter: the same mark before and after means the tasks
   * between ran in the same warm Pyodide (a reset that failed would have replaced the worker).
   */
  async function interpreterMark() {
    return outputOf(await executor.run(request("def main(x):\n    return hash('monadmesh')")));
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

    test('behavior: a JavaScript task in between does not cost the warm interpreter (it is parked, then swapped back)', async () => {
      const before = await interpreterMark();
      const js = await executor.run({
        ...request(''),
        runtime: 'js',
        code: 'export default (x) => x + 1',
        codeCid: 'js',
        input: 1,
      });
      expect(js).toMatchObject({ ok: true, output: 2 });
      expect(await interpreterMark()).toBe(before);
    }, 60_000);

    test("error: a Python interpreter that ran one job's task never runs another job's", async () => {
      const markOf = async (jobId: string) =>
        outputOf(await executor.run({ ...request("def main(x):\n    return hash('monadmesh')"), jobId }));
      const a = await markOf('job-a');
      expect(await markOf('job-a')).toBe(a); // warm within a job
      const b = await markOf('job-b');
      expect(b).not.toBe(a); // a new interpreter for another job
      expect(await markOf('job-b')).toBe(b);
      expect(await markOf('job-a')).not.toBe(a); // and job A's old one is gone
    }, 90_000);

    test('behavior: a task with another memory limit in between does not cost the warm interpreter either', async () => {
      const before = await interpreterMark();
      const other = await executor.run(request('def main(x):\n    return x', 7, { memoryMb: 96 }));
      expect(other).toMatchObject({ ok: true, output: 7 });
      expect(await interpreterMark()).toBe(before);
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

    test('behavior: common standard-library modules are loaded before the task (warm)', async () => {
      // Checked before the task imports anything but sys: each of these was imported once, when the
      // worker started, and stays in the baseline (a cold `import statistics` costs ~50 ms).
      const warm = ['statistics', 'decimal', 'fractions', 'datetime', 'json', 're', 'collections', 'csv'];
      const code = `import sys\nloaded = [m for m in ${JSON.stringify(warm)} if m in sys.modules]\ndef main(x):\n    return loaded`;
      expect(outputOf(await executor.run(request(code)))).toEqual(warm);
      outputOf(
        await executor.run(request('import statistics\ndef main(x):\n    return statistics.mean([1, 2])')),
      );
      expect(outputOf(await executor.run(request(code)))).toEqual(warm);
    });

    test('behavior: time.monotonic and perf_counter are virtual and deterministic', async () => {
      // Like WASI's monotonic clock in wasm tasks: 0 at the start of each task, +1 µs per read.
      // sleep() waits on it, so it returns once the virtual time has passed.
      const code = [
        'import time',
        'def main(x):',
        '    reads = [time.monotonic(), time.perf_counter(), time.monotonic_ns(), time.perf_counter_ns(), time.process_time()]',
        '    start = time.monotonic()',
        '    time.sleep(0.25)',
        "    return {'reads': reads, 'slept': time.monotonic() - start}",
      ].join('\n');
      // The virtual clock moved by the sleep exactly (a real sleep would leave it at +1 µs); no
      // wall-clock duration is asserted (a loaded machine takes longer).
      const first = await executor.run(request(code));
      expect(outputOf(first)).toEqual({ reads: [1e-6, 2e-6, 3000, 4000, 5e-6], slept: 0.250003 });
      expect(outputOf(await executor.run(request(code, null, { seed: 'other' })))).toEqual(outputOf(first));
    });

    test("error: a task's changes to modules do not reach the next task", async () => {
      const mark = await interpreterMark();
      const probe = [
        'import math, random, json, statistics, string, sys, copyreg',
        'def main(x):',
        '    import colorsys',
        '    try:',
        '        json.dumps(object())',
        "        encoder = 'patched'",
        '    except TypeError:',
        "        encoder = 'TypeError'",
        "    return [math.pi, random.random(), json.dumps({'a': [1]}), hasattr(json, 'cache'),",
        "            statistics.mean([1, 2]), string.Template.delimiter, encoder, hasattr(colorsys, 'rgb_to_hsv'),",
        "            'mm' in copyreg.dispatch_table.values()]",
      ].join('\n');
      const before = outputOf(await executor.run(request(probe)));
      expect(before).toEqual([
        Math.PI,
        expect.any(Number),
        '{"a": [1]}',
        false,
        1.5,
        '$',
        'TypeError',
        true,
        false,
      ]);
      const change = [
        'import math, random, json, statistics, string, sys, types, copyreg',
        'def fake(*args, **kwargs):',
        "    return 'fake'",
        'def main(x):',
        '    math.pi = 3',
        '    random.seed = lambda *a: None',
        '    json.dumps = fake',
        "    json.cache = {'secret': x}",
        "    json.JSONEncoder.default = lambda self, o: 'patched'",
        '    statistics.mean.__code__ = fake.__code__',
        "    string.Template.delimiter = '#'",
        "    sys.modules['colorsys'] = types.SimpleNamespace()",
        "    copyreg.dispatch_table[types.SimpleNamespace] = 'mm'",
        '    return 1',
      ].join('\n');
      expect(outputOf(await executor.run(request(change, 'secret')))).toBe(1);
      expect(outputOf(await executor.run(request(probe)))).toEqual(before);
      expect(await interpreterMark()).toBe(mark);
    });

    test("error: a task's settings, hooks and open files do not reach the next task", async () => {
      const mark = await interpreterMark();
      const probe = [
        'import decimal, logging, warnings, os, sys, builtins',
        'def main(x):',
        '    handlers = len(logging.root.handlers)',
        "    logging.info('info')",
        "    warnings.warn('careful')",
        '    try:',
        '        os.read(3, 10)',
        "        fd = 'open'",
        '    except OSError:',
        "        fd = 'closed'",
        '    return [str(decimal.Decimal(1) / 7), decimal.DefaultContext.prec, handlers,',
        "            os.environ.get('SECRET'), sys.getrecursionlimit(), sys.gettrace() is None, hasattr(builtins, 'leak'),",
        "            sys.monitoring.get_tool(3), fd, os.getcwd(), os.listdir('/tmp')]",
      ].join('\n');
      const before = await executor.run(request(probe));
      expect(outputOf(before)).toEqual([
        '0.1428571428571428571428571429',
        28,
        0,
        null,
        1000,
        true,
        false,
        null,
        'closed',
        '/task',
        [],
      ]);
      const change = [
        'import decimal, logging, warnings, os, sys, builtins',
        'def main(x):',
        '    decimal.getcontext().prec = 3',
        '    decimal.DefaultContext.prec = 5',
        '    logging.basicConfig(level=logging.DEBUG)',
        "    warnings.simplefilter('error')",
        "    os.environ['SECRET'] = 'x'",
        '    sys.setrecursionlimit(100)',
        '    builtins.leak = True',
        "    sys.addaudithook(lambda event, args: print('audit', event))",
        "    sys.monitoring.use_tool_id(3, 'task')",
        "    sys.monitoring.register_callback(3, sys.monitoring.events.PY_START, lambda *a: print('monitored'))",
        '    sys.monitoring.set_events(3, sys.monitoring.events.PY_START)',
        "    sys.settrace(lambda *a: print('traced'))",
        "    fd = os.open('/tmp/secret', os.O_CREAT | os.O_RDWR)",
        "    os.write(fd, b'secret')",
        "    os.chdir('/tmp')",
        '    return fd',
      ].join('\n');
      expect(outputOf(await executor.run(request(change)))).toBe(3);
      const after = await executor.run(request(probe));
      expect(outputOf(after)).toEqual(outputOf(before));
      expect(after.logs).toBe(before.logs);
      expect(await interpreterMark()).toBe(mark);
    });

    test('error: the standard library cannot be changed by a task', async () => {
      const mark = await interpreterMark();
      const probe = [
        'import os, zlib',
        'def main(x):',
        "    data = open('/lib/python314.zip', 'rb').read()",
        '    import colorsys',
        "    return [len(data), zlib.crc32(data), os.stat('/lib/python314.zip').st_mode, sorted(os.listdir('/lib')),",
        "            sorted(os.listdir('/')), colorsys.rgb_to_hsv(1, 0, 0)]",
      ].join('\n');
      const before = outputOf(await executor.run(request(probe)));
      const attack = [
        'import os',
        "ZIP = '/lib/python314.zip'",
        'def main(x):',
        '    results = {}',
        '    def attempt(name, action):',
        '        try:',
        '            action()',
        "            results[name] = 'done'",
        '        except OSError as error:',
        '            results[name] = type(error).__name__',
        "    attempt('write', lambda: open(ZIP, 'r+b').write(b'PK'))",
        "    attempt('truncate', lambda: open(ZIP, 'wb').close())",
        "    attempt('append', lambda: open(ZIP, 'ab').write(b'PK'))",
        "    attempt('remove', lambda: os.remove(ZIP))",
        "    attempt('rename', lambda: os.rename(ZIP, '/tmp/zip'))",
        "    open('/tmp/fake', 'wb').close()",
        "    attempt('replace', lambda: os.replace('/tmp/fake', ZIP))",
        "    attempt('chmod', lambda: os.chmod(ZIP, 0o666))",
        "    attempt('utime', lambda: os.utime(ZIP, (0, 0)))",
        "    attempt('add a module', lambda: open('/lib/python3.14/site-packages/colorsys.py', 'w').close())",
        "    attempt('chmod a directory', lambda: os.chmod('/lib', 0o777))",
        "    attempt('remove a directory', lambda: os.rmdir('/tmp'))",
        "    attempt('add a directory', lambda: os.mkdir('/new'))",
        '    return results',
      ].join('\n');
      const results = outputOf(await executor.run(request(attack))) as Record<string, string>;
      expect(Object.keys(results)).toHaveLength(12);
      for (const [name, outcome] of Object.entries(results))
        expect(`${name}: ${outcome}`).toBe(`${name}: PermissionError`);
      expect(outputOf(await executor.run(request(probe)))).toEqual(before);
      expect(await interpreterMark()).toBe(mark);
    });

    test('error: no JavaScript object is reachable from Python', async () => {
      // Pyodide's own modules stay loaded after the runner takes them out of sys.modules, and
      // Python reaches them anyway (object.__subclasses__(), a method's __globals__): the JS
      // objects they held (Pyodide's JS API, with its file system) must be gone. A walk of what
      // Python can reach from sys.modules and from every class.
      const code = [
        'import sys, types, collections',
        'def main(limit):',
        '    def subclasses(c, seen):',
        '        for s in type.__subclasses__(c):',
        '            if s not in seen:',
        '                seen.add(s)',
        '                yield s',
        '                yield from subclasses(s, seen)',
        "    queue = collections.deque([('sys.modules', dict(sys.modules), 0), ('classes', list(subclasses(object, set())), 0)])",
        '    seen, found = set(), []',
        '    while queue:',
        '        path, value, depth = queue.popleft()',
        '        if id(value) in seen:',
        '            continue',
        '        seen.add(id(value))',
        "        if any(c.__name__ == 'JsProxy' for c in type(value).__mro__):",
        '            found.append(path)',
        '            continue',
        '        if depth == limit or isinstance(value, (str, bytes, int, float)):',
        '            continue',
        '        if isinstance(value, dict):',
        '            edges = [(repr(k)[:40], v) for k, v in value.items()]',
        '        elif isinstance(value, (list, tuple, set, frozenset)):',
        '            edges = list(enumerate(value))',
        '        elif isinstance(value, types.FunctionType):',
        '            cells = [c.cell_contents for c in value.__closure__ or () if c.cell_contents is not None]',
        "            edges = [('__globals__', value.__globals__), ('__defaults__', value.__defaults__),",
        "                     ('__kwdefaults__', value.__kwdefaults__), ('__closure__', cells)]",
        '        elif isinstance(value, (type, types.ModuleType)):',
        '            edges = list(vars(value).items())',
        '        elif isinstance(value, (types.MethodType, types.BuiltinMethodType)):',
        "            edges = [('__self__', value.__self__), ('__func__', getattr(value, '__func__', None))]",
        '        elif isinstance(value, (property, staticmethod, classmethod)):',
        "            edges = [(n, getattr(value, n, None)) for n in ('fget', 'fset', 'fdel', '__func__')]",
        '        else:',
        "            attributes = getattr(value, '__dict__', None)",
        '            edges = list(attributes.items()) if isinstance(attributes, dict) else []',
        '        queue.extend((f"{path}.{name}", v, depth + 1) for name, v in edges)',
        '    return [len(seen) > 10000, found[:20]]',
      ].join('\n');
      expect(outputOf(await executor.run(request(code, 10, { timeoutMs: 30_000 })))).toEqual([true, []]);
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
