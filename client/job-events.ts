import {
  errorStatus,
  type JobState,
  RoomToWatcher,
  type TaskCounts,
  type TaskState,
} from '../protocol/index.ts';
import { MeshApiError } from './errors.ts';
import { type WatchOptions, WatchSocket } from './watch-socket.ts';

const terminal = (s: TaskState) => s === 'succeeded' || s === 'failed' || s === 'cancelled';

/** Progress of a job as the client sees it from the event stream. */
export interface Progress {
  state: JobState;
  total: number;
  counts: TaskCounts;
  /** Finished tasks per second over the last few seconds. */
  tasksPerSecond: number;
  /** Seconds until every task has finished at the current rate, when there is a rate. */
  etaSeconds?: number;
}

/**
 * Where an event stream is:
 * - `connecting`: opening its first connection;
 * - `open`: connected and in sync: the connection's snapshot has arrived, updates follow;
 * - `reconnecting`: the connection dropped while the job runs; a new one opens after a backoff;
 * - `finished`: the job is finished, so the stream closed for good (nothing more will happen);
 * - `failed`: the room refused the stream with an error frame, or there are no credentials; it
 *   does not retry (see `JobEvents.error`).
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'finished' | 'failed';

export interface JobEventsOptions extends WatchOptions {
  /** Base URL of the API; `http(s):` becomes `ws(s):`. */
  url: string;
  jobId: string;
  /** The bearer token (API key or session), asked for before each connection. */
  token: () => Promise<string>;
}

/**
 * One job's event stream (`GET /api/v1/jobs/:id/events`), kept open across disconnects by a
 * `WatchSocket`: it reconnects with exponential backoff and jitter (reset by any message), pings
 * while idle, and the snapshot that starts every connection brings the local view back in sync,
 * so nothing missed while away is lost. Once the job is finished, or the room answers with an
 * error frame, it stays closed.
 *
 * Listeners see every decoded message (`onMessage`: `RoomToWatcher` from protocol/watch.ts; frames
 * that do not decode are dropped), connection changes (`onConnection`) and progress
 * (`onProgress`). The first connection opens asynchronously, so listeners added right after
 * creating the stream miss nothing. Get one with `JobHandle.watch()`; close it when done.
 *
 * @example
 * const events = mesh.job(id).watch();
 * events.onMessage((msg) => { if (msg.type === 'tasks.updated') console.log(msg.updates) });
 * events.onConnection((state) => console.log(state, events.error?.message));
 * // …later
 * events.close();
 */
export class JobEvents {
  readonly #socket: WatchSocket<RoomToWatcher>;
  #done: Uint8Array = new Uint8Array(0);
  #total = 0;
  #state: JobState | undefined;
  #counts: TaskCounts | undefined;
  #connection: ConnectionState = 'connecting';
  #error: MeshApiError | undefined;
  #samples: { at: number; finished: number }[] = [];
  #waiters = new Set<() => void>();
  #progress = new Set<(p: Progress) => void>();
  #messages = new Set<(msg: RoomToWatcher) => void>();
  #connections = new Set<(state: ConnectionState) => void>();

