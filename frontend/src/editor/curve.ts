import { buildBn128 } from 'ffjavascript';

/**
 * snarkjs asks ffjavascript for BN254 at each step, and in a browser a cached curve would start a
 * helper Web Worker per core from a blob URL; a single-threaded curve kept where snarkjs looks for
 * the cached one gives one thread and one build (as `CircomSandbox.warm` does on nodes).
 */
export async function ensureCurve(): Promise<void> {
  const scope = globalThis as { curve_bn128?: unknown };
  if (!scope.curve_bn128) scope.curve_bn128 = await buildBn128(true);
}
