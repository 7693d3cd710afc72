import { expect, test } from 'vitest';
import { RestartPolicy } from './restart-policy.ts';

test('restart waits double from 1 s up to 30 s while the node keeps dying soon after it starts', () => {
  const policy = new RestartPolicy();
  const waits = Array.from({ length: 8 }, () => policy.next(500));
  expect(waits).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
});

test('a node that ran a minute before dying is started again after the first wait', () => {
  const policy = new RestartPolicy({ firstMs: 100, maxMs: 1000, stableMs: 10_000 });
  expect([policy.next(5), policy.next(5), policy.next(5)]).toEqual([100, 200, 400]);
  expect(policy.next(10_000)).toBe(100);
  expect(policy.next(9_999)).toBe(200);
});
