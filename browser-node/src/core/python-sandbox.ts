import { limits } from '../../../protocol/limits.ts';
import type { SandboxError, SandboxResult, SandboxRunPython } from '../../../protocol/sandbox.ts';
import { LogBuffer, logSinkFor } from './task-logs.ts';

const realNow = performance.now.bind(performance);

/**
 * The part of Emscripten's file system (Pyodide's `pyodide.FS`) that the runner uses to make
 * everything but a few writable directories read-only.
 */
export interface EmscriptenFs {
  lookupPath(path: string, options?: { follow?: boolean }): { node: EmscriptenFsNode };
  readdir(path: string): string[];
  isDir(mode: number): boolean;
  isFile(mode: number): boolean;
  chmod(path: string, mode: number): void;
  chdir(path: string): void;
  cwd(): string;
  unlink(path: string): void;
  rmdir(path: string): void;
  close(stream: unknown): void;
  /** Open files by descriptor (sparse). */
  streams: unknown[];
  /** The inode number of the next node created. */
  nextInode: number;
  ErrnoError: new (errno: number) => Error;
}

interface EmscriptenFsNode {
  mode: number;
  atime: number;
  mtime: number;
  ctime: number;
  mount: { mountpoint: string };
  node_ops: Record<string, unknown>;
}

/**
 * The part of a loaded Pyodide that the runner uses. A host loads Pyodide its own way (from
 * node_modules headless, from our own origin in a tab) and hands it over already loaded.
 */
export interface PyodideLike {
  runPython(code: string, options?: { globals?: unknown }): unknown;
  toPy(value: unknown): unknown;
  setStdout(options: { write: (bytes: Uint8Array) => number }): void;
  setStderr(options: { write: (bytes: Uint8Array) => number }): void;
  FS: EmscriptenFs;
}

/** A Python object as Pyodide hands it to JS: callable if it is a function, `get` if a tuple. */
type PyCallable = ((...args: unknown[]) => unknown) & { destroy?: () => void };
type PyTuple = { get(index: number): unknown; destroy?: () => void };

/**
 * Top-level modules a task may not import: everything that reaches JavaScript (Pyodide's own
 * packages and the `js` module), `ctypes` (it calls Emscripten's `emscripten_run_script`, i.e.
 * JS `eval`), `gc` (it lists every live object, Pyodide's included) and CPython's test modules,
 * which Pyodide builds in (`_testcapi` and the like write anywhere in memory). This is the first
 * layer only: Python can rebuild builtin modules past any import hook, so the host must also leave
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
  '_testcapi',
  '_testinternalcapi',
  '_testlimitedcapi',
  '_testbuffer',
  '_testclinic',
  '_testclinic_limited',
  '_xxtestfuzz',
] as const;

/**
 * Standard-library modules imported once per interpreter, before the baseline is recorded: a task
 * that imports one finds it loaded (an import from the stdlib zip costs milliseconds, `statistics`
 * about 50 ms), and each reset returns it to its state at load. Pure computation only; each one adds
 * its attributes to the per-task reset (~12 ns per attribute) and to the worker's start.
 */
const warmPythonModules = [
  'array',
  'base64',
  'binascii',
  'bisect',
  'cmath',
  'collections',
  'collections.abc',
  'copy',
  'csv',
  'dataclasses',
  'datetime',
  'decimal',
  'enum',
  'fractions',
  'functools',
  'hashlib',
  'heapq',
  'itertools',
  'json',
  'math',
  'numbers',
  'operator',
  'pprint',
  'random',
  're',
  'statistics',
  'string',
  'struct',
  'textwrap',
  'typing',
  'unicodedata',
  'zlib',
] as const;

/**
 * Modules whose classes are checked after each task and put back if a task changed them
 * (`json.JSONEncoder.default = …`). Checking costs ~50 ns per class attribute, too much for every
 * class of the baseline (~10,000 attributes), so this is the harness's own dependencies (JSON out,
 * the seeded `random`, tracebacks) and small modules whose classes tasks use most.
 */
