import { describe, expect, test } from 'vitest';
import { binCount, chooseChart, MAX_BARS } from './chart-kind.ts';

const indexed = <T>(values: T[]) => values.map((v, i) => [i, v] as [number, T]);

describe('chooseChart', () => {
  test('default: a few numbers are bars by input index, with a histogram as the alternative', () => {
    const c = chooseChart(indexed([3, 1, 4]));
    expect(c).toMatchObject({ kind: 'bar', kinds: ['bar', 'histogram'], fields: [] });
    if (c.kind !== 'none')
      expect(c.points).toEqual([
        { x: 0, y: 3, index: 0 },
        { x: 1, y: 1, index: 1 },
        { x: 2, y: 4, index: 2 },
      ]);
  });

  test('behavior: many numbers are a line', () => {
    expect(chooseChart(indexed(Array.from({ length: MAX_BARS + 1 }, (_, i) => i * i)))).toMatchObject({
      kind: 'line',
      kinds: ['line', 'histogram'],
    });
  });

  test('behavior: the preferred kind wins when it fits, and is ignored when it does not', () => {
    expect(chooseChart(indexed([1, 2]), { kind: 'histogram' })).toMatchObject({ kind: 'histogram' });
    expect(chooseChart(indexed([1, 2]), { kind: 'scatter' })).toMatchObject({ kind: 'bar' });
  });

  test('behavior: [x, y] pairs and two-field objects are scatter plots', () => {
    const pairs = chooseChart(
      indexed([
        [1, 2],
        [3, 4],
      ]),
    );
    expect(pairs).toMatchObject({ kind: 'scatter', kinds: ['scatter'], axes: { x: '[0]', y: '[1]' } });
    const objects = chooseChart(
      indexed([
        { lo: 0, count: 5, name: 'a' },
        { lo: 10, count: 7, name: 'b' },
      ]),
    );
    expect(objects).toMatchObject({ kind: 'scatter', axes: { x: 'lo', y: 'count' } });
    if (objects.kind !== 'none') expect(objects.points[1]).toEqual({ x: 10, y: 7, index: 1 });
  });

  test('behavior: objects with several numeric fields draw the first field that varies', () => {
    const c = chooseChart(
      indexed([
        { samples: 100, inside: 78, pi: 3.12 },
        { samples: 100, inside: 80, pi: 3.2 },
      ]),
    );
    expect(c).toMatchObject({
      kind: 'bar',
      field: 'inside',
      fields: ['samples', 'inside', 'pi'],
      axes: { y: 'inside' },
    });
    expect(chooseChart(indexed([{ a: 1, b: 2, c: 3 }]), { field: 'c' })).toMatchObject({ field: 'c' });
  });

  test('behavior: failed tasks (no output) are skipped, and their indexes kept', () => {
    const c = chooseChart([
      [0, 5],
      [1, undefined],
      [2, 7],
    ]);
    if (c.kind === 'none') throw new Error('expected a chart');
    expect(c.points.map((p) => p.x)).toEqual([0, 2]);
  });

  test('error: strings, mixed shapes and empty outputs give no chart with a reason', () => {
    expect(chooseChart(indexed(['a', 'b']))).toMatchObject({
      kind: 'none',
      reason: expect.stringContaining('numeric'),
    });
    expect(chooseChart(indexed([1, 'b']))).toMatchObject({ kind: 'none' });
    expect(chooseChart([])).toMatchObject({ kind: 'none', reason: expect.stringContaining('no outputs') });
    expect(chooseChart(indexed([{ s: 'x' }]))).toMatchObject({ kind: 'none' });
  });
});

test('binCount: Sturges within bounds', () => {
  expect(binCount(0)).toBe(1);
  expect(binCount(1)).toBe(1);
  expect(binCount(1000)).toBe(11);
  expect(binCount(1e30)).toBe(50);
});
