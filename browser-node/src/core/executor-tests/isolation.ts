import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { JsonValue, Runtime } from '../../../../protocol/job.ts';
import type { ExecResult, Executor } from '../executor.ts';
import type { ExecutorFixtures, ExecutorTestContext } from './context.ts';
import { expectOk, taskRequest } from './expect.ts';

/**
 * What a task can reach, checked the same way in every host: no network, no host globals (DOM,
 * window, parent, the worker's own scope, Node's process), no JavaScript from Python, no imports
 * beyond WASI for wasm; and each refusal fails only its own task. The long abuse suites (escapes
 * through intrinsics, prototype pollution, floods) are Node's `*-sandbox-escape.test.ts`.
 */
export function isolationExecutorTests(context: ExecutorTestContext): void {
  let executor: Executor;
  let fixtures: ExecutorFixtures['wasm'];
  beforeAll(() => {
    executor = context.create({ capacity: 1, warmMemoryMb: 64, prewarm: false });
    fixtures = context.fixtures().wasm;
  });
  afterAll(() => executor.close());

  const run = (runtime: Runtime, code: string | Uint8Array, input: JsonValue = null): Promise<ExecResult> =>
    executor.run(
      taskRequest(runtime, code, input, {
        codeCid: `isolation-${runtime}-${typeof code === 'string' ? code.length : code.byteLength}`,
        timeoutMs: 10_000,
      }),
    );

  /** The executor still runs ordinary tasks of every runtime. */
  const expectHealthy = async () => {
    expect(expectOk(await run('js', 'export default (x) => x + 1', 1))).toBe(2);
    expect(expectOk(await run('python', 'def main(x):\n    return x + 1', 2))).toBe(3);
  };

  describe(`${context.host} executor: isolation`, () => {
    test('behavior: a JS task sees none of the host: no network, DOM, window, worker scope or process', async () => {
      const names = [
        'fetch',
        'XMLHttpRequest',
        'WebSocket',
        'EventSource',
        'importScripts',
        'postMessage',
        'self',
        'window',
        'document',
        'parent',
        'top',
        'opener',
        'navigator',
        'location',
        'indexedDB',
        'caches',
        'localStorage',
        'Worker',
        'RTCPeerConnection',
        'process',
        'require',
        'Buffer',
      ];
      const code = `export default (names) => Object.fromEntries(names.map((n) => [n, typeof globalThis[n]]))`;
      const seen = expectOk(await run('js', code, names)) as Record<string, string>;
      expect(seen).toEqual(Object.fromEntries(names.map((n) => [n, 'undefined'])));
    });

    test('error: a JS task cannot reach the real global through constructors', async () => {
      const code = `export default () => {
        const attempts = {};
        const tryIt = (name, f) => { try { const g = f(); attempts[name] = typeof g?.fetch; } catch (e) { attempts[name] = 'threw'; } };
        tryIt('viaFunction', () => Function('return globalThis')());
        tryIt('viaArrowConstructor', () => (() => {}).constructor('return this')());
        tryIt('viaAsyncConstructor', () => (async () => {}).constructor);
        return attempts;
      }`;
      const result = expectOk(await run('js', code)) as Record<string, string>;
      for (const value of Object.values(result)) expect(['threw', 'undefined']).toContain(value);
      await expectHealthy();
    });

    test('error: Python cannot import JavaScript (js, pyodide, ctypes)', async () => {
      for (const module of ['js', 'pyodide', 'pyodide_js', 'ctypes']) {
        const result = await run('python', `import ${module}\ndef main(x):\n    return 1`);
        expect(result.ok).toBe(false);
        if (!result.ok) {
          expect(result.error.kind).toBe('user_error');
          expect(result.error.message).toMatch(
            new RegExp(`ModuleNotFoundError: module '${module}' is not available to MonadMesh Python tasks`),
          );
        }
      }
      await expectHealthy();
    });

    test('error: Python has no network: sockets and urllib fail inside the task', async () => {
      const code = [
        'import socket, urllib.request',
        'def main(x):',
        '    out = {}',
        '    try:',
        '        socket.create_connection(("127.0.0.1", 80), timeout=1)',
        '        out["socket"] = "connected"',
        '    except Exception as e:',
        '        out["socket"] = type(e).__name__',
        '    try:',
        '        urllib.request.urlopen("http://127.0.0.1:1/", timeout=1)',
        '        out["urllib"] = "fetched"',
        '    except Exception as e:',
        '        out["urllib"] = type(e).__name__',
        '    return out',
      ].join('\n');
      const seen = expectOk(await run('python', code)) as Record<string, string>;
      expect(seen.socket).not.toBe('connected');
      expect(seen.urllib).not.toBe('fetched');
      await expectHealthy();
    });

    test('behavior: Python sees an empty in-memory file system, not the host', async () => {
      const code = [
        'import os',
        'def main(x):',
        '    found = {}',
        '    for path in ["/etc/passwd", "/home", "/proc/self/environ"]:',
        '        found[path] = os.path.exists(path)',
        '    return {"found": found, "env": dict(os.environ).get("HOME"), "cwd": os.getcwd()}',
      ].join('\n');
      const seen = expectOk(await run('python', code)) as { found: Record<string, boolean>; cwd: string };
      expect(seen.found['/etc/passwd']).toBe(false);
      expect(seen.cwd).toBe('/task');
    });

    test('error: a wasm module importing sockets or host functions is refused before it runs', async () => {
      const socket = await run('wasm', fixtures.socketImport);
      expect(socket.ok ? undefined : socket.error.message).toMatch(
        /imports wasi_snapshot_preview1\.sock_accept/,
      );
      const host = await run('wasm', fixtures.hostImport, { port: 1 });
      expect(host.ok ? undefined : host.error.message).toMatch(
        /imports env\.http_get, which tasks do not get/,
      );
      await expectHealthy();
    });
  });
}
