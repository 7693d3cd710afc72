import type { JsonValue } from '../../../protocol/index.ts';
import type { ExecRequest, ExecResult, Executor } from './executor.ts';

/**
 * A lying executor, for tests of verification only (`--saboteur RATE` of the headless node,
 * refused outside development): it runs each task honestly, then, at `rate`, returns a plausible
 * wrong answer instead: most often the output slightly changed (a number off by a little, a
 * string with a character more, a flag flipped), sometimes a made-up failure (of one of four
 * kinds), and for a task that
 * failed, a made-up output; a proven (`circom`) task gets either a wrong signal with its
 * honest proof or its honest signals with a broken proof. The change depends on `salt` (the node's peer id) and the task, so
 * two saboteurs rarely tell the same lie: they are independent, as verification assumes. With
 * `honestFirst`, it answers its first tasks honestly (a sleeper: it earns a record, then lies).
 */
export class SaboteurExecutor implements Executor {
  readonly runtimes;
  readonly capacity;
  /** Answers it changed so far. */
  lies = 0;
  /** Tasks it ran so far. */
  ran = 0;
  readonly #inner: Executor;
  readonly #honestFirst: number;
  readonly #rate: number;
  readonly #salt: string;
  readonly #random: () => number;

  constructor(
    inner: Executor,
    rate: number,
    salt: string,
    random: () => number = Math.random,
    honestFirst = 0,
  ) {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`saboteur rate must be from 0 to 1, got ${rate}`);
    if (!(Number.isSafeInteger(honestFirst) && honestFirst >= 0))
      throw new RangeError(`honest tasks first must be a whole number, got ${honestFirst}`);
    this.#honestFirst = honestFirst;
    this.#inner = inner;
    this.#rate = rate;
    this.#salt = salt;
    this.#random = random;
    this.runtimes = inner.runtimes;
    this.capacity = inner.capacity;
  }

  async run(request: ExecRequest, signal?: AbortSignal): Promise<ExecResult> {
    const result = await this.#inner.run(request, signal);
    if (++this.ran <= this.#honestFirst) return result;
    if (signal?.aborted || this.#random() >= this.#rate) return result;
    if (!result.ok && result.error.kind === 'node_error') return result;
    this.lies++;
    const k = 1 + (hash(`${this.#salt}:${request.seed}`) % 997);
    if (!result.ok) return { ok: true, output: k, logs: result.logs, durationMs: result.durationMs };
    if (this.#random() < 0.125) {
      // Of a kind that depends on the node and task too: a failure is compared by its kind, so
      // saboteurs that all said `user_error` would agree on their lie far more often than on others.
      return {
        ok: false,
        error: {
          kind: MADE_UP_FAILURES[k % MADE_UP_FAILURES.length]!,
          message: 'Error: made up by a saboteur',
        },
        logs: result.logs,
        durationMs: result.durationMs,
      };
    }
    if (result.proof && Array.isArray(result.output)) {
      // A proven task: either another first signal with the honest proof, or the honest signals
      // with a proof that is no longer one (A and C swapped: still points on the curve).
      const signals = result.output as string[];
      return k % 2
        ? { ...result, output: [String(BigInt(signals[0] ?? '0') + BigInt(k)), ...signals.slice(1)] }
        : { ...result, proof: { ...result.proof, pi_a: result.proof.pi_c, pi_c: result.proof.pi_a } };
    }
    return { ...result, output: perturb(result.output, k) };
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** The failures a saboteur makes up: those that count as the task's answer (not a node's own trouble). */
const MADE_UP_FAILURES = ['user_error', 'timeout', 'memory_limit', 'output_invalid'] as const;

/** `--saboteur RATE[@N]`: the rate, and how many tasks to answer honestly first. */
export function parseSaboteur(arg: string): { rate: number; honestFirst: number } | undefined {
  const m = /^(\d+(?:\.\d+)?|\.\d+)(?:@(\d+))?$/.exec(arg);
  if (!m) return undefined;
  const rate = Number(m[1]);
  const honestFirst = Number(m[2] ?? 0);
  return rate <= 1 && Number.isSafeInteger(honestFirst) ? { rate, honestFirst } : undefined;
}

/** A value like `v` but not equal to it. */
export function perturb(v: JsonValue, k: number): JsonValue {
  if (typeof v === 'number') return Number.isInteger(v) ? v + k : v * (1 + k * 1e-9) + k * 1e-12;
  if (typeof v === 'string') return v + String.fromCharCode(97 + (k % 26));
  if (typeof v === 'boolean') return !v;
  if (v === null) return k;
  if (Array.isArray(v)) return v.length ? [perturb(v[0]!, k), ...v.slice(1)] : [k];
  const keys = Object.keys(v);
  if (!keys.length) return { x: k };
  return { ...v, [keys[0]!]: perturb(v[keys[0]!]!, k) };
}

/** FNV-1a, 32 bits: enough to vary the lie. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
