import { describe, expect, test } from 'vitest';
import { nodeInfo } from './fixtures.ts';
import { hash32, pathThrough, placeNodes } from './layout.ts';

const distance = (a: [number, number], b: [number, number]) => Math.hypot(a[0] - b[0], a[1] - b[1]);

describe('placeNodes', () => {
  test('default: a lone node sits on its place', () => {
    const [p] = placeNodes([nodeInfo('a', { location: { latitude: 52.5, longitude: 13.4 } })]);
    expect(p).toMatchObject({ lonLat: [13.4, 52.5], offset: [0, 0], unknownSlot: undefined });
  });

  test('behavior: nodes at one place are spread apart, at least `spacing` pixels from each other', () => {
    const nodes = Array.from({ length: 20 }, (_, i) => nodeInfo(`node-${i}`));
    const placed = placeNodes(nodes, 14);
    expect(placed.every((p) => p.lonLat?.[0] === -97.7 && p.lonLat[1] === 30.3)).toBe(true);
    for (const [i, a] of placed.entries()) {
      for (const b of placed.slice(i + 1)) expect(distance(a.offset, b.offset)).toBeGreaterThanOrEqual(14);
      // …and stay close to it: the spread grows with the square root of the count.
      expect(distance(a.offset, [0, 0])).toBeLessThanOrEqual(14 * Math.sqrt(20));
    }
  });

  test('behavior: the spread is deterministic: by peer id, whatever order the nodes come in', () => {
    const nodes = ['x', 'y', 'z'].map((id) => nodeInfo(id));
    const offsets = (list: typeof nodes) =>
      Object.fromEntries(placeNodes(list).map((p) => [p.node.nodeId, p.offset]));
    const first = offsets(nodes);
    expect(offsets([...nodes].reverse())).toEqual(first);
    expect(offsets([nodes[1]!, nodes[2]!, nodes[0]!])).toEqual(first);
    expect(new Set(Object.values(first).map(String)).size).toBe(3);
  });

  test('behavior: nodes at different places are not moved; nodes without coordinates get strip slots', () => {
    const placed = placeNodes([
      nodeInfo('berlin', { location: { latitude: 52.5, longitude: 13.4 } }),
      nodeInfo('austin'),
      nodeInfo('nowhere-1', { location: {} }),
      nodeInfo('nowhere-2', { location: { country: 'FR' } }),
    ]);
    const by = Object.fromEntries(placed.map((p) => [p.node.nodeId, p]));
    expect(by.berlin).toMatchObject({ offset: [0, 0], unknownSlot: undefined });
    expect(by.austin).toMatchObject({ offset: [0, 0], unknownSlot: undefined });
    expect(by['nowhere-1']?.lonLat).toBeUndefined();
    expect([by['nowhere-1']?.unknownSlot, by['nowhere-2']?.unknownSlot].sort()).toEqual([0, 1]);
  });
});

describe('hash32', () => {
  test('default: stable, and different for ids that differ only at the end', () => {
    expect(hash32('12D3KooWabc')).toBe(hash32('12D3KooWabc'));
    expect(hash32('12D3KooWabc')).not.toBe(hash32('12D3KooWabd'));
    expect(hash32('')).toBe(0x811c9dc5);
  });
});

describe('pathThrough', () => {
  test('default: a line through the points', () => {
    expect(
      pathThrough(
        [
          [0, 0],
          [10.123, 5],
          [20, 10],
        ],
        100,
      ),
    ).toBe('M0,0L10.12,5L20,10');
  });

  test('behavior: the pen lifts where the path jumps across the map (the antimeridian)', () => {
    expect(
      pathThrough(
        [
          [790, 50],
          [798, 52],
          [3, 54],
          [10, 56],
        ],
        400,
      ),
    ).toBe('M790,50L798,52M3,54L10,56');
  });
});
