import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { JsonValue } from '../../../protocol/job.ts';
import { limits } from '../../../protocol/limits.ts';
import { HOSTILE } from '../../../test/abuse/programs.ts';
import type { ExecRequest, ExecResult } from '../core/executor.ts';
import { ProcessExecutor } from './process-executor.ts';

/**
 * The Python counterpart of `sandbox-escape.test.ts`: each test is something a hostile or broken
 * Python task tries. Each must fail alone, with an error that says what happened, and the worker
 * must go on serving: every test ends by running a healthy task on the same pool. One worker
 * thread, so consecutive tasks share one warm Pyodide.
 */
const executor = new ProcessExecutor({ processes: 1, warmMemoryMb: 64, prewarm: false });
afterAll(() => executor.close());

function run(code: string, input: JsonValue = null, overrides: Partial<ExecRequest> = {}) {
  return executor.run({
    runtime: 'python',
    code,
    codeCid: 'escape',
    input,
    timeoutMs: 5_000,
    memoryMb: 64,
    seed: 'escape',
    clock: 1_700_000_000_000,
    ...overrides,
  });
}

function expectError(result: ExecResult, kind: string) {
  if (result.ok) throw new Error(`expected ${kind}, got output ${JSON.stringify(result.output)}`);
  expect(result.error.kind, JSON.stringify(result.error)).toBe(kind);
  return result.error;
}

/** The worker still runs tasks, and correctly. */
async function expectHealthy() {
  const result = await run('def main(x):\n    return x * 2', 21);
  expect(result.ok ? result.output : result.error).toBe(42);
}

beforeAll(async () => {
  // The cold start (Pyodide's load) happens here, once.
  await expectHealthy();
}, 60_000);

