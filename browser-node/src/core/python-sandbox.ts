import { limits } from '../../../protocol/limits.ts';
import type { SandboxError, SandboxResult, SandboxRunPython } from '../../../protocol/sandbox.ts';
import { LogBuffer, logSinkFor } from './task-logs.ts';

const realNow = performance.now.bind(performance);
const realDateNow = Date.now;

/** The running task's clocks, or none between tasks (see `installTaskClocks`). */
let taskClock: { date: number; reads: number } | undefined;

/**
 * Emscripten's clocks are JS: realtime is `Date.now()` (so `datetime.now()` reads the task clock
 * too), monotonic is `performance.now()` (virtual, see CLOCK_STEP_MS). They are replaced once,
 * before `sealJavaScriptBehindPython` freezes `Date`, by functions that read the running task's.
 */
function installTaskClocks(): void {
  if (Date.now !== realDateNow) return;
  Date.now = () => (taskClock ? taskClock.date : realDateNow());
  performance.now = () => (taskClock ? ++taskClock.reads * CLOCK_STEP_MS : realNow());
}

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
  runPython(code: string, options?: { globals?: unknown; filename?: string }): unknown;
  toPy(value: unknown): unknown;
  setStdout(options: { write: (bytes: Uint8Array) => number }): void;
  setStderr(options: { write: (bytes: Uint8Array) => number }): void;
  FS: EmscriptenFs;
  /** The Emscripten module: its memory, where the builtin module table is (`unlinkBuiltinModules`). */
  _module?: EmscriptenHeap;
}

export interface EmscriptenHeap {
  HEAPU8: Uint8Array;
  HEAP32: Int32Array;
  _malloc(bytes: number): number;
}

/** A Python object as Pyodide hands it to JS: callable if it is a function, `get` if a tuple. */
type PyCallable = ((...args: unknown[]) => unknown) & { destroy?: () => void };
type PyTuple = { get(index: number): unknown; destroy?: () => void };
type PyList = { toJs(): string[]; destroy?: () => void };
/** A Python generator as Pyodide hands it to JS: `next(value)` is `gen.send(value)`. */
type PyGenerator = { next(value?: unknown): { done: boolean; value: unknown }; destroy?: () => void };

/** The file name of the harness's code: the audit hook knows a harness frame by it. */
const HARNESS_FILE = '<monadmesh-harness>';

/**
 * Top-level modules a task may not import: everything that reaches JavaScript (Pyodide's own
 * packages and the `js` module), `ctypes` (it calls Emscripten's `emscripten_run_script`, i.e.
 * JS `eval`), `gc` (it lists every live object, Pyodide's included) and CPython's test modules,
 * which Pyodide builds in (`_testcapi` and the like write anywhere in memory). This is the first
 * layer: Python can rebuild builtin modules past any import hook, so they are also taken out of the
 * interpreter's builtin table (`unlinkBuiltinModules`), and the host leaves nothing behind them
 * (`sealJavaScriptBehindPython`: no `eval`, no `Function`, frozen built-ins).
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
 * Takes builtin modules out of CPython's reach for good, beneath Python: `import` can be
 * blocked by a finder, but `BuiltinImporter.create_module` (i.e. `_imp.create_builtin`) builds
 * any module of the interpreter's builtin table, and no audit event says so. So in the wasm
 * memory, each `names` entry of the table (`PyImport_Inittab` and the runtime's copies: arrays
 * of {const char *name; initfunc}) gets a name no Python string can equal (it starts with 0xFF,
 * which UTF-8 never holds), and the extension cache's key of a single-phase module already loaded
 * (`"name:name"`, which `create_builtin` consults first; `_pyodide_core` is one) is spoilt
 * the same way. `create_builtin` then finds nothing and the importer makes an empty module.
 *
 * Nothing exported names these structures, so they are found by content: the table by the
 * address of a name only it holds, walked both ways while each entry names a builtin module.
 * It throws if no table is found (a Pyodide whose layout changed must not start unprotected);
 * `python-sandbox-escape.test.ts` rebuilds every blocked module and fails if one comes back.
 * Costs ~0.2 s per interpreter start in Node (searches of the ~30 MB heap; it was ~1 s while it
 * decoded the whole heap to a string; measured 2026-12-06).
 */
