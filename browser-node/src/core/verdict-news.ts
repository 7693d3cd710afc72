import type { NodeReputation } from '../../../protocol/index.ts';

/**
 * What verification's verdicts changed between two of a node's standings, as a line for its
 * operator, or undefined when nothing worth saying did: a mismatch (an answer, or a known-answer
 * check, that disagreed with the accepted result, which resets the streak), or the node's first
 * agreements.
 */
export function verdictNews(before: NodeReputation | undefined, after: NodeReputation): string | undefined {
  const n = (r: NodeReputation | undefined, k: 'agreed' | 'disagreed' | 'streak' | 'knownFailed') =>
    r?.[k] ?? 0;
  const disagreed = n(after, 'disagreed') - n(before, 'disagreed');
  const credibility = after.credibility === undefined ? '' : `, credibility ${after.credibility.toFixed(3)}`;
  if (disagreed > 0) {
    const known = n(after, 'knownFailed') - n(before, 'knownFailed');
    return (
      `verification: ${disagreed} answer(s) disagreed with the accepted result` +
      (known > 0 ? ` (${known} of them known-answer checks)` : '') +
      `; streak ${n(before, 'streak')} -> ${n(after, 'streak')}${credibility}`
    );
  }
  if (before && n(before, 'agreed') === 0 && n(after, 'agreed') > 0) {
    return `verification: ${n(after, 'agreed')} answer(s) agreed with the accepted result; streak ${n(after, 'streak')}${credibility}`;
  }
  return undefined;
}
