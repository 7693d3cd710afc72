/**
 * A seeded stream of uint32 values: the same seed gives the same sequence on every node, headless
 * or in a browser. It backs the JS sandbox's `Math.random` and WASI's `random_get`, so that a
 * task's "randomness" is a function of its job and input index and a result can be re-checked.
 *
 * @example
 * const next = seededUint32('job-id:7');
 * next(); // 0 … 2^32 − 1, the same first value every time for this seed
 */
export function seededUint32(seed: string): () => number {
  return sfc32(...cyrb128(seed));
}

/**
 * Hand-written rather than from a package: the generator is an endowment, so it must be a plain
 * function we create and harden ourselves (not code that expects a host Math.random or a mutable
 * module), and it must give the same sequence in Node and in browsers. sfc32 (Chris Doty-Humphrey's
 * Small Fast Counter, public domain) passes PractRand; cyrb128 spreads any seed string over its
 * 128-bit state. Not cryptographic, and Math.random never was.
 */
function sfc32(seedA: number, seedB: number, seedC: number, seedD: number): () => number {
  let a = seedA;
  let b = seedB;
  let c = seedC;
  let d = seedD;
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) next(); // mix the seed in before the first output
  return next;
}

function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}
