import { availableParallelism } from 'node:os';
import type { ExecResult } from '../browser-node/src/core/executor.ts';
import { ThreadExecutor } from '../browser-node/src/headless/thread-executor.ts';
import {
  cidOf,
  describeIssues,
  JobSpec,
  type JobState,
  type JsonValue,
  type Runtime,
  retryableErrors,
  type TaskCounts,
  type TaskResult,
} from '../protocol/index.ts';
import { CliError } from './cli-error.ts';
import { ExitCode } from './exit-codes.ts';
import type { ProgressSnapshot } from './progress-format.ts';
import type { JobOutcome, RunningJob } from './running-job.ts';
import { Throughput } from './throughput.ts';

export interface DryRunOptions {
  runtime: Runtime;
  /** JS source text, or the bytes of a WebAssembly module. */
  source: string | Uint8Array;
  inputs: JsonValue[];
  timeoutMs?: number | undefined;
  memoryMb?: number | undefined;
  maxAttempts?: number | undefined;
  label?: string | undefined;
  /** Worker threads; default the number of CPUs. */
  threads?: number | undefined;
}

export const DRY_RUN_ID = 'dry-run';

/**
 * Run a job on this machine, in the same sandboxes a headless node uses (`ThreadExecutor`: SES
 * compartments in worker threads), with the server's semantics: the spec is validated by the
 * same schema and gets the same defaults, `Date.now()` is the job's start, `Math.random` is
 * seeded per task, user failures are final and node failures are retried up to `maxAttempts`.
 * Nothing is sent anywhere.
 */
export async function startDryRun(options: DryRunOptions): Promise<RunningJob> {
  const bytes =
    typeof options.source === 'string' ? new TextEncoder().encode(options.source) : options.source;
  const codeCid = (await cidOf(bytes)).toString();
  // Validate as the API would (with the code by CID: big code is uploaded as a blob, not refused).
  const spec = JobSpec.safeParse({
    runtime: options.runtime,
    codeCid,
    inputs: options.inputs,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.memoryMb === undefined ? {} : { memoryMb: options.memoryMb }),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    ...(options.label === undefined ? {} : { label: options.label }),
  });
  if (!spec.success) {
    throw new CliError('validation_failed', describeIssues(spec.error).message, ExitCode.usage);
  }
  // As on headless nodes: local-time Date methods must not depend on this machine's time zone.
  process.env.TZ = 'UTC';
  return new LocalJob({
    runtime: options.runtime,
    source: options.source,
    codeCid,
    inputs: spec.data.inputs!,
    timeoutMs: spec.data.timeoutMs,
    memoryMb: spec.data.memoryMb,
    maxAttempts: spec.data.maxAttempts,
    threads: options.threads ?? availableParallelism(),
  });
}

interface LocalJobOptions {
  runtime: Runtime;
  source: string | Uint8Array;
  codeCid: string;
  inputs: JsonValue[];
  timeoutMs: number;
  memoryMb: number;
  maxAttempts: number;
  threads: number;
}

/** A job whose tasks run in a local `ThreadExecutor`, `threads` at a time. */
class LocalJob implements RunningJob {
  readonly id = DRY_RUN_ID;
  readonly #o: LocalJobOptions;
  readonly #executor: ThreadExecutor;
  readonly #clock = Date.now();
  readonly #abort = new AbortController();
  readonly #results: (TaskResult | undefined)[];
  readonly #completion: TaskResult[] = [];
  readonly #counts: TaskCounts;
  readonly #listeners = new Set<(p: ProgressSnapshot) => void>();
  readonly #wakers = new Set<() => void>();
  readonly #throughput = new Throughput();
  readonly #finished: Promise<void>;
  #next = 0;
  #state: JobState = 'running';

  constructor(options: LocalJobOptions) {
    this.#o = options;
    this.#results = new Array(options.inputs.length);
    this.#counts = { pending: options.inputs.length, leased: 0, succeeded: 0, failed: 0, cancelled: 0 };
    this.#executor = new ThreadExecutor({ threads: options.threads, warmMemoryMb: options.memoryMb });
    const workers = Array.from({ length: Math.min(options.threads, options.inputs.length) }, () =>
      this.#work(),
    );
    this.#finished = Promise.all(workers).then(() => this.#finish());
  }