export function unlinkBuiltinModules(
  module: EmscriptenHeap,
  builtinNames: readonly string[],
  names: readonly string[],
): { entries: number; cacheKeys: number } {
  const blocked = new Set(names.filter((name) => builtinNames.includes(name)));
  // Allocated first: a malloc may grow the memory, which replaces the heap views.
  const nowhere = module._malloc(2);
  const heap = module.HEAPU8;
  const words = module.HEAP32;
  heap[nowhere] = 0xff;
  heap[nowhere + 1] = 0;
  const known = new Set(builtinNames);
  // Names are ASCII C strings: read in place (decoding the whole heap to search it cost ~0.9 s).
  const nameAt = (address: number): string | undefined => {
    if (address <= 0 || address >= heap.length) return undefined;
    const end = heap.indexOf(0, address);
    return end < 0 || end - address > 64 ? undefined : String.fromCharCode(...heap.subarray(address, end));
  };
  const occurrences = (needle: string) => {
    const bytes = Array.from(needle, (c) => c.charCodeAt(0));
    const found: number[] = [];
    for (let at = heap.indexOf(bytes[0]!); at >= 0; at = heap.indexOf(bytes[0]!, at + 1)) {
      let k = 1;
      while (k < bytes.length && heap[at + k] === bytes[k]) k++;
      if (k === bytes.length) found.push(at);
    }
    return found;
  };
  // A name that only the table should point to, whichever modules this build has.
  const anchor = ['_testinternalcapi', '_ctypes', 'gc'].find((name) => known.has(name));
  if (!anchor) throw new Error('cannot find the builtin module table: no known module to look for');
  const anchors = new Set(occurrences(`${anchor}\0`));
  let entries = 0;
  const tables = new Set<number>();
  // Every word that holds an anchor's address (a native search per anchor, not a scan in JS).
  const holders: number[] = [];
  for (const anchorAt of anchors) {
    for (let at = words.indexOf(anchorAt); at >= 0; at = words.indexOf(anchorAt, at + 1)) holders.push(at);
  }
  for (const word of holders.sort((a, b) => a - b)) {
    let start = word;
    while (start >= 2 && known.has(nameAt(words[start - 2]!) ?? '')) start -= 2;
    if (tables.has(start)) continue;
    const table: number[] = [];
    for (let at = start; at < words.length && words[at] !== 0; at += 2) {
      if (!known.has(nameAt(words[at]!) ?? '')) break;
      table.push(at);
    }
    // A table names (nearly) every builtin module; anything else that points at the name is not one.
    if (table.length < builtinNames.length * 0.9) continue;
    tables.add(start);
    for (const at of table) {
      if (blocked.has(nameAt(words[at]!)!)) {
        words[at] = nowhere;
        entries++;
      }
    }
  }
  if (entries === 0) throw new Error(`cannot find the builtin module table (looked for ${anchor})`);
  let cacheKeys = 0;
  for (const name of blocked) {
    for (const at of occurrences(`${name}:${name}\0`)) {
      heap[at] = 0xff;
      cacheKeys++;
    }
  }
  return { entries, cacheKeys };
}

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
 * handlers, `os.putenv`).
 *
 * Against a task that attacks the harness itself: the task's code runs on no harness frame but
 * `call`'s (see `run`), `sys._getframe` refuses that one, the modules that read or write
 * memory behind Python (`_ctypes`, `_testcapi` and the other test modules, `gc`,
 * `_pyodide_core`) cannot be rebuilt (`unlinkBuiltinModules`), and the audit hook refuses
 * every ctypes event and gc's object walks should one be reached anyway. What remains: a task's
 * object whose `__del__` or weakref callback runs while the harness's own code runs (the reset
 * freeing the task's values) can follow `f_back` (which CPython does not audit) into that
 * harness frame and change its closure cells, i.e. the baseline of the next tasks of the same
 * interpreter. An interpreter runs the tasks of one job only, so that reaches the job's own tasks
 * and no one else's.
 *
 * The harness keeps its own references (JSON, seeding, traceback formatting, builtins), so a task
 * that replaces `json.dumps` or `builtins.len` changes neither its output check nor other tasks.
 */
