import type { JobState, TaskCounts } from '../protocol/index.ts';

/** What a progress display needs; the client's `onProgress` and the dry run both give it. */
export interface ProgressSnapshot {
  state: JobState;
  total: number;
  counts: TaskCounts;
  /** Recent throughput in finished tasks per second. */
  tasksPerSecond: number;
  /** Seconds until every task has finished, when it can be estimated. */
  etaSeconds?: number | undefined;
}

const FULL = '█';
const EMPTY = '░';
const PARTIAL = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** Tasks that will not change any more. */
export function finishedCount(counts: TaskCounts): number {
  return counts.succeeded + counts.failed + counts.cancelled;
}

/** `[█████▌░░░░]`: `width` cells, with eighth-cell precision. */
export function formatBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const partial = PARTIAL[eighths % 8]!;
  const empty = width - full - (partial ? 1 : 0);
  return `[${FULL.repeat(full)}${partial}${EMPTY.repeat(Math.max(0, empty))}]`;
}

/** Seconds as `0.4s`, `12s`, `3m 05s`, `2h 03m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Tasks per second as `0.5/s`, `1,234/s`, `12.3k/s`. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '0/s';
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`;
  if (perSecond < 10_000) return `${Math.round(perSecond).toLocaleString('en-US')}/s`;
  if (perSecond < 1_000_000) return `${(perSecond / 1000).toFixed(1)}k/s`;
  return `${(perSecond / 1_000_000).toFixed(1)}M/s`;
}

/** `ETA 3m 05s`, or `ETA ?` while there is nothing to estimate from. */
export function formatEta(p: ProgressSnapshot): string {
  if (finishedCount(p.counts) >= p.total) return 'ETA 0s';
  return `ETA ${p.etaSeconds === undefined ? '?' : formatDuration(p.etaSeconds)}`;
}

function percent(p: ProgressSnapshot): string {
  const fraction = p.total > 0 ? finishedCount(p.counts) / p.total : 1;
  return `${Math.floor(fraction * 100)}%`;
}

/**
 * The line of a live progress bar, fitted to `columns` (a line that wraps cannot be redrawn with
 * `\r`). The bar's width depends on the terminal only, so it does not jitter as numbers change;
 * the fields that do not fit are left out, least useful first (percent, then throughput, ETA…).
 */
export function formatProgressBar(p: ProgressSnapshot, columns = 80): string {
  const done = finishedCount(p.counts);
  // [text, priority]: lower numbers stay longest.
  const fields: [string, number][] = [
    [percent(p).padStart(4), 5],
    [`${done}/${p.total} done`, 0],
    [`${p.counts.failed} failed`, 1],
    [`${p.counts.leased} running`, 2],
    [formatRate(p.tasksPerSecond), 4],
    [formatEta(p), 3],
  ];
  // Keep one column free: writing the last column makes some terminals wrap early.
  const room = columns - 1;
  const barWidth = Math.min(30, Math.floor(room / 5));
  const textRoom = barWidth >= 8 ? room - barWidth - 3 : room;
  // The percent reads as part of the count: ` 69% 692/1000 done`.
  const join = (list: [string, number][]) =>
    list.map(([text], i) => (i === 0 ? text : `${list[i - 1]![1] === 5 ? ' ' : ' · '}${text}`)).join('');
  let shown = fields;
  for (let drop = 5; join(shown).length > textRoom && drop > 0; drop--) {
    shown = shown.filter(([, priority]) => priority < drop);
  }
  const text = join(shown).slice(0, textRoom);
  if (barWidth < 8) return text;
  return `${formatBar(p.total > 0 ? done / p.total : 1, barWidth)} ${text}`;
}

/** One plain progress line for logs and pipes. */
export function formatProgressLine(p: ProgressSnapshot): string {
  return (
    `progress: ${finishedCount(p.counts)}/${p.total} done (${percent(p)}), ${p.counts.failed} failed, ` +
    `${p.counts.leased} running, ${p.counts.pending} pending, ${formatRate(p.tasksPerSecond).replace('/s', ' tasks/s')}, ${formatEta(p)}`
  );
}

/** The last line of a run: how it ended, how long it took, and the job id. */
export function formatSummary(
  s: { id: string; state: JobState; total: number; counts: TaskCounts },
  elapsedSeconds: number,
  where = `job ${s.id}`,
): string {
  const { succeeded, failed, cancelled } = s.counts;
  const took = `in ${formatDuration(elapsedSeconds)}`;
  const rate = elapsedSeconds > 0 ? ` (${formatRate(finishedCount(s.counts) / elapsedSeconds)})` : '';
  switch (s.state) {
    case 'succeeded':
      return `succeeded: ${succeeded}/${s.total} tasks ${took}${rate} · ${where}`;
    case 'failed':
      return `failed: ${failed} of ${s.total} tasks failed, ${succeeded} succeeded ${took} · ${where}`;
    case 'cancelled':
      return `cancelled: ${succeeded} succeeded, ${failed} failed, ${cancelled} cancelled of ${s.total} ${took} · ${where}`;
    case 'running':
      return `running: ${finishedCount(s.counts)}/${s.total} done so far · ${where}`;
  }
}
