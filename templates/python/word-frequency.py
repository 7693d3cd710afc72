"""Word frequency of a text: the map step of a word count. Each task is one document (or one
chunk of a large one); add up the `top` lists, or ask for `top: 0` to get every word, and merge.

Input:  {"text": "It was the best of times, it was the worst of times", "top": 3}
        `top` (default 10, 0 for all) is how many words to return.
Output: {"words": 12, "distinct": 7, "top": [["it", 2], ["of", 2], ["the", 2]]}

Words are runs of letters and digits, joined by single apostrophes inside a word ("don't"),
compared in lower case. Ties are broken alphabetically, so the output is the same everywhere.
"""
import re
from collections import Counter

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def main(input):
    if not isinstance(input, dict) or not isinstance(input.get("text"), str):
        raise TypeError("input.text must be a string")
    top = input.get("top", 10)
    if not isinstance(top, int) or isinstance(top, bool) or top < 0:
        raise ValueError("input.top must be a non-negative integer")
    counts = Counter(WORD.findall(input["text"].lower()))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "words": sum(counts.values()),
        "distinct": len(counts),
        "top": [list(item) for item in (ranked if top == 0 else ranked[:top])],
    }
