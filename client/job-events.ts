import { type JobState, RoomToWatcher, type TaskCounts, type TaskState } from '../protocol/index.ts';

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

export interface JobEventsOptions {
  url: string;
  jobId: string;
  token: () => Promise<string>;
  WebSocket?: typeof WebSocket;
}

/**
 * One job's event stream, kept open across disconnects: it reconnects with exponential backoff
 * and the snapshot that starts every connection brings the local view back in sync, so nothing
 * missed while away is lost. Keeps which tasks are final (for ordered reads) and progress.
 */
export class JobEvents {
  readonly #o: JobEventsOptions;
  #ws: WebSocket | undefined;
  #closed = false;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #done: Uint8Array = new Uint8Array(0);
  #total = 0;
  #state: JobState | undefined;
  #counts: TaskCounts | undefined;
  #samples: { at: number; finished: number }[] = [];
  #waiters = new Set<() => void>();
  #progress = new Set<(p: Progress) => void>();
  /** Connections made so far (1 + reconnects). */
  connects = 0;

  constructor(options: JobEventsOptions) {
    this.#o = options;
    void this.#connect();
  }

  get state(): JobState | undefined {
    return this.#state;
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

  onProgress(listener: (p: Progress) => void): () => void {
    this.#progress.add(listener);
    return () => this.#progress.delete(listener);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#ws?.close(1000, 'done');
    for (const w of [...this.#waiters]) w();
  }

  async #connect(): Promise<void> {
    let token: string;
    try {
      token = await this.#o.token();
    } catch {
      // No credentials: the HTTP calls will say why; events stay quiet.
      return;
    }
    if (this.#closed) return;
    const Ws = this.#o.WebSocket ?? WebSocket;
    const url = new URL(`/api/v1/jobs/${this.#o.jobId}/events`, this.#o.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', token);
    const ws = new Ws(url);
    this.#ws = ws;
    ws.addEventListener('open', () => {
      this.connects++;
    });
    ws.addEventListener('message', (e) => {
      this.#attempt = 0;
      const parsed = (() => {
        try {
          return RoomToWatcher.safeParse(JSON.parse(String(e.data)));
        } catch {
          return undefined;
        }
      })();
      if (parsed?.success) this.#apply(parsed.data);
    });
    ws.addEventListener('close', () => {
      if (ws !== this.#ws || this.#closed) return;
      if (this.#state !== undefined && this.#state !== 'running') return; // finished: nothing more to hear
      const delay = Math.min(250 * 2 ** this.#attempt++, 5000);
      this.#timer = setTimeout(() => void this.#connect(), delay);
    });
    ws.addEventListener('error', () => {
      // `close` follows and reconnects.
    });
  }

  #apply(msg: RoomToWatcher): void {
    switch (msg.type) {
      case 'job.snapshot':
        this.#total = msg.job.total;
        this.#done = new Uint8Array(msg.job.total);
        for (const [index, state] of msg.tasks) if (terminal(state)) this.#done[index] = 1;
        this.#state = msg.job.state;
        this.#counts = msg.job.counts;
        break;
      case 'tasks.updated':
        for (const u of msg.updates) this.#done[u.index] = terminal(u.state) ? 1 : 0;
        this.#counts = msg.counts;
        break;
      case 'job.finished':
        this.#state = msg.state;
        this.#counts = msg.counts;
        break;
      default:
        return;
    }
    this.#emit();
    if (this.#state !== 'running') this.#ws?.close(1000, 'job finished');
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
