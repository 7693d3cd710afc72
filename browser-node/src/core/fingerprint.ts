import type { JsonValue, RuntimeFingerprint } from '../../../protocol/index.ts';
import type { Executor } from './executor.ts';

/** One floating-point probe: a JavaScript expression whose value is a number. */
export interface FloatProbe {
  name: string;
  expr: string;
}

/**
 * Computations whose last bit may differ between engines, CPUs or libm versions. ECMAScript
 * leaves the precision of `Math.sin`, `exp`, `pow`… to the implementation (only `sqrt`, `fround`
 * and the arithmetic operators are correctly rounded), and V8 has changed its libm more than once,
 * so these are where replicas of the same task can disagree. The arguments are awkward on purpose:
 * huge (argument reduction), near poles and near 1 (cancellation), subnormal.
 *
 * WebAssembly's f32/f64 instructions are all correctly rounded by the spec (only NaN bit patterns
 * may vary), and wasm modules bring their own libm, so a wasm probe would only repeat these bits.
 */
export const floatProbes: readonly FloatProbe[] = [
  { name: 'sin(1e22)', expr: 'Math.sin(1e22)' },
  { name: 'cos(1e300)', expr: 'Math.cos(1e300)' },
  { name: 'tan(pi/2)', expr: 'Math.tan(Math.PI / 2)' },
  { name: 'tan(1e10)', expr: 'Math.tan(1e10)' },
  { name: 'exp(709.7)', expr: 'Math.exp(709.7)' },
  { name: 'exp(-745.1)', expr: 'Math.exp(-745.1)' },
  { name: 'expm1(1e-10)', expr: 'Math.expm1(1e-10)' },
  { name: 'log(1+2^-52)', expr: 'Math.log(1 + 2 ** -52)' },
  { name: 'log1p(1e-15)', expr: 'Math.log1p(1e-15)' },
  { name: 'log10(2)', expr: 'Math.log10(2)' },
  { name: 'pow(1.0000001,1e7)', expr: 'Math.pow(1.0000001, 1e7)' },
  { name: 'pow(2.5,-0.3)', expr: 'Math.pow(2.5, -0.3)' },
  { name: 'atan2(1,-1e-300)', expr: 'Math.atan2(1, -1e-300)' },
  { name: 'atan(1e-5)', expr: 'Math.atan(1e-5)' },
  { name: 'asin(0.9999999)', expr: 'Math.asin(0.9999999)' },
  { name: 'sinh(0.5)', expr: 'Math.sinh(0.5)' },
  { name: 'tanh(0.3)', expr: 'Math.tanh(0.3)' },
  { name: 'cbrt(3)', expr: 'Math.cbrt(3)' },
  { name: 'cbrt(5e-324)', expr: 'Math.cbrt(5e-324)' },
  { name: 'hypot(3e200,4e200)', expr: 'Math.hypot(3e200, 4e200)' },
  { name: 'hypot(1,1e-8,1e-8)', expr: 'Math.hypot(1, 1e-8, 1e-8)' },
  { name: 'fround(1/3)', expr: 'Math.fround(1 / 3)' },
  { name: 'sum forward', expr: '[1e16, 1, -1e16, 0.1, 0.2, 0.3].reduce((a, b) => a + b, 0)' },
  { name: 'sum backward', expr: '[1e16, 1, -1e16, 0.1, 0.2, 0.3].reduceRight((a, b) => a + b, 0)' },
  {
    name: 'sin series',
    expr: 'Array.from({ length: 1000 }, (_, i) => Math.sin(i * 0.731)).reduce((a, b) => a + b)',
  },
];

/** The probe task: an ES module whose default export returns `{ [name]: hex of the f64 bits }`. */
export function probeModule(probes: readonly FloatProbe[]): string {
  const entries = probes.map((p) => `    [${JSON.stringify(p.name)}, () => ${p.expr}],`).join('\n');
  return `const probes = [\n${entries}\n];
const view = new DataView(new ArrayBuffer(8));
const bits = (x) => {
  view.setFloat64(0, x);
  return view.getUint32(0).toString(16).padStart(8, '0') + view.getUint32(4).toString(16).padStart(8, '0');
};
export default () => Object.fromEntries(probes.map(([name, f]) => [name, bits(f())]));
`;
}

export interface ComputeFingerprintOptions {
  /** Runs the probes where tasks run: the float environment of results is the sandbox's. */
  executor: Executor;
  /** Facts the host knows: `process.versions` headless, the user agent in a tab. */
  engine: RuntimeFingerprint['engine'];
  /** Defaults to `floatProbes`; injectable for tests. */
  probes?: readonly FloatProbe[];
}

/**
 * Run the float probes once as an ordinary JS task through the node's executor and hash the bits.
 *
 * @example
 * const fingerprint = await computeFingerprint({ executor, engine: { name: 'node', v8: '13.6' } });
 * fingerprint.class; // '3f0c9a…' (16 hex digits), equal on nodes whose probes agree bit for bit
 */
export async function computeFingerprint(options: ComputeFingerprintOptions): Promise<RuntimeFingerprint> {
  const probes = options.probes ?? floatProbes;
  const code = probeModule(probes);
  const result = await options.executor.run({
    runtime: 'js',
    code,
    codeCid: `fingerprint-probes-${await sha256Hex(code)}`,
    input: null,
    timeoutMs: 10_000,
    memoryMb: 64,
    seed: 'fingerprint',
    clock: 0,
  });
  if (!result.ok) throw new Error(`fingerprint probes failed: ${result.error.message}`);
  const probeHash = await sha256Hex(serializeProbes(result.output));
  return { class: probeHash.slice(0, 16), probeHash, engine: options.engine };
}

/** `name=hex` lines in probe order: a stable text for the hash. */
function serializeProbes(output: JsonValue): string {
  if (!output || typeof output !== 'object' || Array.isArray(output)) {
    throw new Error('fingerprint probes returned no object');
  }
  return Object.entries(output)
    .map(([name, hex]) => `${name}=${String(hex)}\n`)
    .join('');
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
