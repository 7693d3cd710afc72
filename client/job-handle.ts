import { z } from 'zod';
import { AnchorPending, JobProof } from '../protocol/anchor.ts';
import { JobStatus, limits, ResultsPage, type TaskResult } from '../protocol/index.ts';
import { JobCancelledError, TaskFailedError } from './errors.ts';
import { decode, type FetchLike, retrying, send } from './http.ts';
import { JobEvents, type Progress } from './job-events.ts';
import type { WatchOptions } from './watch-socket.ts';

export interface JobHandleOptions {
  url: string;
  /** The bearer token (API key or session), resolved when first needed. */
  auth: () => Promise<string>;
  fetch: FetchLike;
  WebSocket?: typeof WebSocket;
}

/** Which page of results `JobHandle.resultsPage` reads. */
export interface ResultsPageOptions {
  /**
   * Where the page starts (default 0): the first task index for `order: 'index'`, or a sequence
   * number for `order: 'completion'`. The next page starts at the page's `nextCursor`.
   */
  cursor?: number;
  /** Results per page, 1 to 1000 (default 100). */
  limit?: number;
  /** `index` (input order, every task: default) or `completion` (finished tasks as they finished). */
  order?: 'index' | 'completion';
  /** Stops the read (and its retries); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

const finished = (r: TaskResult) =>
  r.state === 'succeeded' || r.state === 'failed' || r.state === 'cancelled';

/**
 * A submitted job. Iterate it for outputs in input order (a failed task throws its
 * `TaskFailedError`), or use `results()` / `unordered()` for every task's result. The event
 * stream opens on first use, reconnects by itself, and drives the reads: pages are fetched when
 * events say they are ready, with a slow poll as a safety net. For views of the job (a UI),
 * `resultsPage()` reads any page now and `watch()` gives every event and connection change.
 *
 * @example
 * const job = await client.map((x) => x * x, [1, 2, 3]);
 * for await (const y of job) console.log(y);
 */
export class JobHandle<Output = unknown> implements AsyncIterable<Output> {
  readonly id: string;
  readonly #o: JobHandleOptions;
  #events: JobEvents | undefined;
  #pastConnections = 0;
  /** Every result of a job that finished before the handle was made (`wait`), in input order. */
  #finished: TaskResult[] | undefined;

  constructor(id: string, options: JobHandleOptions) {
    this.id = id;
    this.#o = options;
  }

  /** Current status from the API (counts per state, and why pending tasks wait). */
  async status(): Promise<JobStatus> {
    return retrying(async () =>
      decode(await this.#get(`/api/v1/jobs/${encodeURIComponent(this.id)}`), JobStatus),
    );
  }

  /** Resolves with the final status once every task is final. */
  async wait(): Promise<JobStatus> {
    const events = this.#stream();
    for (;;) {
      const status = await this.status();
      if (status.state !== 'running') return status;
      await events.changed(2000);
      while (events.state === 'running') await events.changed(2000);
    }
  }

  async cancel(): Promise<JobStatus> {
    return decode(
      await send(this.#o.fetch, `${this.#o.url}/api/v1/jobs/${this.id}/cancel`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await this.#o.auth()}` },
      }),
      JobStatus,
    );
  }

  /** Progress as events arrive; returns the unsubscribe function. */
  onProgress(listener: (progress: Progress) => void): () => void {
    return this.#stream().onProgress(listener);
  }

  /**
   * A new event stream for this job, owned by the caller (close it when done): every decoded
   * message, connection changes and progress, reconnecting with backoff until the job is
   * finished. Independent of the stream the handle's own iterators use.
   *
   * @example
   * const events = job.watch();
   * events.onMessage((msg) => console.log(msg.type));
   * events.onConnection((state) => console.log('connection', state));
   * await job.wait();
   * events.close();
   */
  watch(options: WatchOptions = {}): JobEvents {
    const Ws = options.WebSocket ?? this.#o.WebSocket;
    return new JobEvents({
      ...options,
      url: this.#o.url,
      jobId: this.id,
      token: this.#o.auth,
      ...(Ws ? { WebSocket: Ws } : {}),
    });
  }

