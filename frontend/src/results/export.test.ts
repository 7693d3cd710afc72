import { describe, expect, test } from 'vitest';
import type { TaskResult } from '../../../protocol/index.ts';
import { csvCell, toCsv, toJsonLines } from './export.ts';

const ok = (index: number, output: TaskResult['output']): TaskResult => ({
  index,
  state: 'succeeded',
  output,
  attempts: 1,
  nodeId: 'n1',
  durationMs: 2.5,
});

describe('exports', () => {
  test('default: JSON lines are one TaskResult per line', () => {
    const text = toJsonLines([ok(0, 1), ok(1, { a: [1] })]);
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    ).toEqual([ok(0, 1), ok(1, { a: [1] })]);
    expect(toJsonLines([])).toBe('');
  });

  test('default: CSV spreads object outputs into columns and keeps failures', () => {
    const csv = toCsv([
      ok(0, { pi: 3.14, tags: ['a', 'b'] }),
      { index: 1, state: 'failed', attempts: 1, error: { kind: 'user_error', message: 'bad "x", y' } },
      ok(2, { pi: 3.1, extra: true }),
    ]);
    expect(csv.split('\r\n')).toEqual([
      'index,state,output.pi,output.tags,output.extra,error_kind,error_message,attempts,node,duration_ms',
      '0,succeeded,3.14,"[""a"",""b""]",,,,1,n1,2.5',
      '1,failed,,,,user_error,"bad ""x"", y",1,,',
      '2,succeeded,3.1,,true,,,1,n1,2.5',
      '',
    ]);
  });

  test('behavior: non-object outputs go in one output column', () => {
    expect(toCsv([ok(0, 5), ok(1, 'text')]).split('\r\n')[2]).toBe('1,succeeded,text,,,1,n1,2.5');
  });

  test('behavior: formula-looking text is defused; newlines are quoted', () => {
    expect(csvCell('=SUM(A1)')).toBe("'=SUM(A1)");
    expect(csvCell(-5)).toBe('-5');
    expect(csvCell('a\nb')).toBe('"a\nb"');
    expect(csvCell(null)).toBe('');
  });
});
