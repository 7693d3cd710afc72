import { limits } from '../../../protocol/limits.ts';
import type { SandboxError, SandboxResult, SandboxRun } from '../../../protocol/sandbox.ts';
import { type CompiledJsModule, compileJsModule, JsModuleError } from './js-module.ts';
import { seededUint32 } from './seeded-random.ts';
import { LogBuffer, logSinkFor, utf8Length } from './task-logs.ts';

/**
 * Runs JS tasks inside a worker (a `worker_threads` worker or a Web Worker) after SES `lockdown()`.
 * Runtime-agnostic: it needs only the SES globals, `performance`, `TextEncoder`/`TextDecoder` and
 * `setTimeout` (or an injected `macrotask`), so both hosts share it. Sources are compiled here
 * (`js-module.ts`) and cached by code CID. The worker is the resource boundary (the host kills it on timeout or memory); the
 * Compartment is the authority boundary: each task gets a NEW compartment whose only powers are
 * the endowments below, all hardened, over intrinsics that lockdown has frozen. The endowments
 * (`console`, `Date`, `Math`) are made and hardened once per worker and read the running task's
 * context (its log buffer, clock and seeded generator) from the host: frozen, they hold no state
 * a task could leave for the next, and only one task's code runs at a time (the microtasks a task
 * leaves are drained before the next starts, and no endowment can schedule later work). Making
 * them per task cost about a third of a trivial task's time.
 *
 * @example
 * lockdown(sandboxLockdownOptions);
 * const sandbox = new JsSandbox();
 * port.on('message', async (raw) => port.postMessage(await sandbox.run(SandboxRun.parse(raw))));
 */
export class JsSandbox {
  readonly #cache = new Map<string, { code: string; compiled: CompiledJsModule | JsModuleError }>();
  readonly #cacheSize: number;
  readonly #macrotask: () => Promise<void>;
  /** The running task's context, which the shared endowments read. */
  #task: TaskContext | undefined;
  #endowments: Record<string, unknown> | undefined;

  constructor(options: JsSandboxOptions = {}) {
    this.#cacheSize = options.cacheSize ?? 32;
    this.#macrotask = options.macrotask ?? (() => new Promise((resolve) => setTimeout(resolve, 0)));
  }

  /** Runs one task. Never rejects: every failure is a result with `ok: false`. */
  async run(task: SandboxRun): Promise<SandboxResult> {
    let result: SandboxResult;
    try {
      result = await this.#run(task);
    } catch (error) {
      result = {
        ...failure(task.id, '', 0),
        error: { kind: 'node_error', message: `sandbox bug: ${describe(error)}` },
      };
    }
    // The result is complete (every read of a user value, e.g. a thrown object's getters, is
    // done). Now let the microtasks the task left behind run out, so that a task that keeps the
    // queue busy after returning is charged (as its own timeout) instead of the next task.
    await this.#macrotask();
    this.#task = undefined;
    return result;
  }

  async #run(task: SandboxRun): Promise<SandboxResult> {
    const logs = new LogBuffer(logSinkFor(task.logMirror));
    let durationMs = 0;
    const fail = (error: SandboxError): SandboxResult => ({
      ...failure(task.id, logs.text(), durationMs),
      error: bounded(error),
    });

    const ses = sesGlobals();
    if (!ses) return fail({ kind: 'node_error', message: 'the sandbox worker did not run SES lockdown()' });

    const compiled = this.#compile(task.code, task.codeCid);
    if (compiled instanceof JsModuleError) return fail({ kind: 'user_error', message: compiled.message });

