import { limits } from '../../../protocol/limits.ts';
import type { SandboxError, SandboxResult, SandboxRunPython } from '../../../protocol/sandbox.ts';
import { LogBuffer, LogMirror } from './task-logs.ts';

/**
 * The part of a loaded Pyodide that the runner uses. A host loads Pyodide its own way (from
 * node_modules headless, from our own origin in a tab) and hands it over already loaded.
 */
export interface PyodideLike {
  runPython(code: string, options?: { globals?: unknown }): unknown;
  toPy(value: unknown): unknown;
  setStdout(options: { write: (bytes: Uint8Array) => number }): void;
  setStderr(options: { write: (bytes: Uint8Array) => number }): void;
}

/** A Python callable as Pyodide hands it to JS. */
type PyCallable = ((...args: unknown[]) => unknown) & { destroy?: () => void };

/**
 * Top-level modules a task may not import: everything that reaches JavaScript (Pyodide's own
 * packages and the `js` module), `ctypes` (it calls Emscripten's `emscripten_run_script`, i.e.
 * JS `eval`) and `gc` (it lists every live object, Pyodide's included). This is the first layer
 * only: Python can rebuild builtin modules past any import hook, so the host must also leave
 * nothing behind them (see `python-worker.ts`: no `eval`, no `Function` through `.constructor`).
 */
export const blockedPythonModules = [
  'js',
  'pyodide_js',
  'pyodide',
  '_pyodide',
  '_pyodide_core',
  'micropip',
  'gc',
  'ctypes',
  '_ctypes',
] as const;

/**
 * Python side of the runner, evaluated once per warm interpreter. `_mm_setup` removes every way
 * to JavaScript that Python can name (modules, Pyodide's import finders) and records what a task
 * may change, so `_mm_run` can put it back after each task: `sys.modules`, builtins, `sys` hooks.
 * Nothing here keeps a reference to a Pyodide module, so a task that climbs frames
 * (`sys._getframe(1).f_globals`) finds only this harness.
 */
const HARNESS = `
def _mm_setup(blocked):
    import sys, json, random, time, traceback, builtins, os, linecache

    blocked = frozenset(blocked)

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in blocked:
                raise ModuleNotFoundError(
                    f"module {name!r} is not available to MonadMesh Python tasks", name=name)
            return None

    for name in list(sys.modules):
        if name.split('.')[0] in blocked:
            del sys.modules[name]
    meta_path = [Blocker()] + [
        f for f in sys.meta_path
        if not (type(f).__module__ or '').split('.')[0] in blocked]
    sys.meta_path[:] = meta_path
    path_hooks = list(sys.path_hooks)
    path = list(sys.path)
    baseline = frozenset(sys.modules)
    builtins_snapshot = dict(builtins.__dict__)
    recursion_limit = sys.getrecursionlimit()
    stdout, stderr = sys.stdout, sys.stderr
    dumps, loads, fmt = json.dumps, json.loads, traceback.format_exception
    time_fns = {name: getattr(time, name) for name in ('time', 'time_ns')}
    max_output = ${limits.maxOutputBytes}
    os.makedirs('/task', exist_ok=True)
    fs_baseline = snapshot_fs(os)

    def reset():
        sys.stdout, sys.stderr = stdout, stderr
        sys.meta_path[:] = meta_path
        sys.path_hooks[:] = path_hooks
        sys.path[:] = path
        sys.setrecursionlimit(recursion_limit)
        for name in list(sys.modules):
            if name not in baseline:
                del sys.modules[name]
        builtins.__dict__.clear()
        builtins.__dict__.update(builtins_snapshot)
        for name, fn in time_fns.items():
            setattr(time, name, fn)
        linecache.cache.pop('<task>', None)
        clean_fs(os, fs_baseline)
        os.chdir('/task')

    def run(code, input_json, seed, clock_ms):
        reset()
        random.seed(seed)
        time.time = lambda: clock_ms / 1000
        time.time_ns = lambda: int(clock_ms) * 1_000_000
        namespace = {'__name__': '__task__', '__builtins__': builtins}
        # Tracebacks quote the task's source lines, as CPython does for a file.
        linecache.cache['<task>'] = (len(code), None, code.splitlines(True), '<task>')
        try:
            exec(compile(code, '<task>', 'exec'), namespace)
            main = namespace.get('main')
            if not callable(main):
                return 'U' + 'the code must define main(input)'
            output = main(loads(input_json))
        except BaseException as error:
            # Skip the harness's own frame: the trace starts in the task.
            lines = fmt(type(error), error, error.__traceback__.tb_next)
            return ('M' if isinstance(error, MemoryError) else 'U') + ''.join(lines)[-8000:]
        finally:
            sys.stdout, sys.stderr = stdout, stderr
        try:
            text = dumps(output, allow_nan=False, separators=(',', ':'), ensure_ascii=False)
        except (TypeError, ValueError, RecursionError) as error:
            return 'I' + f'the output of main is not JSON: {error}'
        if len(text.encode('utf-8')) > max_output:
            return 'I' + f'the output exceeds {max_output} bytes'
        return 'O' + text

    reset()
    return run

def snapshot_fs(os):
    seen = set()
    for root, dirs, files in os.walk('/'):
        if root in ('/dev', '/proc') or root.startswith(('/dev/', '/proc/')):
            dirs[:] = []
            continue
        seen.add(root)
        seen.update(os.path.join(root, f) for f in files)
    return frozenset(seen)

def clean_fs(os, baseline):
    for root, dirs, files in os.walk('/', topdown=False):
        if root in ('/dev', '/proc') or root.startswith(('/dev/', '/proc/')):
            continue
        for f in files:
            p = os.path.join(root, f)
            if p not in baseline:
                os.unlink(p)
        if root not in baseline:
            os.rmdir(root)
`;

