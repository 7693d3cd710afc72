import {
  finishedCount,
  formatProgressBar,
  formatProgressLine,
  type ProgressSnapshot,
} from './progress-format.ts';

export type ProgressMode = 'tty' | 'plain' | 'off';

/** Where progress goes: a stream with, on a terminal, its width. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressReporterOptions {
  mode: ProgressMode;
  stream: ProgressStream;
  /** True when stdout is the same terminal, so lines written there must not land inside the bar. */
  sharesTerminal?: boolean;
  /** Least time between two redraws of the bar, ms. Default 80. */
  redrawMs?: number;
  /** Plain mode: a line at least this often while something changes, ms. Default 2000. */
  plainEveryMs?: number;
  /** Plain mode: also a line whenever this fraction more of the tasks have finished. Default 0.1. */
  plainStep?: number;
  /** Plain mode: never two lines closer than this, ms, so short jobs print little. Default 500. */
  plainMinMs?: number;
  now?: () => number;
}

const CLEAR_LINE = '\r\x1b[2K';

/**
 * Shows a job's progress on stderr: on a terminal a bar redrawn in place (`\r` + clear line), at
 * most every `redrawMs`; elsewhere a plain line every 2 s or every 10 % of the tasks (but not
 * twice within 0.5 s), so logs of long jobs stay readable; or nothing (`--json`).
 */
export class ProgressReporter {
  readonly mode: ProgressMode;
  readonly #o: Required<Omit<ProgressReporterOptions, 'mode'>>;
  #latest: ProgressSnapshot | undefined;
  #drawn = false;
  #lastDraw = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastPlain = 0;
  #lastPlainFinished = 0;

  constructor(options: ProgressReporterOptions) {
    this.mode = options.mode;
    this.#o = {
      stream: options.stream,
      sharesTerminal: options.sharesTerminal ?? false,
      redrawMs: options.redrawMs ?? 80,
      plainEveryMs: options.plainEveryMs ?? 2000,
      plainStep: options.plainStep ?? 0.1,
      plainMinMs: options.plainMinMs ?? 500,
      now: options.now ?? Date.now,
    };
    this.#lastPlain = this.#o.now();
  }

  update(p: ProgressSnapshot): void {
    this.#latest = p;
    if (this.mode === 'tty') this.#scheduleDraw();
    else if (this.mode === 'plain') this.#maybePlainLine(p);
  }

  /** A message for the user (a failed task, a notice) above the bar, which is redrawn after it. */
  message(text: string): void {
    if (this.mode === 'off') return;
    this.#clear();
    this.#o.stream.write(text.endsWith('\n') ? text : `${text}\n`);
    if (this.mode === 'tty') this.#scheduleDraw();
  }

  /** Write to another stream (stdout) without tearing the bar when both are the same terminal. */
  around(write: () => void): void {
    if (this.mode !== 'tty' || !this.#o.sharesTerminal || !this.#drawn) {
      write();
      return;
    }
    this.#clear();
    write();
    this.#scheduleDraw();
  }

  /** Draw the final state once more, then end the bar's line with `summary`. */
  finish(summary: string): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.mode === 'off') return;
    if (this.mode === 'tty' && this.#latest) this.#draw();
    if (this.mode === 'tty') this.#o.stream.write(`${CLEAR_LINE}${summary}\n`);
    else this.#o.stream.write(`${summary}\n`);
    this.#drawn = false;
  }

  /** Stop redrawing and leave the terminal on a clean line (before an early exit). */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#clear();
  }

  #maybePlainLine(p: ProgressSnapshot): void {
    const now = this.#o.now();
    const finished = finishedCount(p.counts);
    const stepTasks = Math.max(1, Math.ceil(p.total * this.#o.plainStep));
    const dueByTime = now - this.#lastPlain >= this.#o.plainEveryMs;
    const dueByStep =
      finished - this.#lastPlainFinished >= stepTasks && now - this.#lastPlain >= this.#o.plainMinMs;
    if (finished >= p.total || !(dueByTime || dueByStep)) return; // the summary covers the end
    this.#lastPlain = now;
    this.#lastPlainFinished = finished;
    this.#o.stream.write(`${formatProgressLine(p)}\n`);
  }

  #scheduleDraw(): void {
    if (this.#timer) return;
    const wait = this.#lastDraw + this.#o.redrawMs - this.#o.now();
    if (wait <= 0) {
      this.#draw();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#draw();
    }, wait);
  }

  #draw(): void {
    if (!this.#latest) return;
    this.#lastDraw = this.#o.now();
    this.#o.stream.write(`${CLEAR_LINE}${formatProgressBar(this.#latest, this.#o.stream.columns || 80)}`);
    this.#drawn = true;
  }

  #clear(): void {
    if (this.mode === 'tty' && this.#drawn) this.#o.stream.write(CLEAR_LINE);
    this.#drawn = false;
  }
}
