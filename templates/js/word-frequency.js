/**
 * Word frequency of a text: the map step of a word count. Each task is one document (or one
 * chunk of a large one); add up the `top` lists, or ask for `top: 0` to get every word, and merge.
 *
 * Input:  { "text": "It was the best of times, it was the worst of times…", "top": 3 }
 *         `top` (default 10, 0 for all) is how many words to return.
 * Output: { "words": 12, "distinct": 7, "top": [["it", 2], ["of", 2], ["the", 2]] }
 *
 * Words are runs of letters, digits and apostrophes inside a word ("don't"), in any script,
 * compared in lower case. Ties are broken alphabetically, so the output is the same everywhere.
 *
 *   npx monadmesh run templates/js/word-frequency.js --inputs templates/js/word-frequency.inputs.jsonl
 */
export default function wordFrequency(input) {
  if (typeof input?.text !== 'string') throw new TypeError('input.text must be a string');
  const top = input.top ?? 10;
  if (!Number.isInteger(top) || top < 0) throw new RangeError('input.top must be a non-negative integer');
  const counts = new Map();
  let words = 0;
  for (const [word] of input.text.toLowerCase().matchAll(/[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*/gu)) {
    counts.set(word, (counts.get(word) ?? 0) + 1);
    words++;
  }
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { words, distinct: counts.size, top: top === 0 ? ranked : ranked.slice(0, top) };
}