    let compartment: SesCompartment;
    let harness: Harness;
    try {
      this.#task = { logs, compiled, clock: task.clock, next: seededUint32(task.seed) };
      this.#endowments ??= sharedEndowments(ses, () => this.#task);
      compartment = makeCompartment(ses, this.#endowments);
      harness = compartment.evaluate(HARNESS_SOURCE) as Harness;
    } catch (error) {
      return fail({ kind: 'node_error', message: `cannot set up the sandbox: ${describe(error)}` });
    }

    const started = performance.now();
    let outcome: HarnessOutcome;
    try {
      // SES rejects, before running anything, source text that merely looks like `import(`,
      // an HTML comment or a direct `eval(` (even in strings); that throws here, synchronously.
      const exports = compartment.evaluate(compiled.script);
      outcome = await harness(exports, task.inputJson);
    } catch (thrown) {
      durationMs = performance.now() - started;
      return fail(userError(ses, thrown, compiled));
    }
    durationMs = performance.now() - started;

    if (outcome.status === 'not_function') {
      return fail({
        kind: 'user_error',
        message: `the default export must be a function, got ${outcome.type}`,
      });
    }
    if (outcome.status === 'invalid') {
      return fail({
        kind: 'output_invalid',
        message: `the output is not JSON-serializable: ${describe(outcome.error)}`,
      });
    }
    // Checked in characters first: UTF-8 takes at most 3 bytes per UTF-16 unit.
    const size = outcome.json.length * 3 <= limits.maxOutputBytes ? 0 : utf8Length(outcome.json);
    if (size > limits.maxOutputBytes) {
      return fail({
        kind: 'output_invalid',
        message: `the output is ${size} bytes as JSON; the limit is ${limits.maxOutputBytes} bytes`,
      });
    }
    return { type: 'result', id: task.id, ok: true, outputJson: outcome.json, logs: logs.text(), durationMs };
  }

  /** Parsing is per code, not per task: tasks of one job share it. */
  #compile(code: string, codeCid: string): CompiledJsModule | JsModuleError {
    const hit = this.#cache.get(codeCid);
    if (hit && hit.code === code) {
      this.#cache.delete(codeCid);
      this.#cache.set(codeCid, hit);
      return hit.compiled;
    }
    let compiled: CompiledJsModule | JsModuleError;
    try {
      compiled = compileJsModule(code);
    } catch (error) {
      compiled = error instanceof JsModuleError ? error : new JsModuleError(describe(error));
    }
    this.#cache.set(codeCid, { code, compiled });
    if (this.#cache.size > this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value as string);
    return compiled;
  }
}

export interface JsSandboxOptions {
  /** Compiled modules kept, by code CID. Default 32. */
  cacheSize?: number;
  /** Resolves on a later macrotask (Node: `setImmediate`). Default `setTimeout(0)`. */
  macrotask?: () => Promise<void>;
}

/**
 * Options for `lockdown()` in a sandbox worker:
 * - `errorTaming: 'safe'`: inside compartments `error.stack` is empty and `Error.prepareStackTrace`,
 *   `captureStackTrace` and V8 CallSites are powerless, so user code can neither read host paths
 *   nor reach host objects through `getThis()`/`getFunction()`. The worker itself still reads the
 *   real frames with the start compartment's `getStackString` and reports the user's own frames.
 * - `stackFiltering: 'concise'`: drops node internals and dependencies from those frames.
 * - `overrideTaming: 'moderate'`: lets ordinary code assign `obj.toString = …` on its own objects
 *   despite frozen prototypes, without the cost of 'severe'.
 * - `consoleTaming: 'unsafe'`: the worker's own console stays Node's/the browser's, for the
 *   worker's diagnostics only; tasks never see it, they get the endowed console below.
 * - `errorTrapping`/`unhandledRejectionTrapping: 'none'`: the worker decides itself: an uncaught
 *   exception kills it (the host reports `node_error`), a task's unhandled rejection is ignored.
 */
export const sandboxLockdownOptions = {
  errorTaming: 'safe',
  stackFiltering: 'concise',
  overrideTaming: 'moderate',
  consoleTaming: 'unsafe',
  errorTrapping: 'none',
  unhandledRejectionTrapping: 'none',
  evalTaming: 'safe-eval',
} as const;

// ---------------------------------------------------------------------------------------------
// Compartment and endowments

interface SesCompartment {
  readonly globalThis: Record<PropertyKey, unknown>;
  evaluate(code: string): unknown;
}

interface SesGlobals {
  Compartment: new (options: {
    __options__: true;
    name?: string;
    globals: Record<string, unknown>;
  }) => SesCompartment;
  harden: <T>(value: T) => T;
  /** Start-compartment-only power of SES: the real stack of an error. */
  getStackString?: (error: unknown) => string;
}

