import { Fd, WASI, wasi } from '@bjorn3/browser_wasi_shim';
import { seededUint32 } from './seeded-random.ts';

/**
 * The version of @bjorn3/browser_wasi_shim this code is written against, for runtime fingerprints.
 * The package's `exports` hide its package.json from bundlers and `import`, so it is a constant,
 * and `wasi-task.test.ts` fails when it differs from the installed package.
 */
export const WASI_SHIM_VERSION = '0.4.2';

/** The WASI module name a WebAssembly function may import from (WASI preview 1). */
export const WASI_MODULE = 'wasi_snapshot_preview1';

/**
 * Every WASI function a task may import. A pure function needs stdio, args/env (empty), clocks,
 * randomness and exit; the file-system calls are here too because real toolchains link them
 * whenever a program mentions `fopen` at all, but with no preopened directory and only fds 0–2
 * open they can only fail (`EBADF`, `ENOTSUP`). Sockets (`sock_*`) are left out on purpose: a module
 * that imports them is refused before it runs, as is one that imports anything else.
 */
export const providedWasiImports: ReadonlySet<string> = new Set([
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'clock_res_get',
  'clock_time_get',
  'fd_advise',
  'fd_allocate',
  'fd_close',
  'fd_datasync',
  'fd_fdstat_get',
  'fd_fdstat_set_flags',
  'fd_fdstat_set_rights',
  'fd_filestat_get',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_pread',
  'fd_prestat_get',
  'fd_prestat_dir_name',
  'fd_pwrite',
  'fd_read',
  'fd_readdir',
  'fd_renumber',
  'fd_seek',
  'fd_sync',
  'fd_tell',
  'fd_write',
  'path_create_directory',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_link',
  'path_open',
  'path_readlink',
  'path_remove_directory',
  'path_rename',
  'path_symlink',
  'path_unlink_file',
  'poll_oneoff',
  'proc_exit',
  'proc_raise',
  'random_get',
  'sched_yield',
]);

/** Thrown out of `fd_write` (through the module's frames) when stdout passes its limit. */
export class WasiStdoutOverflow extends Error {
  constructor(limit: number) {
    super(`the program wrote more than ${limit} bytes to stdout (the output limit)`);
    this.name = 'WasiStdoutOverflow';
  }
}

export interface WasiTaskOptions {
  /** What the program reads on stdin: the input JSON. */
  stdin: Uint8Array;
  /** Writing more than this to stdout ends the run with `WasiStdoutOverflow`. */
  stdoutLimit: number;
  /** Every chunk written to stderr, as written. */
  onStderr: (bytes: Uint8Array) => void;
  /** Seed of `random_get`. */
  seed: string;
  /** The realtime clock (ms since the epoch); it does not move during the task. */
  clockMs: number;
}

/** Every clock moves by this much per read (and this is the resolution `clock_res_get` reports). */
const CLOCK_STEP_NS = 1000n;

/**
 * One task's WASI preview-1 world, in memory and deterministic: argv `['task']`, no environment,
 * stdin = the input, stdout captured (bounded), stderr streamed to the logs, no preopened
 * directories, no sockets. Shared by every host: it needs only `WebAssembly`, `DataView` and
 * `BigInt`, so the headless worker thread and a browser's Web Worker run exactly this code and give
 * byte-identical results (which redundant execution across nodes relies on).
 *
 * File descriptors, iovecs, args and the rest come from `@bjorn3/browser_wasi_shim` (maintained,
 * tested against the WASI test suite in Node and browsers). Its clock, `random_get`, `poll_oneoff`
 * (a busy wait) and `proc_raise` read the real world or misbehave, so they are replaced:
 * - `clock_time_get`: the realtime clock is the task's clock (like `Date.now()` in JS tasks); the
 *   monotonic and CPU-time clocks start at 0 and advance 1 µs per read, so timing loops end and
 *   every run reads the same values;
 * - `random_get`: a stream seeded from the task seed (`seeded-random.ts`);
 * - `poll_oneoff` (sleep): returns at once, advancing the virtual clocks by the time slept.
 *
 * @example
 * const task = new WasiTask({ stdin, stdoutLimit: 1 << 20, onStderr, seed, clockMs });
 * const instance = new WebAssembly.Instance(module, task.imports);
 * const exitCode = task.start(instance);
 * const stdout = task.stdout();
 */