const watchedClassModules = [
  'json',
  'json.encoder',
  'json.decoder',
  'random',
  'traceback',
  'string',
  'textwrap',
  'fractions',
  'statistics',
  'csv',
] as const;

/**
 * Where a task may write: each is emptied after the task. The rest of the file system (the
 * standard library in `/lib`, `/dev`, the directories themselves) is read-only (`TaskFileSystem`).
 */
const writableDirectories = ['/tmp', '/home/pyodide', '/home/web_user', '/task'] as const;

/**
 * The task's monotonic clock, as WASI's in wasm tasks (`wasi-task.ts`): Emscripten reads it from
 * `performance.now()` for `time.monotonic()`, `perf_counter()`, `process_time()` and
 * `clock_gettime`, so during a task `performance.now()` starts at 0 and advances 1 µs per read.
 * Every run of a task reads the same values, and a timing loop still ends. `time.sleep()` waits on
 * this clock (Emscripten busy-waits): it returns once the virtual time has passed, after one read
 * per µs (~40 ms of real time per virtual second in Node).
 */
const CLOCK_STEP_MS = 0.001;

/**
 * Python side of the runner, evaluated once per warm interpreter. `_mm_setup` removes every way
 * to JavaScript that Python can name or reach (modules, Pyodide's import finders, what Pyodide
 * patched into the standard library, the JS objects its own modules hold), imports the warm
 * modules and records the baseline: what a task may change and `reset` puts back after each task
 * (the file system side is `TaskFileSystem`).
 *
 * What `reset` restores: `sys.modules` (modules the task imported go, replaced entries come back),
 * the attributes of every module (`math.pi = 3`, `random.seed = …`, new attributes: the dicts are
 * cleared and refilled, ~12 ns per attribute, cheaper than comparing them), module-level lists,
 * dicts and sets that changed size (registries such as `copyreg`, `warnings.filters`, and caches:
 * a regex a task compiled is not in `re`'s cache for the next task, which compiles it again), the
 * classes of `watchedClassModules`, the `__code__`/`__defaults__` of any function and the
 * `__class__` of any object (through an audit hook), `sys` settings and hooks (`settrace`,
 * `setprofile`, `sys.monitoring`, recursion limit, int digits), `sys.stdout`/`sys.stderr` (their
 * attributes and configuration), `random`'s generator, every `logging` logger, `decimal`'s
 * template contexts, `os.environ` and the locale. Each task also runs in a new `contextvars`
 * context (so `decimal.getcontext()` starts from the defaults). The audit hook also refuses
 * `sys.addaudithook`: a hook cannot be removed and would see every later task.
 *
 * What it does not: attributes of other objects reachable from a module (an instance's attributes,
 * classes outside `watchedClassModules`, a module-level container changed in place at the same
 * size, `functools.lru_cache` caches), C-level state (`codecs.register`, `atexit`, signal
 * handlers, `os.putenv`). Nor is it a defence against a task that attacks the harness itself: a
 * task can climb into the harness's frames (`sys._getframe(1).f_locals` writes closure cells since
 * PEP 667), and one that rebuilds `_ctypes` or `_testcapi` from the builtin importer reads and
 * writes the whole wasm memory.
 *
 * The harness keeps its own references (JSON, seeding, traceback formatting, builtins), so a task
 * that replaces `json.dumps` or `builtins.len` changes neither its output check nor other tasks.
 */
