"""Monte Carlo estimate of pi: throw `samples` random points at the unit square and count those
inside the quarter circle. Each task is one batch; average the batches' `pi` (weighted by
`samples`) for the job's estimate.

Input:  {"samples": 200000}           (1 to 10,000,000)
Output: {"samples": 200000, "inside": 157143, "pi": 3.14286}

`random` is seeded per task on MonadMesh (same job and input index, same points), so a replica
of the task gives the same output, and CPython seeded the same way gives it too.
"""
import random


def main(input):
    samples = input.get("samples") if isinstance(input, dict) else None
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= 10_000_000:
        raise ValueError("input.samples must be an integer from 1 to 10,000,000")
    rand = random.random
    inside = 0
    for _ in range(samples):
        x = rand()
        y = rand()
        if x * x + y * y <= 1.0:
            inside += 1
    return {"samples": samples, "inside": inside, "pi": 4 * inside / samples}
