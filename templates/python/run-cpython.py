"""Runs a Python template under the machine's CPython the way a MonadMesh node runs a task: a
fresh namespace, `random` seeded with the task seed, `time.time()` returning the task clock.
Reads one JSON task per line on stdin ({"input": ..., "seed": "...", "clock": ms}) and prints
one output JSON per line, serialized as the node does, so the two can be compared byte for byte.

    python3 templates/python/run-cpython.py templates/python/word-frequency.py < tasks.jsonl
"""
import json
import random
import sys
import time

source = open(sys.argv[1], encoding="utf-8").read()
for line in sys.stdin:
    if not line.strip():
        continue
    task = json.loads(line)
    random.seed(task["seed"])
    clock = task.get("clock", 0)
    time.time = lambda: clock / 1000
    namespace = {"__name__": "__task__"}
    exec(compile(source, sys.argv[1], "exec"), namespace)
    output = namespace["main"](task["input"])
    print(json.dumps(output, allow_nan=False, separators=(",", ":"), ensure_ascii=False))