const HARNESS = `
def _mm_setup(blocked, warm, writable, class_modules, max_output):
    import sys, builtins, os, json, random, time, traceback, linecache, importlib, contextvars
    import types, collections
    from itertools import chain

    blocked = frozenset(blocked)

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in blocked:
                raise ModuleNotFoundError(
                    f"module {name!r} is not available to MonadMesh Python tasks", name=name)
            return None

    # Pyodide's own Python modules stay loaded (Pyodide uses them), out of sys.modules. Python can
    # still reach them (object.__subclasses__() -> a class -> a method's __globals__), so the JS
    # objects they hold go: Pyodide's JS API (its file system, mountNodeFS, setStdout, ...), the JS
    # global scope, the event loop's scheduler.
    js_proxy = sys.modules['pyodide.ffi'].JsProxy

    def scrub(d, depth):
        for key, value in list(d.items()):
            if isinstance(value, js_proxy):
                d[key] = None
            elif depth and type(value) is dict:
                scrub(value, depth - 1)
            elif depth and not isinstance(value, (type, types.ModuleType)) and \\
                    type(getattr(value, '__dict__', None)) is dict:
                scrub(value.__dict__, depth - 1)

    for name, module in list(sys.modules.items()):
        if name.split('.')[0] in blocked:
            if not isinstance(module, js_proxy):
                scrub(module.__dict__, 3)
            del sys.modules[name]

    def pyodides(obj):
        # A finder is a class (BuiltinImporter) or an instance: whose module defines it?
        module = getattr(obj, '__module__', None) if isinstance(obj, type) else type(obj).__module__
        return (module or '').split('.')[0] in blocked

    meta_path = [Blocker()] + [f for f in sys.meta_path if not pyodides(f)]
    sys.meta_path[:] = meta_path
    sys.path_hooks[:] = [h for h in sys.path_hooks if not pyodides(h)]
    # What Pyodide's start-up patched into the standard library (pyodide.webloop, _core_docs):
    # each leads to its modules, and from them to JavaScript.
    import asyncio, typing
    asyncio.events._event_loop_policy = None
    asyncio.run = getattr(asyncio.run, '__globals__', {}).get('_orig_run', asyncio.run)
    time.sleep = getattr(time.sleep, '__wrapped__', time.sleep)
    json.encoder._JSNULL = None
    for key in [k for k in typing._overload_registry if k.split('.')[0] in blocked]:
        del typing._overload_registry[key]

    for name in warm:
        importlib.import_module(name)
    import decimal, logging, warnings, locale

    # Emscripten's argv[0], the host's path to the worker script.
    os.environ.pop('_', None)
    for root in writable:
        os.makedirs(root, exist_ok=True)

    # ---- the baseline --------------------------------------------------------------------------
    sys_modules = sys.modules
    modules = dict(sys_modules)
    modules_len = len(modules)
    builtins_dict = builtins.__dict__
    builtins_snapshot = dict(builtins_dict)
    builtins_len = len(builtins_snapshot)
    module_dicts, seen = [], {id(builtins_dict)}
    for module in modules.values():
        d = getattr(module, '__dict__', None)
        if type(d) is dict and id(d) not in seen:
            seen.add(id(d))
            module_dicts.append((d, dict(d)))

    sys_lists = [(lst, list(lst)) for lst in (sys.meta_path, sys.path_hooks, sys.path)]
    filters = warnings.filters
    filters_snapshot = list(filters)
    filters_mutated = warnings._filters_mutated
    environ, environ_data = os.environ, os.environ._data
    environ_strings, environ_snapshot = dict(environ), dict(environ_data)
    # Restored on their own: sys's lists above, warnings' filters and the environment (through
    # os.environ, which also sets the C environment).
    seen.update(map(id, (sys_modules, sys.meta_path, sys.path_hooks, sys.path, filters,
                         environ_data)))
    containers = []
    kinds = {dict: 0, collections.OrderedDict: 0, collections.defaultdict: 0, set: 0,
             list: 1, collections.deque: 1}

    def watch(value):
        kind = kinds.get(type(value))
        if kind is not None and id(value) not in seen:
            seen.add(id(value))
            containers.append((value, len(value), kind, value.copy()))

    for d, snapshot in module_dicts:
        for value in snapshot.values():
            watch(value)
    # Objects whose own attributes tasks commonly change (print's stream, logging's configuration).
    objects = [sys.stdout, sys.stderr, random._inst, logging.root, logging.Logger.manager]
    objects += list(logging.Logger.manager.loggerDict.values())
    object_dicts = []
    for o in objects:
        d = getattr(o, '__dict__', None)
        if type(d) is dict and id(d) not in seen:
            seen.add(id(d))
            object_dicts.append((d, dict(d)))
            for value in d.values():
                watch(value)

    container_objects = [c for c, n, kind, snapshot in containers]
    container_lens = [n for c, n, kind, snapshot in containers]

    immutable_type = 1 << 8
    classes = {}
    for name in class_modules:
        for value in vars(sys_modules[name]).values():
            if isinstance(value, type) and not value.__flags__ & immutable_type:
                classes[id(value)] = value
    class_snapshots = [(c, c.__dict__, dict(c.__dict__)) for c in classes.values()]
    class_proxies = [proxy for c, proxy, snapshot in class_snapshots]
    class_lens = [len(snapshot) for c, proxy, snapshot in class_snapshots]
    class_values = [v for c, proxy, snapshot in class_snapshots for v in snapshot.values()]

    decimal_contexts = [(c, repr(c), c.copy()) for c in
                        (decimal.DefaultContext, decimal.BasicContext, decimal.ExtendedContext)]
    setlocale, LC_ALL = locale.setlocale, locale.LC_ALL
    locale_name = setlocale(LC_ALL)
    getrecursionlimit, setrecursionlimit = sys.getrecursionlimit, sys.setrecursionlimit
    recursion_limit = getrecursionlimit()
    get_int_max_str_digits, set_int_max_str_digits = sys.get_int_max_str_digits, sys.set_int_max_str_digits
    int_digits = get_int_max_str_digits()
    get_tool, clear_tool, free_tool = (
        sys.monitoring.get_tool, sys.monitoring.clear_tool_id, sys.monitoring.free_tool_id)
    free_tools = [t for t in range(6) if get_tool(t) is None]
    line_cache = linecache.cache

    # ---- private references -----------------------------------------------------------------
    stdout, stderr = sys.stdout, sys.stderr
    streams = [(s, (s.encoding, s.errors, s.line_buffering, s.write_through)) for s in (stdout, stderr)]
    dumps, loads, fmt = json.dumps, json.loads, traceback.format_exception
    seed_random = random.seed
    settrace, setprofile = sys.settrace, sys.setprofile
    Context, missing = contextvars.Context, object()
    type_setattr, type_delattr, object_setattr = type.__setattr__, type.__delattr__, object.__setattr__
    # Type checks the harness makes on a task's values use these, not the task's builtins.
    _len, _type, _callable, _isinstance = len, type, callable, isinstance
    _BaseException, _MemoryError = BaseException, MemoryError

    # ---- the audit hook -----------------------------------------------------------------------
    # Functions and the class of objects: CPython raises 'object.__setattr__' before it changes
    # them, so the hook records the value as it was and reset puts it back. It runs nothing of
    # the task's (no method of an argument is called) and uses only its default arguments.
    undo = {}
    function_attrs = {name: types.FunctionType.__dict__[name]
                      for name in ('__code__', '__defaults__', '__kwdefaults__')}

    def audit(event, args, undo=undo, attrs=function_attrs, function=types.FunctionType,
              type=type, str=str, id=id, len=len,
              watched=frozenset(('object.__setattr__', 'object.__delattr__'))):
        if event == 'sys.addaudithook':
            # A RuntimeError here makes sys.addaudithook a silent no-op.
            raise RuntimeError('audit hooks are not available to MonadMesh Python tasks')
        if event not in watched or len(args) < 2:
            return
        obj, name = args[0], args[1]
        if type(name) is not str:
            return
        key = (id(obj), name)
        if key in undo:
            return
        if name == '__class__':
            undo[key] = (obj, name, type(obj))
        elif type(obj) is function and name in attrs:
            undo[key] = (obj, name, attrs[name].__get__(obj))

    sys.addaudithook(audit)

    # ---- after each task ----------------------------------------------------------------------
    def reset():
        # The task's hooks first, so nothing of the task runs during the rest of the reset; then
        # builtins, which the rest looks up. Everything else is reached through references taken
        # at setup, not through module attributes the task may have replaced.
        settrace(None)
        setprofile(None)
        for tool in free_tools:
            if get_tool(tool) is not None:
                clear_tool(tool)
                free_tool(tool)
        builtins_dict.update(builtins_snapshot)
        if _len(builtins_dict) != builtins_len:
            for name in [n for n in builtins_dict if n not in builtins_snapshot]:
                del builtins_dict[name]
        sys_modules.update(modules)
        if _len(sys_modules) != modules_len:
            for name in [n for n in sys_modules if n not in modules]:
                del sys_modules[name]
        for original, snapshot in sys_lists:
            original[:] = snapshot
        line_cache.pop('<task>', None)
        if filters != filters_snapshot:
            filters[:] = filters_snapshot
            filters_mutated()
        if list(map(_len, container_objects)) != container_lens:
            for c, n, kind, snapshot in containers:
                if _len(c) != n:
                    c.clear()
                    if kind:
                        c.extend(snapshot)
                    else:
                        c.update(snapshot)
        if list(map(_len, class_proxies)) != class_lens or \\
                list(chain.from_iterable([p.values() for p in class_proxies])) != class_values:
            for c, proxy, snapshot in class_snapshots:
                for name in [n for n in proxy if n not in snapshot]:
                    type_delattr(c, name)
                for name, value in snapshot.items():
                    if proxy.get(name, missing) is not value:
                        type_setattr(c, name, value)
        if undo:
            for obj, name, value in reversed(list(undo.values())):
                try:
                    if name == '__class__':
                        object_setattr(obj, name, value)
                    else:
                        function_attrs[name].__set__(obj, value)
                except Exception:
                    pass  # an object of the task's, which it left in a state that cannot go back
            undo.clear()
        for d, snapshot in object_dicts:
            d.clear()
            d.update(snapshot)
        for stream, config in streams:
            if (stream.encoding, stream.errors, stream.line_buffering, stream.write_through) != config:
                stream.reconfigure(encoding=config[0], errors=config[1], line_buffering=config[2],
                                   write_through=config[3])
        for c, text, snapshot in decimal_contexts:
            if repr(c) != text:
                c.prec, c.rounding, c.Emin, c.Emax = (
                    snapshot.prec, snapshot.rounding, snapshot.Emin, snapshot.Emax)
                c.capitals, c.clamp = snapshot.capitals, snapshot.clamp
                c.traps.update(snapshot.traps)
                c.flags.update(snapshot.flags)
        if environ_data != environ_snapshot:
            environ.clear()
            environ.update(environ_strings)
        if setlocale(LC_ALL) != locale_name:
            setlocale(LC_ALL, locale_name)
        if getrecursionlimit() != recursion_limit:
            setrecursionlimit(recursion_limit)
        if get_int_max_str_digits() != int_digits:
            set_int_max_str_digits(int_digits)
        # Last, as it touches every module: their attributes (clear + update copies the
        # snapshot's hash table whole, ~12 ns per attribute, cheaper than comparing).
        for d, snapshot in module_dicts:
            d.clear()
            d.update(snapshot)

    def run(code, input_json, seed, clock_ms):
        seed_random(seed)
        time.time = lambda: clock_ms / 1000
        time.time_ns = lambda: int(clock_ms) * 1_000_000
        namespace = {'__name__': '__task__', '__builtins__': builtins}
        # Tracebacks quote the task's source lines, as CPython does for a file.
        line_cache['<task>'] = (len(code), None, code.splitlines(True), '<task>')
        context = Context()
        main = error = None
        try:
            compiled = compile(code, '<task>', 'exec')
            context.run(exec, compiled, namespace)
            main = namespace.get('main')
            if _callable(main):
                output = context.run(main, loads(input_json))
        except _BaseException as e:
            error = e
        # From here on the harness's code runs: without the task's hooks and builtins.
        settrace(None)
        setprofile(None)
        builtins_dict.update(builtins_snapshot)
        sys.stdout, sys.stderr = stdout, stderr
        try:
            if error is not None:
                # Skip the harness's own frame: the trace starts in the task.
                lines = fmt(_type(error), error, error.__traceback__.tb_next)
                return ('M' if _isinstance(error, _MemoryError) else 'U') + ''.join(lines)[-8000:]
            if not _callable(main):
                return 'U' + 'the code must define main(input)'
            try:
                text = dumps(output, allow_nan=False, separators=(',', ':'), ensure_ascii=False)
            except _BaseException as e:
                return 'I' + f'the output of main is not JSON: {e}'
            if _len(text.encode('utf-8')) > max_output:
                return 'I' + f'the output exceeds {max_output} bytes'
            return 'O' + text
        finally:
            # Frees the task's globals now (main and its module form a cycle).
            namespace.clear()

    reset()
    return run, reset
`;

