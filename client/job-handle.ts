import { JobStatus, limits, ResultsPage, type TaskResult } from '../protocol/index.ts';
import { JobCancelledError, TaskFailedError } from './errors.ts';
import { decode, type FetchLike, retrying, send } from './http.ts';
import { JobEvents, type Progress } from './job-events.ts';

export interface JobHandleOptions {
  url: string;
  /** The bearer token (API key or session), resolved when first needed. */
  auth: () => Promise<string>;
  fetch: FetchLike;
  WebSocket?: typeof WebSocket;
}

const finished = (r: TaskResult) =>
  r.state === 'succeeded' || r.state === 'failed' || r.state === 'cancelled';

/**
 * A submitted job. Iterate it for outputs in input order (a failed task throws its
 * `TaskFailedError`), or use `results()` / `unordered()` for every task's result. The event
 * stream opens on first use, reconnects by itself, and drives the reads: pages are fetched when
 * events say they are ready, with a slow poll as a safety net.
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

  constructor(id: string, options: JobHandleOptions) {
    this.id = id;
    this.#o = options;
  }

  /** Current status from the API (counts per state, and why pending tasks wait). */
  async status(): Promise<JobStatus> {
    return retrying(async () => decode(await this.#get(`/api/v1/jobs/${this.id}`), JobStatus));
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

  /** Every task's result in input order (failed and cancelled ones included), waiting for running ones. */
  async *results(options: { from?: number } = {}): AsyncGenerator<TaskResult> {
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

  async #page(cursor: number, limit: number, order: 'index' | 'completion'): Promise<ResultsPage> {
    return retrying(async () =>
      decode(
        await this.#get(`/api/v1/jobs/${this.id}/results?cursor=${cursor}&limit=${limit}&order=${order}`),
        ResultsPage,
      ),
    );
  }

  async #get(path: string): Promise<Response> {
    return send(this.#o.fetch, `${this.#o.url}${path}`, {
      headers: { authorization: `Bearer ${await this.#o.auth()}` },
    });
  }
}
