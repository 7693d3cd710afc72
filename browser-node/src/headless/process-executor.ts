import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { NodeTaskError as TaskError } from '../../../protocol/index.ts';
import {
  type HostWorker,
  type HostWorkerEvents,
  nodeErrorOf,
  type SandboxHost,
  type SandboxKind,
  SandboxPool,
} from '../core/sandbox-pool.ts';
import { LogMirror } from '../core/task-logs.ts';
import { type Cgroups, detectCgroups, type SandboxCgroup } from './cgroup.ts';
import { LOG_RECORD } from './host-port.ts';

export interface ProcessExecutorOptions {
  /** Sandbox processes, i.e. tasks at once. Default: `os.availableParallelism()`. */
  processes?: number;
  /** Memory limit (MB) of processes started before any task asks; default the job default (128). */
  warmMemoryMb?: number;
  /** Start the processes in the constructor rather than at the first task. Default true. */
  prewarm?: boolean;
  /** Heap (MB) a sandbox needs for itself on top of a task's `memoryMb`. Default 24. */
  runtimeHeapMb?: number;
  /**
   * How often a running task's resident memory is read from the operating system, in ms. Default
   * 5, or 20 where a kernel limit holds each process (the kernel then stops a fast bomb itself).
   */
  memoryPollMs?: number;
  /** A process that is not ready after this long is given up. Default 30 000 ms. */
  startupTimeoutMs?: number;
  /** Put each sandbox process in a cgroup with a kernel memory limit, where the machine allows. Default true. */
  cgroups?: boolean;
  /**
   * The most quick JS tasks of one job sent to a process in one message (see `SandboxPool`).
   * Default 16: a message each way costs a trivial task more than the task itself.
   */
  batch?: number;
}

/** The package's root (the sandbox's working directory). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * What a sandbox process may read: its own code, the protocol's, the dependencies and the
 * package's manifest (Node reads it to load modules). Nothing else of the package: `npm run dev`
 * keeps the node key and the session secret under `.wrangler` and `.dev.vars`.
 */
const READABLE = ['browser-node/src', 'protocol', 'node_modules', 'package.json'].map((path) =>
  fileURLToPath(new URL(`../../../${path}`, import.meta.url)),
);

/**
 * Runs JS, WebAssembly and Python tasks in child processes, never in the node's own process: the
 * pool is the same `SandboxPool` as `ThreadExecutor`'s, its workers are processes. Each runs under
 * Node's permission model (`--permission`: it may read its own code and dependencies and nothing
 * else of the machine, write nothing, start no process, worker or addon), with an empty environment, a
 * V8 heap limit, and its resident memory (heap, ArrayBuffers, wasm and Pyodide memory alike, as
 * the operating system counts it in `/proc/<pid>/status`) checked while a task runs. Whatever a
 * task does (a heap exhausted in the middle of serializing its output, a typed array of 16 GiB, a
 * crash of V8 itself), it ends that process only: the task fails (`memory_limit` when the process
 * ran out of memory, else a `node_error` naming how it died) and the pool starts another. The node's
 * key, config and sockets live in the node's process, which no task reaches.
 *
 * @example
 * const executor = new ProcessExecutor({ processes: 2 });
 * const result = await executor.run({ runtime: 'js', code: 'export default (x) => x + 1', codeCid,
 *   input: 41, timeoutMs: 1000, memoryMb: 64, seed: 's', clock: Date.now() });
 * await executor.close();
 */
export class ProcessExecutor extends SandboxPool {
  /** The memory limits in force, for the node's start-up log. */
  readonly memoryLimits: string;

  constructor(options: ProcessExecutorOptions = {}) {
    const found = options.cgroups === false ? { kind: undefined, why: 'turned off' } : detectCgroups();
    const cgroups = found.kind ? (found as Cgroups) : undefined;
    const memoryPollMs = options.memoryPollMs ?? (cgroups ? 20 : 5);
    super(new ProcessHost(options.runtimeHeapMb ?? 24, cgroups), {
      memoryPollMs,
      ...options,
      capacity: options.processes ?? os.availableParallelism(),
      batch: options.batch ?? 16,
      runtimes: ['js', 'wasm', 'python', 'circom'],
    });
    const watch =
      os.platform() === 'linux'
        ? `resident memory read every ${memoryPollMs} ms`
        : 'no resident-memory watch here';
    this.memoryLimits = cgroups
      ? `V8 heap limit, ${watch}, and a kernel limit per process (${cgroups.kind})`
      : `V8 heap limit and ${watch}; no kernel limit (${(found as { why: string }).why})`;
  }
}

