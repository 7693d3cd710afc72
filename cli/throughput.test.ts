import { describe, expect, test } from 'vitest';
import { Throughput } from './throughput.ts';

describe('Throughput', () => {
  test('default: finished tasks per second and the ETA from it', () => {
    let now = 0;
    const t = new Throughput({ now: () => now });
    expect(t.perSecond()).toBe(0);
    expect(t.etaSeconds(10)).toBeUndefined();
    now = 1000;
    t.record(50);
    expect(t.perSecond()).toBe(50);
    expect(t.etaSeconds(100)).toBe(2);
    expect(t.etaSeconds(0)).toBe(0);
  });

  test('behavior: the rate follows the last few seconds, not the whole run', () => {
    let now = 0;
    const t = new Throughput({ now: () => now, windowMs: 5000 });
    for (let s = 1; s <= 10; s++) {
      now = s * 1000;
      t.record(s <= 5 ? s * 10 : 50 + (s - 5) * 100); // 10/s, then 100/s
    }
    expect(t.perSecond()).toBeGreaterThanOrEqual(90);
  });
});
