/**
 * Finished tasks per second over a sliding window, and the ETA that follows. A window rather than
 * the average since the start, so a job that speeds up (nodes join, code warms) gets an honest ETA.
 *
 * @example const t = new Throughput(); t.record(finished); t.perSecond(); t.etaSeconds(remaining)
 */
export class Throughput {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #started: number;
  /** `[time, finished so far]`, oldest first. */
  #samples: [number, number][] = [];

  constructor(options: { windowMs?: number; now?: () => number } = {}) {
    this.#windowMs = options.windowMs ?? 5000;
    this.#now = options.now ?? performance.now.bind(performance);
    this.#started = this.#now();
    this.#samples.push([this.#started, 0]);
  }

  /** Record the total number of finished tasks now. */
  record(finished: number): void {
    const now = this.#now();
    this.#samples.push([now, finished]);
    // Keep one sample older than the window as the baseline of the rate.
    while (this.#samples.length > 2 && this.#samples[1]![0] <= now - this.#windowMs) this.#samples.shift();
  }

  perSecond(): number {
    const first = this.#samples[0]!;
    const last = this.#samples.at(-1)!;
    const seconds = (this.#now() - first[0]) / 1000;
    if (seconds <= 0) return 0;
    return (last[1] - first[1]) / seconds;
  }

  /** Seconds until `remaining` more tasks finish at the current rate, or undefined with no rate yet. */
  etaSeconds(remaining: number): number | undefined {
    if (remaining <= 0) return 0;
    const rate = this.perSecond();
    return rate > 0 ? remaining / rate : undefined;
  }
}