  /**
   * One page of results as the API has them now, without waiting: in input order every task is
   * listed (pending and running ones without output), with `total` and `nextCursor` (absent on the
   * last page). Retries while the API is unreachable or restarting, like every read of the client.
   *
   * @example
   * const page = await job.resultsPage({ cursor: 200, limit: 100 });
   * page.results.map((r) => r.output); // tasks 200 to 299
   * const next = page.nextCursor !== undefined ? await job.resultsPage({ cursor: page.nextCursor }) : undefined;
   */
  async resultsPage(options: ResultsPageOptions = {}): Promise<ResultsPage> {
    const { cursor = 0, limit = limits.defaultPageSize, order = 'index', signal } = options;
    const path = `/api/v1/jobs/${encodeURIComponent(this.id)}/results?cursor=${cursor}&limit=${limit}&order=${order}`;
    return retrying(async () => decode(await this.#get(path, signal), ResultsPage), undefined, signal);
  }

  /**
   * The job's on-chain anchor (`GET /jobs/:id/proof`): its leaf, Merkle proof, batch root and
   * transaction, with task `task`'s leaf and proof when asked; or, before it is anchored, where it
   * waits (`anchored: false`). Check it against the chain with `verifyAnchor`.
   */
  async proof(options: { task?: number } = {}): Promise<JobProof | AnchorPending> {
    const query = options.task === undefined ? '' : `?task=${options.task}`;
    return retrying(async () =>
      decode(
        await this.#get(`/api/v1/jobs/${encodeURIComponent(this.id)}/proof${query}`),
        z.union([JobProof, AnchorPending]),
      ),
    );
  }

  /** @internal The job finished with these results, every one (a submission that waited for it). */
  finishedWith(results: TaskResult[]): void {
    this.#finished = results;
  }

  /** Every task's result in input order (failed and cancelled ones included), waiting for running ones. */
  async *results(options: { from?: number } = {}): AsyncGenerator<TaskResult> {
    if (this.#finished) {
      yield* this.#finished.slice(options.from ?? 0);
      return;
    }
    const events = this.#stream();
    let cursor = options.from ?? 0;
    let total = Number.POSITIVE_INFINITY;
    while (cursor < total) {
      const ready = events.finalRun(cursor, limits.maxPageSize);
      if (ready === 0 && (events.state === undefined || events.state === 'running')) {
        await events.changed(2000);
        // The safety net: after a quiet spell, look anyway (an event may have been missed).
        if (events.finalRun(cursor, 1) === 0) {
          const probe = await this.#page(cursor, 1, 'index');
          total = probe.total;
          if (!probe.results[0] || !finished(probe.results[0])) continue;
        }
      }
      const page = await this.#page(cursor, Math.max(ready, 1), 'index');
      total = page.total;
      for (const r of page.results) {
        if (!finished(r)) break;
        yield r;
        cursor = r.index + 1;
      }
      if (page.results.length === 0) break;
    }
  }

  /** Every task's result in the order tasks finished. */
  async *unordered(): AsyncGenerator<TaskResult> {
    const events = this.#stream();
    let cursor = 0;
    let seen = 0;
    for (;;) {
      const page = await this.#page(cursor, limits.maxPageSize, 'completion');
      for (const r of page.results) {
        seen++;
        yield r;
      }
      cursor = page.nextCursor ?? cursor;
      if (seen >= page.total) return;
      if (page.results.length < limits.maxPageSize) await events.changed(2000);
    }
  }

  /** Outputs in input order; a failed task throws `TaskFailedError`, a cancelled one `JobCancelledError`. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Output> {
    try {
      for await (const r of this.results()) {
        if (r.state === 'failed' && r.error) throw new TaskFailedError(this.id, r.index, r.error, r.logs);
        if (r.state === 'cancelled') throw new JobCancelledError(this.id, r.index);
        yield r.output as Output;
      }
    } finally {
      this.close();
    }
  }

  /** All outputs in input order (throws like the iterator). */
  async collect(): Promise<Output[]> {
    const out: Output[] = [];
    for await (const value of this) out.push(value);
    return out;
  }

  /** Stop listening to the job's events. */
  close(): void {
    this.#pastConnections += this.#events?.connects ?? 0;
    this.#events?.close();
    this.#events = undefined;
  }

  /** Connections the event stream has made (more than one after a reconnect). */
  get eventConnections(): number {
    return this.#pastConnections + (this.#events?.connects ?? 0);
  }

  #stream(): JobEvents {
    this.#events ??= new JobEvents({
      url: this.#o.url,
      jobId: this.id,
      token: this.#o.auth,
      ...(this.#o.WebSocket ? { WebSocket: this.#o.WebSocket } : {}),
    });
    return this.#events;
  }

  #page(cursor: number, limit: number, order: 'index' | 'completion'): Promise<ResultsPage> {
    return this.resultsPage({ cursor, limit, order });
  }

  async #get(path: string, signal?: AbortSignal): Promise<Response> {
    return send(this.#o.fetch, `${this.#o.url}${path}`, {
      headers: { authorization: `Bearer ${await this.#o.auth()}` },
      ...(signal ? { signal } : {}),
    });
  }
}