  constructor(options: JobEventsOptions) {
    const { url, jobId, token, ...watch } = options;
    this.#socket = new WatchSocket({
      ...watch,
      url: async () => {
        let key: string;
        try {
          key = await token();
        } catch (err) {
          // No credentials: the stream cannot open (the HTTP calls say why too).
          throw err instanceof MeshApiError
            ? err
            : new MeshApiError('unauthorized', 401, `no credentials: ${(err as Error).message}`, {
                cause: err,
              });
        }
        const events = new URL(`/api/v1/jobs/${encodeURIComponent(jobId)}/events`, url);
        events.searchParams.set('token', key);
        return events;
      },
      schema: RoomToWatcher,
      isSnapshot: (msg) => msg.type === 'job.snapshot',
    });
    this.#socket.onMessage((msg) => this.#receive(msg));
    this.#socket.onState((state) => {
      if (state !== 'closed') return this.#setConnection(state);
      const err = this.#socket.error;
      this.#error =
        err instanceof MeshApiError
          ? err
          : new MeshApiError('unreachable', 0, `cannot open the event stream: ${(err as Error).message}`, {
              cause: err,
            });
      this.#setConnection('failed');
    });
  }

  /** Connections made so far (1 + reconnects). */
  get connects(): number {
    return this.#socket.connects;
  }

  /** The job's state as last heard (undefined before the first snapshot). */
  get state(): JobState | undefined {
    return this.#state;
  }

  /** Where the stream is now. */
  get connection(): ConnectionState {
    return this.#connection;
  }

  /**
   * Why the stream failed (`connection === 'failed'`): the room's error frame (its `code`, with
   * the HTTP status that code has elsewhere in the API) or the credentials' error.
   */
  get error(): MeshApiError | undefined {
    return this.#error;
  }

  /** True when task `index` is known to be final. */
  isFinal(index: number): boolean {
    return this.#state !== undefined && this.#state !== 'running' ? true : this.#done[index] === 1;
  }

  /** How many tasks from `index` on are final, without a gap (at most `max`). */
  finalRun(index: number, max: number): number {
    let n = 0;
    while (n < max && index + n < this.#total && this.isFinal(index + n)) n++;
    return n;
  }

  /** Resolves at the next event (or after `timeoutMs`, as a safety net against missed events). */
  changed(timeoutMs = 2000): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
    });
  }

  /** Progress after each snapshot, update and finish; returns the unsubscribe function. */
  onProgress(listener: (p: Progress) => void): () => void {
    this.#progress.add(listener);
    return () => this.#progress.delete(listener);
  }

  /**
   * Every decoded message, in order: a `job.snapshot` first on each connection, then
   * `tasks.updated`, `job.finished`, and `pong` or `error` frames. Returns the unsubscribe function.
   */
  onMessage(listener: (msg: RoomToWatcher) => void): () => void {
    this.#messages.add(listener);
    return () => this.#messages.delete(listener);
  }

  /** Each change of `connection`; returns the unsubscribe function. */
  onConnection(listener: (state: ConnectionState) => void): () => void {
    this.#connections.add(listener);
    return () => this.#connections.delete(listener);
  }

  /** Close the connection and cancel any pending reconnect. Listeners hear nothing more. */
  close(): void {
    this.#socket.close();
    for (const w of [...this.#waiters]) w();
  }

  #receive(msg: RoomToWatcher): void {
    if (msg.type === 'error') {
      // The room refused us: retrying would only repeat that.
      this.#error = new MeshApiError(msg.code, errorStatus[msg.code], msg.message);
      for (const l of [...this.#messages]) l(msg);
      this.#setConnection('failed');
      this.#socket.close(1000, 'refused');
      return;
    }
    const changed = this.#apply(msg);
    for (const l of [...this.#messages]) l(msg);
    if (!changed) return;
    this.#emit();
    if (this.#state !== undefined && this.#state !== 'running') {
      this.#setConnection('finished');
      this.#socket.close(1000, 'job finished');
    }
  }

  /** Updates which tasks are final and the counts; false for messages that change nothing. */
  #apply(msg: RoomToWatcher): boolean {
    switch (msg.type) {
      case 'job.snapshot':
        this.#total = msg.job.total;
        this.#done = new Uint8Array(msg.job.total);
        for (const [index, state] of msg.tasks) if (terminal(state)) this.#done[index] = 1;
        this.#state = msg.job.state;
        this.#counts = msg.job.counts;
        return true;
      case 'tasks.updated':
        for (const u of msg.updates) this.#done[u.index] = terminal(u.state) ? 1 : 0;
        this.#counts = msg.counts;
        return true;
      case 'job.finished':
        this.#state = msg.state;
        this.#counts = msg.counts;
        return true;
      default:
        return false;
    }
  }

  #setConnection(state: ConnectionState): void {
    if (this.#connection === state) return;
    this.#connection = state;
    for (const w of [...this.#waiters]) w();
    for (const l of [...this.#connections]) l(state);
  }

  #emit(): void {
    for (const w of [...this.#waiters]) w();
    if (!this.#counts || this.#state === undefined) return;
    const c = this.#counts;
    const finished = c.succeeded + c.failed + c.cancelled;
    const now = Date.now();
    this.#samples.push({ at: now, finished });
    while (this.#samples.length > 2 && now - this.#samples[0]!.at > 5000) this.#samples.shift();
    const first = this.#samples[0]!;
    const seconds = (now - first.at) / 1000;
    const tasksPerSecond = seconds > 0.2 ? (finished - first.finished) / seconds : 0;
    const progress: Progress = { state: this.#state, total: this.#total, counts: { ...c }, tasksPerSecond };
    if (tasksPerSecond > 0 && this.#state === 'running')
      progress.etaSeconds = (this.#total - finished) / tasksPerSecond;
    for (const l of this.#progress) l(progress);
  }
}
