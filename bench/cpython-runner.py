"""The native side of `npm run bench -- runtimes` for Python: a long-lived CPython process that runs
tasks the way a warm MonadMesh Python worker does, without the sandbox. Reads one JSON task per
line on stdin, {"code"?: "...", "input": ..., "seed": "..."}; a task that carries `code` compiles
and executes it in a fresh namespace first (new code), later tasks call the same `main` again.
Each task seeds `random` with its seed (so a template does the same work as under MonadMesh) and
gets one line back: the microseconds spent in this process on the task (from parsing its line to
serializing its output, the part that our worker's `durationMs` also covers), a tab, and the
output JSON, serialized as the node does.
"""
import json
import random
import sys
import time

main = None
for line in sys.stdin:
    started = time.perf_counter_ns()
    task = json.loads(line)
    if "code" in task:
        namespace = {"__name__": "__task__"}
        exec(compile(task["code"], "<task>", "exec"), namespace)
        main = namespace["main"]
    random.seed(task["seed"])
    output = json.dumps(main(task["input"]), allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    spent = (time.perf_counter_ns() - started) / 1000
    sys.stdout.write(f"{spent:.1f}\t{output}\n")
    sys.stdout.flush()