/** The SES globals, or undefined when lockdown has not run (then nothing here is safe). */
function sesGlobals(): SesGlobals | undefined {
  const g = globalThis as unknown as Partial<SesGlobals>;
  if (typeof g.Compartment !== 'function' || typeof g.harden !== 'function') return undefined;
  if (!Object.isFrozen(Object.prototype) || !Object.isFrozen(Function.prototype)) return undefined;
  return g as SesGlobals;
}

/** What the shared endowments need of the running task. */
interface TaskContext {
  logs: LogBuffer;
  compiled: CompiledJsModule;
  clock: number;
  next: () => number;
}

/** The endowments of every task of this worker, hardened; each reads the running task's context. */
function sharedEndowments(ses: SesGlobals, current: () => TaskContext | undefined): Record<string, unknown> {
  const task = () => {
    const t = current();
    if (!t) throw new Error('no task is running');
    return t;
  };
  const endowments: Record<string, unknown> = {
    console: makeConsole(ses, task),
    Date: makeDate(() => task().clock),
    Math: makeMath(() => task().next()),
  };
  // SES leaves the float typed arrays out of new compartments because they expose NaN bit
  // patterns (a side channel). `DataView#getFloat64` shows the same bits and is there anyway,
  // numeric code needs them, and lockdown has hardened them like every other intrinsic.
  for (const name of ['Float16Array', 'Float32Array', 'Float64Array']) {
    const value = (globalThis as Record<string, unknown>)[name];
    if (typeof value === 'function') endowments[name] = value;
  }
  return ses.harden(endowments);
}

function makeCompartment(ses: SesGlobals, endowments: Record<string, unknown>): SesCompartment {
  const compartment = new ses.Compartment({ __options__: true, name: 'task', globals: endowments });
  const global = compartment.globalThis;
  // No reason for a task to make compartments or to call lockdown; less surface.
  for (const name of ['Compartment', 'lockdown']) {
    if (!Reflect.deleteProperty(global, name))
      throw new Error(`cannot remove ${name} from the task's globals`);
  }
  // A frozen global object makes every global a constant, which SES turns into plain lexical
  // bindings: free references like `Math` in a hot loop then cost what they cost outside SES
  // (measured ~30x faster than looking them up through SES's scope proxy). It also means a task
  // cannot add globals; it has no reason to, its state lives in its module scope. A shallow
  // freeze is enough: every value on it is hardened already (lockdown's intrinsics, the shared
  // endowments) except this compartment's own evaluators (`eval`, `Function`), which die with it.
  Object.freeze(global);
  return compartment;
}

/** `console` whose output goes to the task's bounded log buffer. */
function makeConsole(ses: SesGlobals, task: () => TaskContext) {
  const write = (args: unknown[]) => {
    const { logs, compiled } = task();
    let parts: string[];
    try {
      parts = formatLogParts(args, (error) => userFrames(ses, error, compiled));
    } catch {
      // e.g. `%d` of a value whose valueOf throws, or a stack overflow while formatting.
      parts = ['[log arguments that cannot be formatted]'];
    }
    logs.appendLine(parts);
  };
  // Method shorthand: no `prototype`, not constructible.
  return {
    log(...args: unknown[]) {
      write(args);
    },
    info(...args: unknown[]) {
      write(args);
    },
    warn(...args: unknown[]) {
      write(args);
    },
    error(...args: unknown[]) {
      write(args);
    },
    debug(...args: unknown[]) {
      write(args);
    },
  };
}

/**
 * A `Date` whose "now" is the task's clock, so a task's result does not depend on when or where
 * it ran. `new Date(x)`, `Date.UTC` and `Date.parse` behave as usual. Instances share the frozen
 * `Date.prototype`, whose `constructor` is SES's powerless shared Date.
 */
function makeDate(clock: () => number): DateConstructor {
  const RealDate = Date;
  const FixedDate = function FixedDate(this: unknown, ...args: unknown[]) {
    if (new.target === undefined) return new RealDate(clock()).toString();
    return Reflect.construct(RealDate, args.length === 0 ? [clock()] : args, new.target);
  };
  const statics = {
    now() {
      return clock();
    },
  };
  Object.defineProperties(FixedDate, {
    name: { value: 'Date' },
    length: { value: 7 },
    prototype: { value: RealDate.prototype, writable: false, enumerable: false, configurable: false },
    now: { value: statics.now, writable: true, enumerable: false, configurable: true },
    UTC: { value: RealDate.UTC, writable: true, enumerable: false, configurable: true },
    parse: { value: RealDate.parse, writable: true, enumerable: false, configurable: true },
  });
  return FixedDate as unknown as DateConstructor;
}

