import { describe, expect, test } from 'vitest';
import {
  formatBar,
  formatDuration,
  formatEta,
  formatProgressBar,
  formatProgressLine,
  formatRate,
  formatSummary,
  type ProgressSnapshot,
} from './progress-format.ts';

const snapshot = (over: Partial<ProgressSnapshot> = {}): ProgressSnapshot => ({
  state: 'running',
  total: 1000,
  counts: { pending: 300, leased: 8, succeeded: 680, failed: 12, cancelled: 0 },
  tasksPerSecond: 1234.5,
  etaSeconds: 0.25,
  ...over,
});

describe('progress formatting', () => {
  test('default: a bar with done, failed, running, throughput and ETA fits 80 columns', () => {
    const line = formatProgressBar(snapshot(), 80);
    expect(line).toBe('[██████████▍░░░░] 692/1000 done · 12 failed · 8 running · 1,235/s · ETA 0.3s');
    expect(line.length).toBeLessThan(80);
  });

  test('behavior: wide terminals add the percent; the bar never exceeds 30 cells', () => {
    const line = formatProgressBar(snapshot(), 200);
    expect(line).toMatch(
      /^\[[█▏▎▍▌▋▊▉░]{30}\] {2}69% 692\/1000 done · 12 failed · 8 running · 1,235\/s · ETA 0\.3s$/,
    );
  });

  test('behavior: narrow terminals drop fields, least useful first, then the bar', () => {
    expect(formatProgressBar(snapshot(), 60)).toBe('[███████▋░░░] 692/1000 done · 12 failed · 8 running');
    expect(formatProgressBar(snapshot(), 40)).toBe('692/1000 done · 12 failed · 8 running');
    expect(formatProgressBar(snapshot(), 20)).toBe('692/1000 done');
    for (const columns of [10, 20, 30, 40, 60, 80, 100, 150]) {
      expect(formatProgressBar(snapshot(), columns).length).toBeLessThan(columns);
    }
  });

  test('behavior: the bar width does not change with the numbers', () => {
    const widths = [0, 1, 500, 999, 1000].map((succeeded) => {
      const line = formatProgressBar(
        snapshot({ counts: { pending: 1000 - succeeded, leased: 0, succeeded, failed: 0, cancelled: 0 } }),
        100,
      );
      return line.indexOf(']');
    });
    expect(new Set(widths).size).toBe(1);
  });

  test('behavior: bars with eighth-cell precision', () => {
    expect(formatBar(0, 4)).toBe('[░░░░]');
    expect(formatBar(1, 4)).toBe('[████]');
    expect(formatBar(0.5, 4)).toBe('[██░░]');
    expect(formatBar(1 / 32, 4)).toBe('[▏░░░]');
    expect(formatBar(Number.NaN, 2)).toBe('[░░]');
    expect(formatBar(7, 2)).toBe('[██]');
  });

  test('behavior: durations, rates and ETA', () => {
    expect(formatDuration(0.25)).toBe('0.3s');
    expect(formatDuration(9.94)).toBe('9.9s');
    expect(formatDuration(42)).toBe('42s');
    expect(formatDuration(185)).toBe('3m 05s');
    expect(formatDuration(7380)).toBe('2h 03m');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('?');
    expect(formatRate(0)).toBe('0/s');
    expect(formatRate(0.5)).toBe('0.5/s');
    expect(formatRate(1234.4)).toBe('1,234/s');
    expect(formatRate(12_345)).toBe('12.3k/s');
    expect(formatRate(2_500_000)).toBe('2.5M/s');
    expect(formatEta(snapshot({ etaSeconds: undefined }))).toBe('ETA ?');
    expect(formatEta(snapshot({ etaSeconds: 185 }))).toBe('ETA 3m 05s');
    const done = { pending: 0, leased: 0, succeeded: 990, failed: 10, cancelled: 0 };
    expect(formatEta(snapshot({ counts: done, etaSeconds: undefined }))).toBe('ETA 0s');
  });

  test('behavior: a plain line for logs', () => {
    expect(formatProgressLine(snapshot())).toBe(
      'progress: 692/1000 done (69%), 12 failed, 8 running, 300 pending, 1,235 tasks/s, ETA 0.3s',
    );
  });

  test('behavior: the summary says how the job ended', () => {
    const base = { id: 'j1', total: 10 };
    expect(
      formatSummary(
        {
          ...base,
          state: 'succeeded',
          counts: { pending: 0, leased: 0, succeeded: 10, failed: 0, cancelled: 0 },
        },
        2,
      ),
    ).toBe('succeeded: 10/10 tasks in 2.0s (5.0/s) · job j1');
    expect(
      formatSummary(
        {
          ...base,
          state: 'failed',
          counts: { pending: 0, leased: 0, succeeded: 9, failed: 1, cancelled: 0 },
        },
        2,
      ),
    ).toBe('failed: 1 of 10 tasks failed, 9 succeeded in 2.0s · job j1');
    expect(
      formatSummary(
        {
          ...base,
          state: 'cancelled',
          counts: { pending: 0, leased: 0, succeeded: 3, failed: 0, cancelled: 7 },
        },
        2,
        'dry run',
      ),
    ).toBe('cancelled: 3 succeeded, 0 failed, 7 cancelled of 10 in 2.0s · dry run');
  });
});
