/**
 * How long the supervisor waits before starting a dead node again: `firstMs`, doubling with each
 * death in a row up to `maxMs`; a node that ran `stableMs` or longer before dying starts the
 * count again. A node that keeps dying at once is retried at most every `maxMs`, never in a
 * tight loop.
 */
export class RestartPolicy {
  readonly #firstMs: number;
  readonly #maxMs: number;
  readonly #stableMs: number;
  #delayMs: number;

  constructor(options: { firstMs?: number; maxMs?: number; stableMs?: number } = {}) {
    this.#firstMs = options.firstMs ?? 1000;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#stableMs = options.stableMs ?? 60_000;
    this.#delayMs = this.#firstMs;
  }

  /** The wait before the next start, given how long the process that just died had run. */
  next(ranMs: number): number {
    if (ranMs >= this.#stableMs) this.#delayMs = this.#firstMs;
    const delay = this.#delayMs;
    this.#delayMs = Math.min(this.#maxMs, this.#delayMs * 2);
    return delay;
  }
}