/** `Math` with a seeded `random`: same seed, same sequence, on every node and in every browser. */
function makeMath(next: () => number): Math {
  const methods = {
    random() {
      // 53 random bits, like V8's own Math.random.
      const high = next() >>> 5;
      const low = next() >>> 6;
      return (high * 67108864 + low) / 9007199254740992;
    },
  };
  const descriptors: PropertyDescriptorMap = Object.getOwnPropertyDescriptors(Math);
  descriptors.random = { value: methods.random, writable: false, enumerable: false, configurable: false };
  return Object.create(Object.getPrototypeOf(Math), descriptors) as Math;
}

// ---------------------------------------------------------------------------------------------
// Harness: evaluated inside the task's compartment before the user's code, so the input is
// parsed and the output serialized by compartment code. A getter or `toJSON` in the output runs
// there, during the task's time, never in host code. It returns plain records so the host can tell
// its own checks apart from exceptions thrown by user code (those reject the promise).

type Harness = (exports: unknown, inputJson: string) => Promise<HarnessOutcome>;
type HarnessOutcome =
  | { status: 'ok'; json: string }
  | { status: 'not_function'; type: string }
  | { status: 'invalid'; error: unknown };

const HARNESS_SOURCE = `(() => {
  const { parse, stringify } = JSON;
  const strict = (key, value) => {
    const type = typeof value;
    if (type === 'function' || type === 'symbol') {
      throw new TypeError(key === '' ? 'the value is a ' + type : 'a ' + type + ' at key "' + key + '"');
    }
    return value;
  };
  return async (exports, inputJson) => {
    const main = await exports;
    if (typeof main !== 'function') return { status: 'not_function', type: main === null ? 'null' : typeof main };
    const output = await main(parse(inputJson));
    let json;
    try {
      json = stringify(output === undefined ? null : output, strict);
    } catch (error) {
      return { status: 'invalid', error };
    }
    // A toJSON that returns undefined (or a symbol) serializes to nothing.
    if (typeof json !== 'string') {
      return { status: 'invalid', error: new TypeError('it serializes to nothing (a toJSON returned undefined, a function or a symbol)') };
    }
    return { status: 'ok', json };
  };
})()
//# sourceURL=monadmesh-harness.js
`;

function failure(id: string, logs: string, durationMs: number) {
  return { type: 'result', id, ok: false, logs, durationMs } as const;
}

// ---------------------------------------------------------------------------------------------
// Errors. A thrown value is user-controlled (a Proxy, getters that throw...): every read of it
// is guarded, and what comes out is a bounded plain string.

function userError(ses: SesGlobals, thrown: unknown, compiled: CompiledJsModule): SandboxError {
  const message = describe(thrown);
  const frames = userFrames(ses, thrown, compiled);
  // V8 refusing an allocation (a typed array or string too large to make) is the task running out
  // of memory, as a process that the watchdog stops is: the same kind in every host.
  const kind = OUT_OF_MEMORY_ERROR.test(message) ? 'memory_limit' : 'user_error';
  return frames ? { kind, message, stack: `${message}\n${frames}` } : { kind, message };
}

/** What V8 throws when it cannot allocate what a task asked for. */
const OUT_OF_MEMORY_ERROR = /^RangeError: (Array buffer allocation failed|Invalid string length)/;

/** A one-line description: `Name: message` for errors, the value itself otherwise. */
function describe(value: unknown): string {
  try {
    if (typeof value === 'string') return value;
    if (isError(value)) {
      const { name, message } = value as { name: unknown; message: unknown };
      const text = typeof message === 'string' ? message : String(message);
      return typeof name === 'string' && name !== '' ? `${name}: ${text}` : text;
    }
    return `${formatValue(value, () => '')} (thrown, not an Error)`;
  } catch {
    return 'a value that cannot be described was thrown';
  }
}

