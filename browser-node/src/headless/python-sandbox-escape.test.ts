import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { JsonValue } from '../../../protocol/job.ts';
import { limits } from '../../../protocol/limits.ts';
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
      const result = await run(
        [
          'import sys, importlib.machinery as m',
          'def main(x):',
          '    sys.meta_path[:] = [m.BuiltinImporter, m.PathFinder]',
          "    for name in ('js', 'pyodide_js', '_pyodide_core'):",
          '        sys.modules.pop(name, None)',
          '    import js',
          '    return 1',
        ].join('\n'),
      );
      expectError(result, 'user_error');
      // The next task has its blocker back.
      const error = expectError(await run('import js'), 'user_error');
      expect(error.message).toMatch(/not available to MonadMesh/);
      await expectHealthy();
    });
  });

  describe('JavaScript past the import blocker', () => {
    test('error: ctypes rebuilt from the builtin importer cannot run JS through emscripten_run_script', async () => {
      const result = await run(
        [
          'import sys, importlib.machinery as m',
          'def main(x):',
          "    for name in ('ctypes', '_ctypes'):",
          '        sys.modules.pop(name, None)',
          '    sys.meta_path[:] = [m.BuiltinImporter, m.FrozenImporter, m.PathFinder]',
          '    import ctypes',
          '    run = ctypes.CDLL(None).emscripten_run_script_string',
          '    run.restype = ctypes.c_char_p',
          '    return run(b"String(typeof process)").decode()',
        ].join('\n'),
      );
      const error = expectError(result, 'user_error');
      expect(error.message).toMatch(/eval is not available/);
      // Pyodide is unusable after that: the executor replaced the worker.
      await expectHealthy();
    }, 60_000);

    test('behavior: _pyodide_core rebuilt from the builtin importer reaches no JS global', async () => {
      const result = await run(
        [
          'import importlib.machinery as m',
          'def main(x):',
          "    core = m.BuiltinImporter.create_module(m.ModuleSpec('_pyodide_core', m.BuiltinImporter))",
          '    try:',
          '        arr = core.to_js([1])',
          '        ctor = arr.constructor.constructor',
          "        return 'reached' if ctor is not None else 'no Function'",
          '    except BaseException as e:',
          "        return 'refused: ' + type(e).__name__",
        ].join('\n'),
      );
      if (result.ok) expect(result.output).not.toBe('reached');
      else expect(['user_error', 'node_error']).toContain(result.error.kind);
      await expectHealthy();
    }, 60_000);
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