describe('Python sandbox escapes', () => {
  describe('JavaScript', () => {
    for (const statement of [
      'import js',
      'import pyodide_js',
      'import pyodide',
      'from pyodide.ffi import to_js',
      'import pyodide.code',
      'import _pyodide',
      'import gc',
      'import ctypes',
    ]) {
      test(`error: ${statement}`, async () => {
        const error = expectError(await run(`${statement}\ndef main(x):\n    return 1`), 'user_error');
        expect(error.message).toMatch(/ModuleNotFoundError: module '[\w.]+' is not available to MonadMesh/);
        await expectHealthy();
      });
    }

    test('behavior: no module that reaches JavaScript is left in sys.modules, sys.meta_path or sys.path_hooks', async () => {
      const result = await run(
        [
          'import sys',
          'def main(x):',
          "    bad = ('js', 'pyodide', '_pyodide', 'pyodide_js', '_pyodide_core')",
          "    mods = sorted(m for m in sys.modules if m.split('.')[0] in bad)",
          "    finders = [m for f in sys.meta_path + sys.path_hooks for m in (type(f).__module__, getattr(f, '__module__', None))]",
          "    return {'modules': mods, 'pyodideFinders': [f for f in finders if 'pyodide' in (f or '')]}",
        ].join('\n'),
      );
      expect(result.ok ? result.output : result.error).toEqual({ modules: [], pyodideFinders: [] });
    });

    test('error: clearing sys.meta_path and importing through the builtin importer', async () => {
      // The abuse suite's program (it would call JS `eval` through Emscripten if ctypes came back).
      const program = HOSTILE.find((p) => p.name === 'py-rebuilt-ctypes-run-script');
      const result = await run(String(program?.source));
      const error = expectError(result, 'user_error');
      // `import ctypes` fails: its `_ctypes` is no longer in the interpreter's builtin table.
      expect(error.message).toMatch(/_ctypes|ctypes/);
      expect(error.message).not.toMatch(/process|object/);
      await expectHealthy();
    }, 60_000);

    test('behavior: no blocked builtin module can be rebuilt (_ctypes, _testcapi, gc, _pyodide_core, ...)', async () => {
      const result = await run(
        [
          'import sys, importlib.machinery as m',
          'def main(names):',
          '    out = {}',
          '    for n in names:',
          '        if n not in sys.builtin_module_names:',
          '            continue',
          '        mod = m.BuiltinImporter.create_module(m.ModuleSpec(n, m.BuiltinImporter))',
          '        out[n] = None if mod is None else sorted(vars(mod))[:5]',
          '    return out',
        ].join('\n'),
        [
          '_ctypes',
          '_testcapi',
          '_testinternalcapi',
          '_testlimitedcapi',
          '_testbuffer',
          'gc',
          '_pyodide_core',
          'math',
        ],
      );
      if (!result.ok) throw new Error(JSON.stringify(result.error));
      const out = result.output as Record<string, unknown>;
      // The control: a module that is not blocked is still built.
      expect(out.math).not.toBeNull();
      delete out.math;
      expect(Object.keys(out).length).toBeGreaterThanOrEqual(6);
      for (const [name, built] of Object.entries(out)) expect(built, name).toBeNull();
      await expectHealthy();
    });

    test('behavior: _pyodide_core cannot be rebuilt, so no to_js hands Python a live JS object', async () => {
      const result = await run(
        [
          'import importlib.machinery as m',
          'def main(x):',
          "    core = m.BuiltinImporter.create_module(m.ModuleSpec('_pyodide_core', m.BuiltinImporter))",
          '    try:',
          '        arr = core.to_js([1])',
          "        return 'reached ' + str(type(arr))",
          '    except BaseException as e:',
          "        return 'refused: ' + type(e).__name__",
        ].join('\n'),
      );
      expect(result.ok ? result.output : result.error).toBe('refused: AttributeError');
      await expectHealthy();
    }, 60_000);

    test('error: sys._getframe refuses the frame below the task, and the chain below it ends there', async () => {
      const refused = await run(
        ['import sys', 'def main(x):', '    return str(sys._getframe(1).f_locals)'].join('\n'),
      );
      expect(expectError(refused, 'user_error').message).toMatch(
        /the frames below a task are not available to MonadMesh Python tasks/,
      );
      const refusedAtTop = await run(
        ['import sys', 'f = sys._getframe(1)', 'def main(x):', '    return 1'].join('\n'),
      );
      expect(expectError(refusedAtTop, 'user_error').message).toMatch(
        /frames below a task are not available/,
      );
      // What f_back (not audited) leads to: the one frame that calls steps, holding only the
      // step, and nothing below it.
      const chain = await run(
        [
          'import sys',
          'def main(x):',
          '    below = sys._getframe(0).f_back',
          '    return [below.f_code.co_name, sorted(below.f_locals), below.f_back is None,',
          "            sorted(k for k in below.f_globals if k != '__builtins__')]",
        ].join('\n'),
      );
      expect(chain.ok ? chain.output : chain.error).toEqual(['call', ['E', 'step'], true, []]);
      // An exception's traceback, too, starts in the task.
      const tb = await run(
        [
          'def main(x):',
          '    try:',
          '        1 / 0',
          '    except ZeroDivisionError as e:',
          '        f = e.__traceback__.tb_frame',
          '        return [f.f_code.co_name, f.f_back.f_code.co_name, f.f_back.f_back is None]',
        ].join('\n'),
      );
      expect(tb.ok ? tb.output : tb.error).toEqual(['main', 'call', true]);
      await expectHealthy();
    });

    test('error: gc, if reached, cannot list objects; ctypes events are refused', async () => {
      const result = await run(
        [
          'import sys',
          'def main(x):',
          '    out = []',
          "    gc = next((v for m in list(sys.modules.values()) for v in vars(m).values() if type(v) is type(sys) and v.__name__ == 'gc'), None)",
          '    out.append(gc is None)',
          "    for event in ('gc.get_objects', 'gc.get_referrers', 'ctypes.dlopen', 'ctypes.cdata'):",
          '        try:',
          '            sys.audit(event, None)',
          "            out.append(event + ' allowed')",
          '        except RuntimeError as e:',
          '            out.append(str(e))',
          '    return out',
        ].join('\n'),
      );
      expect(result.ok ? result.output : result.error).toEqual([
        true,
        'gc.get_objects is not available to MonadMesh Python tasks',
        'gc.get_referrers is not available to MonadMesh Python tasks',
        'ctypes.dlopen is not available to MonadMesh Python tasks',
        'ctypes.cdata is not available to MonadMesh Python tasks',
      ]);
      await expectHealthy();
    });
  });

  describe('network', () => {
    let server: Server;
    let connections = 0;
    beforeAll(async () => {
      server = createServer((socket) => {
        connections++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test('error: socket.create_connection to a listening loopback port', async () => {
      const { port } = server.address() as AddressInfo;
      const result = await run(
        [
          'import socket',
          'def main(port):',
          "    s = socket.create_connection(('127.0.0.1', port), timeout=1)",
          "    s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')",
          '    return s.recv(100).decode()',
        ].join('\n'),
        port,
      );
      expectError(result, 'user_error');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(connections).toBe(0);
      await expectHealthy();
    });

    test('error: urllib.request.urlopen', async () => {
      const { port } = server.address() as AddressInfo;
      const result = await run(
        'import urllib.request\ndef main(port):\n    return urllib.request.urlopen(f"http://127.0.0.1:{port}/").read().decode()',
        port,
      );
      expectError(result, 'user_error');
      expect(connections).toBe(0);
      await expectHealthy();
    });
  });

  describe('file system', () => {
    test('error: host files cannot be read', async () => {
      for (const path of ['/etc/passwd', `${process.cwd()}/package.json`, '/proc/self/environ']) {
        const result = await run('def main(path):\n    return open(path).read()[:100]', path);
        expectError(result, 'user_error');
      }
      await expectHealthy();
    });

    test('behavior: files a task writes are gone in the next task', async () => {
      const write = await run(
        [
          'import os',
          'def main(x):',
          "    for p in ('/tmp/left', 'left', '/home/pyodide/left', '/tmp/dir/sub/left'):",
          '        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)',
          "        open(p, 'w').write('x = 1')",
          "    os.chmod('/tmp/dir/sub', 0)",
          "    os.symlink('/lib', '/tmp/lib')",
          '    return 1',
        ].join('\n'),
      );
      expect(write.ok ? write.output : write.error).toBe(1);
      const read = await run(
        [
          'import os',
          'def main(x):',
          "    return [os.path.exists(p) for p in ('/tmp/left', 'left', '/home/pyodide/left', '/tmp/dir', '/tmp/lib', '/lib/python314.zip')]",
        ].join('\n'),
      );
      expect(read.ok ? read.output : read.error).toEqual([false, false, false, false, false, true]);
    });

    test('error: nothing can be written outside /tmp, the home directories and the working directory', async () => {
      const result = await run(
        [
          'import os',
          'def main(x):',
          '    refused = []',
          "    for p in ('/lib/python3.14/evil.py', '/evil', '/dev/evil', '/proc/self/evil', '/home/evil'):",
          '        try:',
          "            open(p, 'w').close()",
          '        except PermissionError:',
          '            refused.append(p)',
          '    return refused',
        ].join('\n'),
      );
      expect(result.ok ? result.output : result.error).toEqual([
        '/lib/python3.14/evil.py',
        '/evil',
        '/dev/evil',
        '/proc/self/evil',
        '/home/evil',
      ]);
      await expectHealthy();
    });
  });

  describe('state', () => {
    test('behavior: globals, imported modules and builtins do not carry over', async () => {
      const first = await run(
        [
          'import builtins, sys, colorsys',
          'secret = 42',
          'builtins.leak = 1',
          'sys.setrecursionlimit(50)',
          'def main(x):',
          '    return secret',
        ].join('\n'),
      );
      expect(first.ok ? first.output : first.error).toBe(42);
      const second = await run(
        [
          'import builtins, sys',
          'def main(x):',
          "    return ['secret' in globals(), hasattr(builtins, 'leak'), 'colorsys' in sys.modules, sys.getrecursionlimit() > 50]",
        ].join('\n'),
      );
      expect(second.ok ? second.output : second.error).toEqual([false, false, false, true]);
    });
  });

  describe('limits', () => {
    test('error: an infinite loop times out', async () => {
      const error = expectError(
        await run('def main(x):\n    while True: pass', null, { timeoutMs: 500 }),
        'timeout',
      );
      expect(error.message).toMatch(/time limit of 500 ms/);
      await expectHealthy();
    }, 60_000);

    test('error: memory growth hits memory_limit', async () => {
      const result = await run(
        'def main(x):\n    b = []\n    while True:\n        b.append(bytearray(4_000_000))',
        null,
        { timeoutMs: 20_000 },
      );
      const error = expectError(result, 'memory_limit');
      expect(error.message).toMatch(/memory limit of 64 MB/);
      await expectHealthy();
    }, 60_000);

    test('error: deep recursion is a RecursionError (user_error)', async () => {
      const error = expectError(
        await run('def f(n):\n    return f(n + 1) + 1\ndef main(x):\n    return f(0)'),
        'user_error',
      );
      expect(error.message).toMatch(/RecursionError: maximum recursion depth exceeded/);
      expect(error.message).toMatch(/File "<task>", line 2, in f/);
      await expectHealthy();
    });

    test('error: huge output is output_invalid', async () => {
      const error = expectError(
        await run(`def main(x):\n    return 'a' * ${limits.maxOutputBytes + 1}`),
        'output_invalid',
      );
      expect(error.message).toMatch(new RegExp(`exceeds ${limits.maxOutputBytes} bytes`));
      await expectHealthy();
    });

    test('error: output that is not JSON is output_invalid', async () => {
      for (const value of ["float('nan')", 'object()', '{1, 2}']) {
        expectError(await run(`def main(x):\n    return ${value}`), 'output_invalid');
      }
      await expectHealthy();
    });

    test('error: a log flood is cut at the log limit', async () => {
      const result = await run("def main(x):\n    for i in range(100000): print('spam', i)\n    return 1");
      expect(result.ok).toBe(true);
      expect(new TextEncoder().encode(result.logs).length).toBeLessThanOrEqual(limits.maxLogBytes);
    });
  });
});