export class WasiTask {
  readonly imports: WebAssembly.Imports;
  readonly #shim: WASI;
  readonly #stdout: StdoutFd;
  #memory: WebAssembly.Memory | undefined;
  #monotonicNs = 0n;
  readonly #realtimeNs: bigint;
  readonly #random: () => number;

  constructor(options: WasiTaskOptions) {
    this.#stdout = new StdoutFd(options.stdoutLimit);
    const stdio = [new StdinFd(options.stdin), this.#stdout, new StderrFd(options.onStderr)];
    // `debug: false` explicitly: the shim logs every call to the console when it is left out.
    this.#shim = new WASI(['task'], [], stdio, { debug: false });
    this.#realtimeNs = BigInt(Math.trunc(options.clockMs)) * 1_000_000n;
    this.#random = seededUint32(options.seed);
    const own: Record<string, (...args: never[]) => number> = {
      clock_res_get: (id: number, resultPtr: number) => {
        if (id < 0 || id > 3) return wasi.ERRNO_INVAL;
        this.#view().setBigUint64(resultPtr, CLOCK_STEP_NS, true);
        return wasi.ERRNO_SUCCESS;
      },
      clock_time_get: (id: number, _precision: bigint, resultPtr: number) => {
        const now = this.#now(id);
        if (now === undefined) return wasi.ERRNO_INVAL;
        this.#view().setBigUint64(resultPtr, now, true);
        return wasi.ERRNO_SUCCESS;
      },
      random_get: (bufferPtr: number, length: number) => {
        const bytes = new Uint8Array(this.#buffer(), bufferPtr, length);
        for (let i = 0; i < length; i += 4) {
          const value = this.#random();
          for (let k = 0; k < 4 && i + k < length; k++) bytes[i + k] = (value >>> (8 * k)) & 0xff;
        }
        return wasi.ERRNO_SUCCESS;
      },
      poll_oneoff: (inPtr: number, outPtr: number, count: number, eventsPtr: number) =>
        this.#pollOneoff(inPtr, outPtr, count, eventsPtr),
      proc_raise: () => wasi.ERRNO_NOSYS,
      sched_yield: () => wasi.ERRNO_SUCCESS,
    };
    const functions: Record<string, unknown> = {};
    for (const name of providedWasiImports) functions[name] = own[name] ?? this.#shim.wasiImport[name];
    this.imports = { [WASI_MODULE]: functions as WebAssembly.ModuleImports };
  }

  /** Runs `_start`; returns the exit code (0 when `_start` returns). Traps and overflow throw. */
  start(instance: WebAssembly.Instance): number {
    const exports = instance.exports as { memory: WebAssembly.Memory; _start: () => unknown };
    this.#memory = exports.memory;
    return this.#shim.start({ exports }) >>> 0;
  }

  /** Everything written to stdout. */
  stdout(): Uint8Array {
    return this.#stdout.bytes();
  }

  /**
   * True once stdout went past its limit, even if the module caught the `WasiStdoutOverflow`
   * (wasm exception handling can catch JS exceptions) and carried on to exit normally.
   */
  get stdoutOverflowed(): boolean {
    return this.#stdout.overflowed;
  }

  #buffer(): ArrayBuffer {
    if (!this.#memory) throw new Error('WASI was called before the module started');
    return this.#memory.buffer as ArrayBuffer;
  }

  #view(): DataView {
    return new DataView(this.#buffer());
  }

  #now(id: number): bigint | undefined {
    if (id === wasi.CLOCKID_REALTIME) return this.#realtimeNs;
    if (id < 0 || id > 3) return undefined;
    this.#monotonicNs += CLOCK_STEP_NS;
    return this.#monotonicNs;
  }

  /**
   * Deterministic `poll_oneoff`: fd subscriptions are ready at once (stdin holds all its bytes,
   * stdout and stderr always take more); with only clocks, the earliest one fires at once and the
   * virtual clocks jump forward by the time it asked to wait. Nothing ever blocks.
   */
  #pollOneoff(inPtr: number, outPtr: number, count: number, eventsPtr: number): number {
    if (count === 0) return wasi.ERRNO_INVAL;
    const view = this.#view();
    const SUBSCRIPTION = 48;
    const EVENT = 32;
    const subscriptions = Array.from({ length: count }, (_, i) => {
      const at = inPtr + i * SUBSCRIPTION;
      const tag = view.getUint8(at + 8);
      return {
        userdata: view.getBigUint64(at, true),
        tag,
        clock: view.getUint32(at + 16, true),
        timeout: view.getBigUint64(at + 24, true),
        absolute: (view.getUint16(at + 40, true) & wasi.SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME) !== 0,
        fd: view.getUint32(at + 16, true),
      };
    });
    const events: { userdata: bigint; error: number; type: number; nbytes: bigint }[] = [];
    for (const s of subscriptions) {
      if (s.tag === wasi.EVENTTYPE_CLOCK) continue;
      const ok =
        (s.tag === wasi.EVENTTYPE_FD_READ && s.fd === 0) ||
        (s.tag === wasi.EVENTTYPE_FD_WRITE && (s.fd === 1 || s.fd === 2));
      events.push({ userdata: s.userdata, error: ok ? 0 : wasi.ERRNO_BADF, type: s.tag, nbytes: 0n });
    }
    if (events.length === 0) {
      let earliest: { userdata: bigint; wait: bigint } | undefined;
      for (const s of subscriptions) {
        if (s.tag !== wasi.EVENTTYPE_CLOCK) continue;
        if (s.clock > 3) return wasi.ERRNO_INVAL;
        const base = s.clock === wasi.CLOCKID_REALTIME ? this.#realtimeNs : this.#monotonicNs;
        const wait = s.absolute ? (s.timeout > base ? s.timeout - base : 0n) : s.timeout;
        if (!earliest || wait < earliest.wait) earliest = { userdata: s.userdata, wait };
      }
      if (!earliest) return wasi.ERRNO_INVAL;
      this.#monotonicNs += earliest.wait;
      events.push({ userdata: earliest.userdata, error: 0, type: wasi.EVENTTYPE_CLOCK, nbytes: 0n });
    }
    events.forEach((e, i) => {
      const at = outPtr + i * EVENT;
      view.setBigUint64(at, e.userdata, true);
      view.setUint16(at + 8, e.error, true);
      view.setUint8(at + 10, e.type);
      view.setBigUint64(at + 16, e.nbytes, true);
      view.setUint16(at + 24, 0, true);
    });
    view.setUint32(eventsPtr, events.length, true);
    return wasi.ERRNO_SUCCESS;
  }
}

