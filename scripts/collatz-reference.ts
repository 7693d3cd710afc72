/**
 * The AssemblyScript template's computation (collatz.ts), written again in plain TypeScript: the
 * independent reference the tests compare the WebAssembly build with.
 */
export function collatzReference(from: number, to: number) {
  let bestStart = 0;
  let bestSteps = 0;
  let peak = 0;
  let totalSteps = 0;
  for (let start = from; start < to; start++) {
    let n = start;
    let steps = 0;
    while (n !== 1) {
      n = n % 2 === 1 ? 3 * n + 1 : n / 2;
      if (n > peak) peak = n;
      steps++;
    }
    if (start > peak) peak = start;
    totalSteps += steps;
    if (steps > bestSteps || bestStart === 0) {
      bestSteps = steps;
      bestStart = start;
    }
  }
  return {
    from,
    to,
    longest: bestStart === 0 ? null : { start: bestStart, steps: bestSteps },
    peak: bestStart === 0 ? null : peak,
    totalSteps,
  };
}