const HARNESS = `
def _mm_setup(blocked, warm, writable, class_modules, max_output, harness_file):
    import sys, builtins, os, json, random, time, traceback, linecache, importlib, contextvars
    import types, collections, functools
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
    loads, fmt = json.loads, traceback.format_exception
    to_json = functools.partial(json.dumps, allow_nan=False, separators=(',', ':'), ensure_ascii=False)
    traceback_of = BaseException.__dict__['__traceback__'].__get__
    seed_random = random.seed
    settrace, setprofile = sys.settrace, sys.setprofile
    Context, missing = contextvars.Context, object()
    type_setattr, type_delattr, object_setattr = type.__setattr__, type.__delattr__, object.__setattr__
    # Type checks the harness makes on a task's values use these, not the task's builtins.
    _len, _type, _callable, _issubclass = len, type, callable, issubclass
    _BaseException, _MemoryError = BaseException, MemoryError

    # ---- the audit hook -----------------------------------------------------------------------
    # Functions and the class of objects: CPython raises 'object.__setattr__' before it changes
    # them, so the hook records the value as it was and reset puts it back. It runs nothing of
    # the task's (no method of an argument is called) and uses only its default arguments.
    undo = {}
    function_attrs = {name: types.FunctionType.__dict__[name]
                      for name in ('__code__', '__defaults__', '__kwdefaults__')}

    # It also refuses what reads or writes memory or objects behind Python's back, should a task
    # get hold of such a module anyway (the JS side unlinks them from the builtin table:
    # \`unlinkBuiltinModules\`): every ctypes event (loading a library, a foreign call, an object
    # at an address), gc's walks over every object, and sys._getframe returning a harness frame.
    refused_events = {
        'sys.addaudithook': 'audit hooks',
        'gc.get_objects': 'gc.get_objects',
        'gc.get_referrers': 'gc.get_referrers',
        'gc.get_referents': 'gc.get_referents',
    }

    def audit(event, args, undo=undo, attrs=function_attrs, function=types.FunctionType,
              type=type, str=str, id=id, len=len, refused=refused_events, harness=harness_file,
              watched=frozenset(('object.__setattr__', 'object.__delattr__'))):
        if event in refused or event.startswith('ctypes.'):
            # A RuntimeError here makes sys.addaudithook a silent no-op; elsewhere it is raised.
            raise RuntimeError(f'{refused.get(event, event)} is not available to MonadMesh Python tasks')
        if event == 'sys._getframe':
            if args[0].f_code.co_filename == harness:
                raise RuntimeError('the frames below a task are not available to MonadMesh Python tasks')
            return
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

    # ---- a task -----------------------------------------------------------------------------
    # The task's code never runs below a frame of the harness: \`run\` is a generator that the JS
    # side drives, and each step that runs task code (the module, main, and the conversions that
    # may call the task's methods: the output to JSON, an exception to text) is yielded to JS,
    # which calls it through \`call\` while the generator is suspended. So a task's frames sit on
    # \`call\`'s frame only (it holds the step, nothing else) and that on nothing: \`f_back\` and
    # tracebacks lead nowhere, and \`sys._getframe\` refuses the one harness frame (audit hook).
    def run(code, input_json, seed, clock_ms):
        seed_random(seed)
        time.time = lambda: clock_ms / 1000
        time.time_ns = lambda: int(clock_ms) * 1_000_000
        namespace = {'__name__': '__task__', '__builtins__': builtins}
        # Tracebacks quote the task's source lines, as CPython does for a file.
        line_cache['<task>'] = (len(code), None, code.splitlines(True), '<task>')
        run_in = Context().run
        main = error = None
        try:
            try:
                compiled = compile(code, '<task>', 'exec')
            except _BaseException as e:
                error = e
            if error is None:
                ok, value = yield (run_in, exec, compiled, namespace)
                if not ok:
                    error = value
            if error is None:
                main = namespace.get('main')
                if _callable(main):
                    ok, output = yield (run_in, main, loads(input_json))
                    if not ok:
                        error = output
            # From here on the harness's code runs: without the task's hooks and builtins.
            settrace(None)
            setprofile(None)
            builtins_dict.update(builtins_snapshot)
            sys.stdout, sys.stderr = stdout, stderr
            if error is not None:
                # The trace starts in the task (a compile error has no frame of the task). What
                # the harness reads of the task's exception it reads through C-level descriptors,
                # which no attribute or metaclass of the task's can intercept.
                tb = traceback_of(error)
                ok, lines = yield (fmt, _type(error), error, tb if tb is None else tb.tb_next)
                text = ''.join(lines)[-8000:] if ok else 'an exception whose message could not be formatted'
                return ('M' if _issubclass(_type(error), _MemoryError) else 'U') + text
            if not _callable(main):
                return 'U' + 'the code must define main(input)'
            ok, text = yield (to_json, output)
            if not ok:
                ok, message = yield (str, text)
                return 'I' + f"the output of main is not JSON: {message if ok else 'its error could not be formatted'}"
            if _len(text.encode('utf-8')) > max_output:
                return 'I' + f'the output exceeds {max_output} bytes'
            return 'O' + text
        finally:
            # Frees the task's globals now (main and its module form a cycle).
            namespace.clear()

    # \`run\`'s steps are called through this, from JS: its own globals, the exception class a
    # default argument (the task may replace builtins.BaseException).
    call_globals = {'__builtins__': builtins}
    exec(compile(
        'def call(step, E=BaseException):\\n'
        '    try:\\n'
        '        return (True, step[0](*step[1:]))\\n'
        '    except E as e:\\n'
        '        return (False, e)\\n', harness_file, 'exec'), call_globals)
    call = call_globals.pop('call')

    reset()
    return run, reset, call
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
  readonly #call: PyCallable;
  readonly #files: TaskFileSystem;
  #logs: LogBuffer | undefined;
  #broken = false;

  private constructor(pyodide: PyodideLike) {
    installTaskClocks();
    const decoder = new TextDecoder();
    const write = (bytes: Uint8Array) => {
      this.#logs?.append(decoder.decode(bytes, { stream: true }));
      return bytes.length;
    };
    pyodide.setStdout({ write });
    pyodide.setStderr({ write });
    if (pyodide._module) {
      const names = pyodide.runPython('import sys; list(sys.builtin_module_names)') as PyList;
      const all = names.toJs();
      names.destroy?.();
      unlinkBuiltinModules(pyodide._module, all, blockedPythonModules);
    }
    const namespace = pyodide.toPy({});
    pyodide.runPython(HARNESS, { globals: namespace, filename: HARNESS_FILE });
    const setup = pyodide.runPython('_mm_setup', {
      globals: namespace,
      filename: HARNESS_FILE,
    }) as PyCallable;
    const lists = [blockedPythonModules, warmPythonModules, writableDirectories, watchedClassModules].map(
      (list) => pyodide.toPy([...list]) as PyTuple,
    );
    const functions = setup(...lists, limits.maxOutputBytes, HARNESS_FILE) as PyTuple;
    this.#run = functions.get(0) as PyCallable;
    this.#reset = functions.get(1) as PyCallable;
    this.#call = functions.get(2) as PyCallable;
    for (const proxy of [functions, setup, namespace as PyTuple, ...lists]) proxy.destroy?.();
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
    taskClock = { date: task.clock, reads: 0 };
    let answer: string;
    // `run` is a generator: it yields each step that runs the task's code, which is called here,
    // through `call`, while it is suspended (see HARNESS), and returns the answer.
    const steps = this.#run(task.code, task.inputJson, task.seed, task.clock) as PyGenerator;
    try {
      let next = steps.next();
      while (!next.done) {
        const step = next.value as PyTuple;
        const outcome = this.#call(step) as PyTuple;
        step.destroy?.();
        next = steps.next(outcome);
        outcome.destroy?.();
      }
      answer = String(next.value);
    } catch (error) {
      // Python raised into JS: the task broke `call` itself (e.g. ran out of memory inside it),
      // or JavaScript threw through Pyodide (`eval` reached through ctypes). Pyodide may be in a
      // fatal state: this interpreter runs no more tasks.
      this.#broken = true;
      const text = String(error).slice(0, 2000);
      answer = /\bMemoryError\b/.test(text) ? `M${text}` : `N${text}`;
    } finally {
      steps.destroy?.();
      taskClock = undefined;
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
  // The JavaScript built-ins, frozen with their prototypes (as SES's lockdown does for JS tasks,
  // which Pyodide cannot load under): a JS object that Python got hold of (a rebuilt `to_js`)
  // cannot change how the runner, Pyodide or a later task's conversions behave.
  // Freezing a prototype makes its properties read-only for every object that inherits them
  // (assigning `obj.constructor = …` then throws: Pyodide's proxies do): as SES does, these few
  // become accessors whose setter gives the object its own property instead.
  const overridable = ['constructor', 'toString', 'toLocaleString', 'valueOf', 'name', 'message'];
  const frozen = new Set<unknown>();
  const freeze = (value: unknown) => {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null || frozen.has(value))
      return;
    frozen.add(value);
    if (Object.hasOwn(value, 'constructor')) {
      for (const key of overridable) {
        const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
        if (!descriptor || !('value' in descriptor) || !descriptor.configurable) continue;
        const own: unknown = descriptor.value;
        Object.defineProperty(value, key, {
          get: () => own,
          set(this: object, replacement: unknown) {
            if (this === value) throw new TypeError(`${key} of a frozen built-in cannot change`);
            Object.defineProperty(this, key, {
              value: replacement,
              writable: true,
              enumerable: true,
              configurable: true,
            });
          },
          enumerable: descriptor.enumerable ?? false,
          configurable: false,
        });
        freeze(own);
      }
    }
    Object.freeze(value);
    freeze(Object.getPrototypeOf(value));
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
      if (descriptor && 'value' in descriptor) freeze(descriptor.value);
    }
  };
  const typedArray = Object.getPrototypeOf(Uint8Array);
  for (const intrinsic of [
    Object,
    Function,
    Array,
    String,
    Number,
    Boolean,
    Symbol,
    BigInt,
    Date,
    RegExp,
    Promise,
    Map,
    Set,
    WeakMap,
    WeakSet,
    WeakRef,
    FinalizationRegistry,
    Proxy,
    Reflect,
    JSON,
    Math,
    Atomics,
    ArrayBuffer,
    SharedArrayBuffer,
    DataView,
    typedArray,
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
    Error,
    TypeError,
    RangeError,
    SyntaxError,
    ReferenceError,
    EvalError,
    URIError,
    AggregateError,
    WebAssembly,
    Object.getPrototypeOf(function* () {}),
    Object.getPrototypeOf(async function* () {}),
    Object.getPrototypeOf([][Symbol.iterator]()),
  ]) {
    freeze(intrinsic);
  }
}