  async wait(): Promise<JobOutcome> {
    await this.#finished;
    return this.#outcome();
  }

  async cancel(): Promise<JobOutcome> {
    if (this.#state === 'running') this.#abort.abort();
    return this.wait();
  }

  async *results(options: { from?: number } = {}): AsyncIterable<TaskResult> {
    for (let i = options.from ?? 0; i < this.#results.length; i++) {
      while (!this.#results[i]) await this.#changed();
      yield this.#results[i]!;
    }
  }

  async *unordered(): AsyncIterable<TaskResult> {
    for (let i = 0; i < this.#results.length; i++) {
      while (i >= this.#completion.length) await this.#changed();
      yield this.#completion[i]!;
    }
  }

  onProgress(listener: (p: ProgressSnapshot) => void): () => void {
    this.#listeners.add(listener);
    listener(this.#progress());
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#abort.abort();
    void this.#executor.close();
  }

  /** One of `threads` loops taking the next input until none are left or the job is cancelled. */
  async #work(): Promise<void> {
    while (this.#next < this.#o.inputs.length) {
      const index = this.#next++;
      if (this.#abort.signal.aborted) {
        this.#settle(index, { index, state: 'cancelled', attempts: 0 }, 'pending');
        continue;
      }
      this.#move('pending', 'leased');
      const result = await this.#runTask(index);
      this.#settle(index, result, 'leased');
    }
  }

  async #runTask(index: number): Promise<TaskResult> {
    for (let attempt = 1; ; attempt++) {
      const exec: ExecResult = await this.#executor.run(
        {
          runtime: this.#o.runtime,
          code: this.#o.source,
          codeCid: this.#o.codeCid,
          input: this.#o.inputs[index]!,
          timeoutMs: this.#o.timeoutMs,
          memoryMb: this.#o.memoryMb,
          seed: `${DRY_RUN_ID}:${index}`,
          clock: this.#clock,
        },
        this.#abort.signal,
      );
      if (this.#abort.signal.aborted) return { index, state: 'cancelled', attempts: attempt };
      const base = { index, attempts: attempt, nodeId: 'local', durationMs: exec.durationMs };
      const logs = exec.logs ? { logs: exec.logs } : {};
      if (exec.ok) return { ...base, state: 'succeeded', output: exec.output, ...logs };
      if (retryableErrors.has(exec.error.kind) && attempt < this.#o.maxAttempts) continue;
      return { ...base, state: 'failed', error: exec.error, ...logs };
    }
  }

  #move(from: keyof TaskCounts, to: keyof TaskCounts): void {
    this.#counts[from]--;
    this.#counts[to]++;
    this.#emit();
  }

  #settle(index: number, result: TaskResult, from: 'pending' | 'leased'): void {
    this.#results[index] = result;
    this.#completion.push(result);
    this.#counts[from]--;
    this.#counts[result.state as 'succeeded' | 'failed' | 'cancelled']++;
    this.#throughput.record(this.#counts.succeeded + this.#counts.failed + this.#counts.cancelled);
    this.#emit();
  }

  #finish(): void {
    this.#state = this.#counts.cancelled > 0 ? 'cancelled' : this.#counts.failed > 0 ? 'failed' : 'succeeded';
    this.#emit();
    void this.#executor.close();
  }

  #changed(): Promise<void> {
    return new Promise((resolve) => this.#wakers.add(resolve));
  }

  #emit(): void {
    for (const wake of this.#wakers) wake();
    this.#wakers.clear();
    const p = this.#progress();
    for (const listener of this.#listeners) listener(p);
  }

  #progress(): ProgressSnapshot {
    const remaining = this.#counts.pending + this.#counts.leased;
    return {
      state: this.#state,
      total: this.#results.length,
      counts: { ...this.#counts },
      tasksPerSecond: this.#throughput.perSecond(),
      etaSeconds: this.#throughput.etaSeconds(remaining),
    };
  }

  #outcome(): JobOutcome {
    return { id: this.id, state: this.#state, total: this.#results.length, counts: { ...this.#counts } };
  }
}
