import { describe, expect, test } from 'vitest';
import type { NodeReputation } from '../../../protocol/index.ts';
import { verdictNews } from './verdict-news.ts';

const rep = (r: Partial<NodeReputation>): NodeReputation => ({
  score: 0.5,
  accepted: 0,
  rejected: 0,
  late: 0,
  lost: 0,
  ...r,
});

describe('verdictNews', () => {
  test('a mismatch says how many, which were known-answer checks, and the streak it reset', () => {
    expect(
      verdictNews(
        rep({ agreed: 30, disagreed: 0, streak: 30, knownFailed: 0 }),
        rep({ agreed: 30, disagreed: 2, streak: 0, knownFailed: 1, credibility: 0.8 }),
      ),
    ).toBe(
      'verification: 2 answer(s) disagreed with the accepted result (1 of them known-answer checks); streak 30 -> 0, credibility 0.800',
    );
  });
  test('the first agreements are news once; further ones, and no change, are not', () => {
    const first = rep({ agreed: 3, streak: 3, credibility: 0.95 });
    expect(verdictNews(rep({}), first)).toBe(
      'verification: 3 answer(s) agreed with the accepted result; streak 3, credibility 0.950',
    );
    expect(verdictNews(first, rep({ agreed: 5, streak: 5 }))).toBeUndefined();
    expect(verdictNews(first, first)).toBeUndefined();
    expect(verdictNews(undefined, rep({ accepted: 4 }))).toBeUndefined();
  });
});
