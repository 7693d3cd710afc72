import { describe, expect, test } from 'vitest';
import { confidences, credibility, DISSENT_CAP, decide, spotCheckRate, type Vote } from './quorum.ts';

const vote = (identity: string, answer: string, streak = 0, trusted = false): Vote => ({
  identity,
  answer,
  credibility: trusted ? 1 : credibility(streak),
  streak,
  trusted,
});
const never = () => 0.999; // no spot check drawn
const always = () => 0; // a spot check drawn
const adaptive = { kind: 'adaptive', trust: 0.98 } as const;

describe('credibility', () => {
  test('a new identity weighs 0.8, more with every agreement, never 1', () => {
    expect(credibility(0)).toBeCloseTo(0.8);
    expect(credibility(9)).toBeCloseTo(0.98);
    expect(credibility(1e6)).toBeLessThan(1);
    expect(spotCheckRate(0)).toBe(1);
    expect(spotCheckRate(1e6)).toBe(0.05);
  });

  test('agreement raises a group, dissent lowers it, and dissent caps every weight', () => {
    const two = confidences([vote('a', 'x'), vote('b', 'x')]).get('x')!;
    const three = confidences([vote('a', 'x'), vote('b', 'x'), vote('c', 'x')]).get('x')!;
    expect(three).toBeGreaterThan(two);
    const disputed = confidences([vote('a', 'x'), vote('b', 'x'), vote('c', 'y')]).get('x')!;
    expect(disputed).toBeLessThan(two);
    // A veteran (0.9998) against two newcomers weighs as one of them (DISSENT_CAP).
    const c = confidences([vote('vet', 'x', 1000), vote('n1', 'y'), vote('n2', 'y')]);
    const capped =
      (DISSENT_CAP * 0.04) / (DISSENT_CAP * 0.04 + 0.64 * (1 - DISSENT_CAP) + 0.04 * (1 - DISSENT_CAP));
    expect(c.get('x')).toBeCloseTo(capped);
  });
});

describe('decide, fixed redundancy', () => {
  const r3 = { kind: 'fixed', redundancy: 3 } as const;
  test('r = 1 takes the first answer unverified, a failure too', () => {
    expect(decide({ kind: 'fixed', redundancy: 1 }, [vote('a', 'error:user_error')], never)).toMatchObject({
      kind: 'accept',
      answer: 'error:user_error',
      how: 'unverified',
    });
  });
  test('r agreeing identities are needed, and more than any other answer; a tie waits', () => {
    expect(decide(r3, [vote('a', 'x'), vote('b', 'x')], never).kind).toBe('more');
    expect(decide(r3, [vote('a', 'x'), vote('b', 'x'), vote('c', 'x')], never)).toMatchObject({
      kind: 'accept',
      answer: 'x',
      how: 'quorum',
    });
    const tie = ['x', 'y', 'x', 'y', 'x', 'y'].map((a, i) => vote(`i${i}`, a));
    expect(decide(r3, tie, never).kind).toBe('more');
    expect(decide(r3, [...tie, vote('i6', 'x')], never)).toMatchObject({ kind: 'accept', answer: 'x' });
  });
  test('past 2r + 1 replicas without a quorum: inconsistent', () => {
    const split = ['x', 'y', 'z', 'x', 'y', 'z', 'w'].map((a, i) => vote(`i${i}`, a));
    expect(decide(r3, split, never).kind).toBe('inconsistent');
  });
});

describe('decide, adaptive', () => {
  test('new identities never decide alone: three agreeing ones reach 0.98', () => {
    expect(decide(adaptive, [vote('a', 'x')], never).kind).toBe('more');
    expect(decide(adaptive, [vote('a', 'x'), vote('b', 'x')], never).kind).toBe('more');
    expect(decide(adaptive, [vote('a', 'x'), vote('b', 'x'), vote('c', 'x')], never)).toMatchObject({
      kind: 'accept',
      how: 'quorum',
    });
  });
  test("the owner's own node decides its job", () => {
    expect(decide(adaptive, [vote('owner', 'error:timeout', 0, true)], never)).toMatchObject({
      kind: 'accept',
      how: 'trusted',
      confidence: 1,
    });
  });
  test('a credible identity decides alone unless a spot check is drawn', () => {
    expect(decide(adaptive, [vote('vet', 'x', 100)], never)).toMatchObject({
      kind: 'accept',
      how: 'credible',
    });
    expect(decide(adaptive, [vote('vet', 'x', 100)], always)).toMatchObject({
      kind: 'more',
      spotCheck: true,
    });
    // The spot check agrees: a quorum.
    expect(decide(adaptive, [vote('vet', 'x', 100), vote('new', 'x')], never)).toMatchObject({
      kind: 'accept',
      how: 'quorum',
    });
  });
  test('a failure is never final on one identity, however credible', () => {
    expect(decide(adaptive, [vote('vet', 'error:user_error', 1000)], never)).toMatchObject({
      kind: 'more',
      reason: expect.stringMatching(/second identity/),
    });
    expect(
      decide(adaptive, [vote('vet', 'error:user_error', 1000), vote('b', 'error:user_error', 50)], never),
    ).toMatchObject({ kind: 'accept', answer: 'error:user_error' });
  });
  test('a caught veteran does not outvote newcomers; they win with enough agreement', () => {
    const votes = [vote('vet', 'wrong', 1000), vote('n1', 'right'), vote('n2', 'right')];
    expect(decide(adaptive, votes, never).kind).toBe('more');
    votes.push(vote('n3', 'right'));
    expect(decide(adaptive, votes, never).kind).toBe('more');
    votes.push(vote('n4', 'right'));
    expect(decide(adaptive, votes, never)).toMatchObject({ kind: 'accept', answer: 'right' });
  });
  test('a failure is overturned by agreeing outputs', () => {
    const votes = [
      vote('a', 'error:user_error'),
      vote('b', 'x'),
      vote('c', 'x'),
      vote('d', 'x'),
      vote('e', 'x'),
    ];
    expect(decide(adaptive, votes, never)).toMatchObject({ kind: 'accept', answer: 'x' });
  });
  test('seven replicas without the target: inconsistent', () => {
    const votes = ['x', 'y', 'x', 'y', 'x', 'y', 'z'].map((a, i) => vote(`i${i}`, a));
    expect(decide(adaptive, votes, never).kind).toBe('inconsistent');
  });
});
