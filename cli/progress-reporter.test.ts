import { describe, expect, test } from 'vitest';
import type { ProgressSnapshot } from './progress-format.ts';
import { ProgressReporter } from './progress-reporter.ts';

const at = (succeeded: number, total = 100): ProgressSnapshot => ({
  state: 'running',
  total,
  counts: { pending: total - succeeded, leased: 0, succeeded, failed: 0, cancelled: 0 },
  tasksPerSecond: 10,
  etaSeconds: (total - succeeded) / 10,
});

function setup(mode: 'tty' | 'plain' | 'off', options: { sharesTerminal?: boolean } = {}) {
  let now = 0;
  const written: string[] = [];
  const reporter = new ProgressReporter({
    mode,
    stream: { write: (t: string) => written.push(t), isTTY: mode === 'tty', columns: 100 },
    redrawMs: 0,
    now: () => now,
    ...options,
  });
  return { reporter, written, tick: (ms: number) => (now += ms) };
}

describe('ProgressReporter', () => {
  test('default: on a terminal the bar is redrawn in place and ends with the summary', () => {
    const { reporter, written, tick } = setup('tty');
    reporter.update(at(0));
    tick(100);
    reporter.update(at(50));
    tick(100);
    reporter.finish('succeeded: 100/100');
    const out = written.join('');
    expect(out.startsWith('\r\x1b[2K[')).toBe(true);
    expect(out).toContain('0/100 done');
    expect(out).toContain('50/100 done');
    expect(out.endsWith('\r\x1b[2Ksucceeded: 100/100\n')).toBe(true);
    expect(out.split('\n')).toHaveLength(2); // one line, redrawn, then the summary
  });

  test('behavior: messages and stdout writes clear the bar, which comes back after', () => {
    const { reporter, written } = setup('tty', { sharesTerminal: true });
    reporter.update(at(10));
    reporter.message('task 3 failed');
    expect(written.slice(-3, -1)).toEqual(['\r\x1b[2K', 'task 3 failed\n']);
    expect(written.at(-1)!.startsWith('\r\x1b[2K[')).toBe(true);
    expect(written.at(-1)).toContain('10/100 done');
    let wrote = false;
    reporter.around(() => {
      wrote = true;
      expect(written.at(-1)).not.toContain('done'); // the bar was cleared first
    });
    expect(wrote).toBe(true);
    reporter.update(at(20));
    expect(written.at(-1)).toContain('20/100 done');
  });

  test('behavior: plain mode prints a line every 10 % or 2 s, never twice within 0.5 s', () => {
    const { reporter, written, tick } = setup('plain');
    reporter.update(at(1));
    expect(written).toHaveLength(0);
    tick(600);
    reporter.update(at(12));
    expect(written).toEqual([
      'progress: 12/100 done (12%), 0 failed, 0 running, 88 pending, 10 tasks/s, ETA 8.8s\n',
    ]);
    tick(100);
    reporter.update(at(40)); // 10 % more, but too soon
    expect(written).toHaveLength(1);
    tick(2000);
    reporter.update(at(41));
    expect(written).toHaveLength(2);
    reporter.update(at(100)); // the summary says it
    reporter.finish('done');
    expect(written).toHaveLength(3);
    expect(written.every((l) => !l.includes('\r') && !l.includes('\x1b'))).toBe(true);
  });

  test('behavior: off (--json) writes nothing', () => {
    const { reporter, written } = setup('off');
    reporter.update(at(50));
    reporter.message('x');
    reporter.finish('y');
    expect(written).toEqual([]);
  });
});