/**
 * The file system side of the reset, in JS, where it costs a few µs: Emscripten's FS is what
 * Python's `open`, `os.remove`, `os.rename`, … all go through.
 *
 * At start, everything but `writable` (and what is below them) becomes read-only: the standard
 * library (`/lib/python314.zip`), `/dev`, the directories themselves. Emscripten checks mode bits
 * (it ignores the owner: root is not special), so files lose their write bits and directories
 * become 0o555; `chmod`, `utime` and `truncate` go through a node's `setattr`, which Emscripten
 * does not check, so each locked node (the writable directories too) gets one that refuses
 * (EPERM). Devices keep their modes (`/dev/null` stays writable); mounts other than the root
 * (`/proc/self/fd`) are left alone. Times are 0 (they were the worker's start). After each task,
 * `reset` closes the files the task left open, empties the writable directories (all that is in
 * them is the task's), puts their times and the next inode number back (a task sees the same
 * `os.stat` whatever ran before it) and goes back to `/task`.
 */
class TaskFileSystem {
  readonly #fs: EmscriptenFs;
  readonly #writable: readonly string[];
  readonly #roots: EmscriptenFsNode[];
  readonly #descriptors: ReadonlySet<number>;
  readonly #nextInode: number;

  constructor(fs: EmscriptenFs, writable: readonly string[]) {
    this.#fs = fs;
    this.#writable = writable;
    this.#descriptors = new Set(fs.streams.flatMap((stream, fd) => (stream ? [fd] : [])));
    const refuse = () => {
      throw new fs.ErrnoError(63); // EPERM
    };
    const lock = (path: string) => {
      const { node } = fs.lookupPath(path, { follow: false });
      if (node.mount.mountpoint !== '/') return;
      node.node_ops = { ...node.node_ops, setattr: refuse };
      node.atime = node.mtime = node.ctime = 0;
      if (writable.includes(path)) return;
      if (fs.isDir(node.mode)) {
        for (const name of this.#entries(path)) lock(path === '/' ? `/${name}` : `${path}/${name}`);
        node.mode = (node.mode & ~0o7777) | 0o555;
      } else if (fs.isFile(node.mode)) {
        node.mode &= ~0o222;
      }
    };
    lock('/');
    fs.chdir('/task');
    this.#roots = writable.map((path) => fs.lookupPath(path).node);
    this.#nextInode = fs.nextInode;
  }

  reset(): void {
    const fs = this.#fs;
    fs.streams.forEach((stream, fd) => {
      if (stream && !this.#descriptors.has(fd)) fs.close(stream);
    });
    if (fs.cwd() !== '/task') fs.chdir('/task');
    const remove = (path: string) => {
      if (fs.isDir(fs.lookupPath(path, { follow: false }).node.mode)) {
        fs.chmod(path, 0o700); // the task may have taken its own permissions away
        for (const name of this.#entries(path)) remove(`${path}/${name}`);
        fs.rmdir(path);
      } else {
        fs.unlink(path);
      }
    };
    for (const root of this.#writable) for (const name of this.#entries(root)) remove(`${root}/${name}`);
    for (const root of this.#roots) root.atime = root.mtime = root.ctime = 0;
    fs.nextInode = this.#nextInode;
  }

  #entries(path: string): string[] {
    return this.#fs.readdir(path).filter((name) => name !== '.' && name !== '..');
  }
}

/**
 * Runs Python tasks in one warm Pyodide: each task's code is executed in fresh globals and its
 * `main(input)` called; stdout and stderr go to the task's logs. `random` is seeded from the task
 * seed, `time.time()` and `datetime.now()` return the task clock, and the monotonic clocks are
 * virtual (`CLOCK_STEP_MS`). After each task the interpreter is reset to its baseline (see
 * `HARNESS`); if that fails, the sandbox is `broken` and the worker retires.
 *
 * @example
 * const sandbox = PythonSandbox.prepare(await loadPyodide({ jsglobals: {} }));
 * const result = sandbox.run({ type: 'run.python', id: 't1', code: 'def main(x): return x + 1',
 *   codeCid, inputJson: '41', seed: 's', clock: 0 });
 */
export class PythonSandbox {
  readonly #run: PyCallable;
  readonly #reset: PyCallable;
  readonly #files: TaskFileSystem;
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
    const lists = [blockedPythonModules, warmPythonModules, writableDirectories, watchedClassModules].map(
      (list) => pyodide.toPy([...list]) as PyTuple,
    );
    const functions = setup(...lists, limits.maxOutputBytes) as PyTuple;
    this.#run = functions.get(0) as PyCallable;
    this.#reset = functions.get(1) as PyCallable;
    for (const proxy of [functions, setup, ...lists]) proxy.destroy?.();
    this.#files = new TaskFileSystem(pyodide.FS, writableDirectories);
  }

  /** Takes over a freshly loaded Pyodide (its stdout/stderr, import machinery and file system). */
  static prepare(pyodide: PyodideLike): PythonSandbox {
    return new PythonSandbox(pyodide);
  }

  /**
   * The worker must be replaced: a task made JavaScript throw through Pyodide (e.g. reached `eval`
   * through `ctypes`), which leaves Pyodide in a fatal state, or the reset after a task failed.
   */
  get broken(): boolean {
    return this.#broken;
  }

  run(task: SandboxRunPython): SandboxResult {
    if (this.#broken) throw new Error('Pyodide is broken by an earlier task');
    const logs = new LogBuffer(logSinkFor(task.logMirror));
    this.#logs = logs;
    const started = realNow();
    // Emscripten's clocks are JS: realtime is `Date.now()` (so `datetime.now()` reads the task
    // clock too), monotonic is `performance.now()` (virtual, see CLOCK_STEP_MS).
    const { now: dateNow } = Date;
    const { now: performanceNow } = performance;
    let reads = 0;
    Date.now = () => task.clock;
    performance.now = () => ++reads * CLOCK_STEP_MS;
    let answer: string;
    try {
      answer = String(this.#run(task.code, task.inputJson, task.seed, task.clock));
    } catch (error) {
      this.#broken = true;
      answer = `N${String(error).slice(0, 2000)}`;
    } finally {
      Date.now = dateNow;
      performance.now = performanceNow;
      this.#logs = undefined;
    }
    if (!this.#broken) {
      try {
        this.#reset();
        this.#files.reset();
      } catch {
        this.#broken = true;
      }
    }
    const durationMs = realNow() - started;
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