/**
 * Runs Python tasks in one warm Pyodide: each task's code is executed in a fresh globals dict and
 * its `main(input)` called; stdout and stderr go to the task's logs. Between tasks the interpreter
 * is reset (modules the task imported, builtins, `sys` hooks, files it wrote), `random` is seeded
 * from the task seed and `time.time()` returns the task clock.
 *
 * @example
 * const sandbox = PythonSandbox.prepare(await loadPyodide({ jsglobals: {} }));
 * const result = sandbox.run({ type: 'run.python', id: 't1', code: 'def main(x): return x + 1',
 *   codeCid, inputJson: '41', seed: 's', clock: 0 });
 */
export class PythonSandbox {
  readonly #run: PyCallable;
  #logs: LogBuffer | undefined;
  #broken = false;

  private constructor(pyodide: PyodideLike) {
    const decoder = new TextDecoder();
    const write = (bytes: Uint8Array) => {
      this.#logs?.append(decoder.decode(bytes, { stream: true }));
      return bytes.length;
    };
    pyodide.setStdout({ write });
    pyodide.setStderr({ write });
    const namespace = pyodide.toPy({});
    pyodide.runPython(HARNESS, { globals: namespace });
    const setup = pyodide.runPython('_mm_setup', { globals: namespace }) as PyCallable;
    this.#run = setup(blockedPythonModules) as PyCallable;
    setup.destroy?.();
  }

  /** Takes over a freshly loaded Pyodide (its stdout/stderr and import machinery). */
  static prepare(pyodide: PyodideLike): PythonSandbox {
    return new PythonSandbox(pyodide);
  }

  /**
   * A task made JavaScript throw through Pyodide (e.g. reached `eval` through `ctypes`): Pyodide
   * is in a fatal state and the worker must be replaced.
   */
  get broken(): boolean {
    return this.#broken;
  }

  run(task: SandboxRunPython): SandboxResult {
    if (this.#broken) throw new Error('Pyodide is broken by an earlier task');
    const logs = new LogBuffer(task.logMirror && new LogMirror(task.logMirror));
    this.#logs = logs;
    const started = performance.now();
    // Emscripten's realtime clock is `Date.now()`: `datetime.now()` then reads the task clock too.
    const dateNow = Date.now;
    Date.now = () => task.clock;
    let answer: string;
    try {
      answer = String(this.#run(task.code, task.inputJson, task.seed, task.clock));
    } catch (error) {
      this.#broken = true;
      answer = `N${String(error).slice(0, 2000)}`;
    } finally {
      Date.now = dateNow;
      this.#logs = undefined;
    }
    const durationMs = performance.now() - started;
    const fail = (error: SandboxError): SandboxResult => ({
      type: 'result',
      id: task.id,
      ok: false,
      logs: logs.text(),
      durationMs,
      error: { kind: error.kind, message: error.message.slice(0, 8000) },
    });
    const body = answer.slice(1);
    switch (answer[0]) {
      case 'O':
        return { type: 'result', id: task.id, ok: true, outputJson: body, logs: logs.text(), durationMs };
      case 'U':
        return fail({ kind: 'user_error', message: body });
      case 'M':
        // Pyodide's memory could not grow (the executor's watchdog usually stops the task first).
        return fail({ kind: 'memory_limit', message: body });
      case 'I':
        return fail({ kind: 'output_invalid', message: body });
      default:
        return fail({
          kind: 'user_error',
          message: `the task broke out of Python into the JavaScript runtime, which refused: ${body}`,
        });
    }
  }
}

/**
 * Call once Pyodide is loaded, in every host: closes what is behind Python on the JS side.
 * Emscripten's `emscripten_run_script` (reachable from ctypes) is `eval`, and a JS object that
 * Python got hold of anyway must not lead to `Function` through `.constructor`.
 */
export function sealJavaScriptBehindPython(): void {
  globalThis.eval = () => {
    throw new Error('eval is not available to sandboxed tasks');
  };
  for (const fn of [() => {}, async () => {}, function* () {}, async function* () {}]) {
    Object.defineProperty(Object.getPrototypeOf(fn), 'constructor', { value: undefined });
  }
}
