/**
 * Monte Carlo estimate of π: throw `samples` random points at the unit square and count those
 * inside the quarter circle. Each task is one batch; average the batches' `pi` (weighted by
 * `samples`) for the job's estimate, whose error shrinks like 1/√(total samples).
 *
 * Input:  { "samples": 1000000 }           (1 to 100,000,000)
 * Output: { "samples": 1000000, "inside": 785312, "pi": 3.141248 }
 *
 * Math.random is seeded per task on MonadMesh (same job and input index, same points), so a
 * replica of the task gives the same output and results can be re-checked.
 *
 *   npx monadmesh run templates/js/monte-carlo-pi.js --inputs templates/js/monte-carlo-pi.inputs.jsonl
 */
export default function monteCarloPi(input) {
  const samples = input?.samples;
  if (!Number.isInteger(samples) || samples < 1 || samples > 100_000_000) {
    throw new RangeError('input.samples must be an integer from 1 to 100,000,000');
  }
  let inside = 0;
  for (let i = 0; i < samples; i++) {
    const x = Math.random();
    const y = Math.random();
    if (x * x + y * y <= 1) inside++;
  }
  return { samples, inside, pi: (4 * inside) / samples };
}