/** What a sandbox's kernel limit allows beyond the watchdog's, so that the watchdog acts first. */
const KERNEL_MARGIN_MB = 64;
/** The kernel limit moves in steps of this many bytes. */
const CEILING_STEP = 4 * 1024 * 1024;

/**
 * Resident memory a task may hold beyond its `memoryMb` and the runtime's own heap before it is
 * stopped: V8's young generation and the heap it has not collected yet. So a process stays within
 * `memoryMb + runtimeHeapMb + SLACK_MB` of what it held when the task started.
 */
export const SLACK_MB = 32;

/** What a dying V8 writes when it runs out of heap (or cannot allocate at all). */
const OUT_OF_MEMORY = /heap limit|heap out of memory|Allocation failed|Cannot allocate|out of memory/i;

let groups = 0;

class ProcessHost implements SandboxHost {
  readonly #runtimeHeapMb: number;
  readonly #cgroups: Cgroups | undefined;

  constructor(runtimeHeapMb: number, cgroups: Cgroups | undefined) {
    this.#runtimeHeapMb = runtimeHeapMb;
    this.#cgroups = cgroups;
  }

  /** Processes share no memory with the node: their logs are mirrored over stderr (`logs()`). */
  logMirror(): undefined {
    return undefined;
  }

  spawn(kind: SandboxKind, memoryMb: number, events: HostWorkerEvents): HostWorker {
    const entry = fileURLToPath(new URL(workerEntry(kind), import.meta.url));
    const child: ChildProcess = fork(entry, [], {
      execPath: process.execPath,
      execArgv: sandboxExecArgv(memoryMb + this.#runtimeHeapMb),
      // Nothing of the node's process leaks in: no environment, no arguments, no stdin or stdout.
      env: {},
      cwd: PACKAGE_ROOT,
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    // A sandbox keeps the node's event loop alive while it starts or runs a task, not while idle.
    const busy = (yes: boolean) => {
      if (yes) {
        child.ref();
        child.channel?.ref();
      } else {
        child.unref();
        child.channel?.unref();
      }
    };
    // Its stderr: the mirror of the running task's logs (records), and what Node itself writes.
    let stderr = '';
    let partial = '';
    const mirror = new ArrayBuffer(LogMirror.bytes());
    const logs = new LogMirror(mirror);
    child.stderr?.setEncoding('utf8');
    let skipping = false;
    child.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      // A record is at most ~100 KB (16 KiB of log text, JSON-escaped): a longer line is dropped
      // whole, up to its newline, so no part of it is read as Node's own words.
      if (skipping) {
        if (lines.length === 0) {
          partial = '';
          return;
        }
        lines.shift();
        skipping = false;
      }
      if (partial.length > 128 * 1024) {
        partial = '';
        skipping = true;
      }
      for (const line of lines) {
        if (line.startsWith(LOG_RECORD)) applyRecord(logs, line.slice(LOG_RECORD.length));
        else stderr = `${stderr}${line}\n`.slice(-8192);
      }
    });
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    let ending = false;
    // 'close' comes after its stderr ended: every record it wrote is applied by then.
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.on('message', (message: { type?: string }) => {
      if (message?.type === 'ready' || message?.type === 'result' || message?.type === 'results') busy(false);
      events.message(message);
    });
    child.on('error', (error) => {
      if (!ending) events.crash(nodeErrorOf(`the sandbox process failed: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      if (!ending) {
        events.crash(deathOf(code, signal, stderr, memoryMb, group?.oomKilled() ?? false));
      }
      group?.remove();
      resident?.close();
      events.exit();
    });
    const pid = child.pid;
    const resident = pid !== undefined && os.platform() === 'linux' ? residentReader(pid) : undefined;
    // Its kernel limit: generous while it starts (Pyodide loads), then moved before each task.
    let group: SandboxCgroup | undefined;
    if (this.#cgroups && pid !== undefined) {
      try {
        group = this.#cgroups.create(`${process.pid}-${++groups}`);
        group.limit((1024 + memoryMb) * 1024 * 1024);
        group.add(pid);
      } catch (error) {
        // Without its kernel limit the process does not run tasks: it ends (once the pool holds
        // it: `spawn` must return first), and its task fails as the node's.
        group?.remove();
        group = undefined;
        const reason = nodeErrorOf(`cannot put the sandbox process in a cgroup: ${(error as Error).message}`);
        queueMicrotask(() => {
          events.crash(reason);
          child.kill('SIGKILL');
        });
      }
    }
    return {
      post: (message) => {
        if (!child.connected) return;
        busy(true);
        child.send(message);
      },
      logs: () => LogMirror.read(mirror),
      terminate: async () => {
        ending = true;
        child.ref(); // until it is gone
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
      ...(resident
        ? {
            externalMemory: async () => resident.read(),
            measuresProcess: true,
            memorySlackBytes: (this.#runtimeHeapMb + SLACK_MB) * 1024 * 1024,
            ...(group
              ? {
                  // Rounded up to whole steps, so a baseline that moves by a few pages between
                  // tasks does not rewrite the limit after every task.
                  setMemoryCeiling: (bytes: number) =>
                    group?.limit(
                      Math.ceil(bytes / CEILING_STEP) * CEILING_STEP + KERNEL_MARGIN_MB * 1024 * 1024,
                    ),
                }
              : {}),
          }
        : {}),
    };
  }
}

/**
 * Node's flags for a sandbox process: the permission model (read its own code and dependencies,
 * nothing else; no writes, child processes, workers, addons or WASI), and a V8 heap of `heapMb`.
 */
export function sandboxExecArgv(heapMb: number): string[] {
  return [
    '--permission',
    ...READABLE.map((path) => `--allow-fs-read=${path}`),
    `--max-old-space-size=${heapMb}`,
    `--max-semi-space-size=${Math.min(8, Math.max(1, Math.round(heapMb / 32)))}`,
    '--disable-warning=SecurityWarning',
    '--disable-warning=ExperimentalWarning',
  ];
}

/** One log-mirror record of a sandbox process (see `host-port.ts`); a malformed one is ignored. */
function applyRecord(logs: LogMirror, json: string): void {
  try {
    const [op, a, b] = JSON.parse(json) as [string, unknown, unknown];
    if (op === 'r') logs.reset();
    else if (op === 'w' && typeof a === 'number' && typeof b === 'string') logs.write(b, a);
    else if (op === 'd' && typeof a === 'number') logs.setDropped(a);
  } catch {
    // not a record after all
  }
}

/** Why a sandbox process died on its own, as its task's error. */
function deathOf(
  code: number | null,
  signal: NodeJS.Signals | null,
  stderr: string,
  memoryMb: number,
  oomKilled: boolean,
): TaskError {
  // Killed by its cgroup's limit, or V8 says it ran out.
  if (oomKilled || OUT_OF_MEMORY.test(stderr)) {
    return { kind: 'memory_limit', message: `task exceeded its memory limit of ${memoryMb} MB` };
  }
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  const last = stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500);
  return nodeErrorOf(`the sandbox process ${how}${last ? `: ${last}` : ''}`);
}

/**
 * A process's resident set (VmRSS), in bytes, as Linux counts it: its `/proc/<pid>/status`, opened
 * once and read again from the start at each look (one `pread`, no path lookup; the watchdog reads
 * it every few milliseconds while a task runs). The open file stays bound to that process: once it
 * is gone, reads fail rather than find another process that got its pid.
 */
export function residentReader(pid: number): { read(): number; close(): void } {
  let fd: number | undefined;
  let closed = false;
  const buffer = Buffer.alloc(4096);
  return {
    read() {
      if (closed) throw new Error(`process ${pid} is gone`);
      fd ??= openSync(`/proc/${pid}/status`, 'r');
      const length = readSync(fd, buffer, 0, buffer.length, 0);
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(buffer.toString('latin1', 0, length))?.[1];
      if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
      return Number(kb) * 1024;
    },
    close() {
      closed = true;
      if (fd === undefined) return;
      try {
        closeSync(fd);
      } catch {
        // closed already
      }
      fd = undefined;
    },
  };
}

/** The entry point of a sandbox of `kind` (worker thread or process alike). */
export const workerEntry = (kind: SandboxKind) =>
  kind === 'python' ? './python-worker.ts' : kind === 'circom' ? './circom-worker.ts' : './sandbox-worker.ts';