/**
 * Standard streams report "unknown" file type with no rights: not a terminal (so C stdio buffers
 * stdout fully instead of writing line by line), and not seekable.
 */
function streamStat() {
  return { ret: wasi.ERRNO_SUCCESS, fdstat: new wasi.Fdstat(wasi.FILETYPE_UNKNOWN, 0) };
}

class StdinFd extends Fd {
  readonly #bytes: Uint8Array;
  #position = 0;

  constructor(bytes: Uint8Array) {
    super();
    this.#bytes = bytes;
  }

  override fd_fdstat_get() {
    return streamStat();
  }

  override fd_read(size: number) {
    const data = this.#bytes.subarray(this.#position, this.#position + size);
    this.#position += data.length;
    return { ret: wasi.ERRNO_SUCCESS, data };
  }

  override fd_seek() {
    return { ret: wasi.ERRNO_SPIPE, offset: 0n };
  }
}

class StdoutFd extends Fd {
  readonly #chunks: Uint8Array[] = [];
  readonly #limit: number;
  #size = 0;

  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  override fd_fdstat_get() {
    return streamStat();
  }

  get overflowed(): boolean {
    return this.#size > this.#limit;
  }

  override fd_write(data: Uint8Array) {
    if (this.#size + data.length > this.#limit) {
      this.#size = this.#limit + 1;
      throw new WasiStdoutOverflow(this.#limit);
    }
    this.#size += data.length;
    // The shim hands over a copy of the iovec, so keeping it is safe.
    this.#chunks.push(data);
    return { ret: wasi.ERRNO_SUCCESS, nwritten: data.length };
  }

  override fd_seek() {
    return { ret: wasi.ERRNO_SPIPE, offset: 0n };
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(Math.min(this.#size, this.#limit));
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

class StderrFd extends Fd {
  readonly #sink: (bytes: Uint8Array) => void;

  constructor(sink: (bytes: Uint8Array) => void) {
    super();
    this.#sink = sink;
  }

  override fd_fdstat_get() {
    return streamStat();
  }

  override fd_write(data: Uint8Array) {
    this.#sink(data);
    return { ret: wasi.ERRNO_SUCCESS, nwritten: data.length };
  }

  override fd_seek() {
    return { ret: wasi.ERRNO_SPIPE, offset: 0n };
  }
}