function isError(value: unknown): boolean {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

/** The frames of `error` that are in the user's code, with line-1 columns corrected. */
function userFrames(ses: SesGlobals, error: unknown, compiled: CompiledJsModule): string {
  if (!isError(error) || !ses.getStackString) return '';
  let stack: string;
  try {
    stack = ses.getStackString(error);
  } catch {
    return '';
  }
  if (typeof stack !== 'string') return '';
  const file = compiled.sourceUrl;
  const line1 = new RegExp(`${file.replace(/[.]/g, '\\.')}:1:(\\d+)`);
  return stack
    .split('\n')
    .filter((line) => line.includes(`(${file}:`) || line.includes(`at ${file}:`))
    .map((line) =>
      `    ${line.trim()}`.replace(line1, (_, column: string) => {
        return `${file}:1:${Math.max(1, Number(column) - compiled.line1Offset)}`;
      }),
    )
    .join('\n');
}

function bounded(error: SandboxError): SandboxError {
  const message = truncate(error.message, 4096);
  if (error.stack === undefined) return { kind: error.kind, message };
  return { kind: error.kind, message, stack: truncate(error.stack, 16_384) };
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = '…[truncated]';
  return text.slice(0, max - marker.length) + marker;
}

// ---------------------------------------------------------------------------------------------
// Console formatting: user values are formatted by host code, so nothing here may assume
// anything about them. Getters and proxies may run (and throw); they run as user code.

/**
 * Formats console arguments like Node does for the common cases (`%s`, `%d`, `%i`, `%f`, `%o`,
 * `%j`), as the parts of one line (joined by spaces only if the line is kept).
 */
function formatLogParts(args: unknown[], framesOf: (error: unknown) => string): string[] {
  const parts: string[] = [];
  let rest = args;
  const first = args[0];
  if (typeof first === 'string' && first.includes('%') && args.length > 1) {
    let index = 1;
    const formatted = first.replace(/%[sdifojO%]/g, (spec) => {
      if (spec === '%%') return '%';
      if (index >= args.length) return spec;
      const arg = args[index++];
      switch (spec) {
        case '%s':
          return typeof arg === 'string' ? arg : formatValue(arg, framesOf);
        case '%d':
        case '%i':
          return typeof arg === 'bigint'
            ? `${arg}n`
            : String(spec === '%i' ? Math.trunc(Number(arg)) : Number(arg));
        case '%f':
          return String(Number(arg));
        default:
          return formatValue(arg, framesOf);
      }
    });
    parts.push(formatted);
    rest = args.slice(index);
  } else if (typeof first === 'string') {
    parts.push(first);
    rest = args.slice(1);
  }
  for (const arg of rest) parts.push(typeof arg === 'string' ? arg : formatValue(arg, framesOf));
  return parts;
}

function formatValue(value: unknown, framesOf: (error: unknown) => string): string {
  try {
    switch (typeof value) {
      case 'string':
        return JSON.stringify(value);
      case 'bigint':
        return `${value}n`;
      case 'function':
        return `[Function: ${functionName(value)}]`;
      case 'symbol':
      case 'number':
      case 'boolean':
      case 'undefined':
        return String(value);
    }
    if (value === null) return 'null';
    if (isError(value)) {
      const frames = framesOf(value);
      return frames ? `${describe(value)}\n${frames}` : describe(value);
    }
    const seen = new WeakSet<object>();
    const json = JSON.stringify(value, (_key, inner: unknown) => {
      if (typeof inner === 'bigint') return `${inner}n`;
      if (typeof inner === 'function') return `[Function: ${functionName(inner)}]`;
      if (typeof inner === 'symbol') return inner.toString();
      if (inner === undefined) return 'undefined';
      if (typeof inner === 'object' && inner !== null) {
        if (seen.has(inner)) return '[Circular]';
        seen.add(inner);
      }
      return inner;
    });
    return json ?? String(value);
  } catch {
    return '[value that cannot be formatted]';
  }
}

function functionName(fn: unknown): string {
  try {
    const name = (fn as { name?: unknown }).name;
    return typeof name === 'string' && name !== '' ? name : '(anonymous)';
  } catch {
    return '(anonymous)';
  }
}
