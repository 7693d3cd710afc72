import { describe, expect, test } from 'vitest';
import { limits } from '../../protocol/limits.ts';
import { leaseWindow, NEW_NODE_WINDOW } from './admission.ts';

const rep = (r: Partial<Parameters<typeof leaseWindow>[0]> = {}) => ({
  score: 0.5,
  accepted: 0,
  rejected: 0,
  late: 0,
  lost: 0,
  ...r,
});

describe('leaseWindow', () => {
  test('a new node holds a few leases; accepted work widens the window up to the cap', () => {
    expect(leaseWindow(rep())).toBe(NEW_NODE_WINDOW);
    expect(leaseWindow(rep({ accepted: 100 }))).toBe(NEW_NODE_WINDOW + 100);
    expect(leaseWindow(rep({ accepted: 1e6 }))).toBe(limits.maxHeldLeases);
  });
  test('answers verification found wrong shrink it, as lost and rejected leases do', () => {
    const honest = leaseWindow(rep({ accepted: 200, agreed: 200 }));
    const caught = leaseWindow(rep({ accepted: 200, agreed: 150, disagreed: 50 }));
    expect(caught).toBeLessThan(honest / 2);
    expect(leaseWindow(rep({ accepted: 0, disagreed: 1000 }))).toBe(1);
    expect(leaseWindow(rep({ accepted: 200, lost: 50 }))).toBeLessThan(honest);
  });
});
