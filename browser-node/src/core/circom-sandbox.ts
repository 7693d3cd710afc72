import { buildBn128 } from 'ffjavascript';
import * as snarkjs from 'snarkjs';
import { CircuitManifest, expectedInputSignals, outputBindsInput } from '../../../protocol/circuit.ts';
import { verifyGroth16 } from '../../../protocol/groth16.ts';
import type { SandboxResult, SandboxRunCircom } from '../../../protocol/sandbox.ts';

/**
 * Proves `circom` tasks: the witness with the circuit's own witness calculator (circom's wasm,
 * which reaches nothing but the few imports snarkjs gives it), then a Groth16 proof with the
 * proving key, both with snarkjs in this worker on one thread (no helper threads: the pool's
 * slot is the unit of parallelism, and the host's limits apply to one worker; see `warm`). The node checks its
 * own proof against the manifest's verification key before it reports it, with the verifier the
 * room uses: a proving key from another setup, or of another circuit, is the job's fault and
 * fails the task with that reason instead of sending a proof the room would reject.
 *
 * Outputs are the public signals, as decimal strings: outputs first, then the public inputs.
 */
export class CircomSandbox {
  /**
   * Build BN254 once, on one thread, where snarkjs finds it. snarkjs asks ffjavascript for the curve
   * at every proof; with `singleThread` that builds a new one each time (a WebAssembly module and a
   * 2 GB memory reservation, ~100 ms), and without it the cached curve is used, or else a new one
   * with a helper thread per core. Caching a single-threaded curve where the multi-threaded one
   * would be kept gives one thread and one build. Workers call this before they say `ready`, so the
   * build is part of their start-up, not of a task (nor of its memory budget).
   */
  static async warm(): Promise<void> {
    const scope = globalThis as { curve_bn128?: unknown };
    if (!scope.curve_bn128) scope.curve_bn128 = await buildBn128(true);
  }

  async run(message: SandboxRunCircom): Promise<SandboxResult> {
    await CircomSandbox.warm();
    const started = performance.now();
    const base = { type: 'result' as const, id: message.id, logs: '' };
    const fail = (kind: 'user_error' | 'output_invalid', text: string): SandboxResult => ({
      ...base,
      ok: false,
      error: { kind, message: text.slice(0, 4000) },
      durationMs: performance.now() - started,
    });
    let manifest: CircuitManifest;
    try {
      manifest = CircuitManifest.parse(JSON.parse(message.code));
    } catch (error) {
      return fail('user_error', `the job's circuit manifest is invalid: ${(error as Error).message}`);
    }
    const input = JSON.parse(message.inputJson) as unknown;
    const fits = expectedInputSignals(manifest.publicInputs, input);
    if (!fits.ok) return fail('user_error', `the input does not fit the circuit: ${fits.problem}`);
    let proved: { proof: unknown; publicSignals: string[] };
    try {
      proved = (await snarkjs.groth16.fullProve(
        input as snarkjs.CircuitSignals,
        { type: 'mem', data: message.wasm } as unknown as string,
        { type: 'mem', data: message.zkey } as unknown as string,
        undefined,
        { memorySize: message.witnessPages },
      )) as { proof: unknown; publicSignals: string[] };
    } catch (error) {
      return fail('user_error', describeProvingError(error));
    }
    const check = verifyGroth16(manifest.verificationKey, proved.proof, proved.publicSignals);
    if (!check.ok) {
      return fail(
        'user_error',
        `the proof made with the job's proving key does not verify against the manifest's verification key (${check.reason}): the zkey and the verification key are not from the same setup of this circuit`,
      );
    }
    // The room accepts a proof only if its public signals end with the task's input. When they do
    // not, the manifest's public inputs do not describe this circuit (another order, say): the
    // job's fault, said as such, rather than a proof the room would take for a lie.
    const unbound = outputBindsInput(manifest, input, proved.publicSignals);
    if (unbound) {
      return fail(
        'user_error',
        `the circuit's public signals do not carry the task's input where the manifest's public inputs say (${unbound}): the manifest does not describe this circuit`,
      );
    }
    return {
      ...base,
      ok: true,
      outputJson: JSON.stringify(proved.publicSignals),
      proofJson: JSON.stringify(proved.proof),
      durationMs: performance.now() - started,
    };
  }
}

/** snarkjs's errors, said in the user's terms. */
function describeProvingError(error: unknown): string {
  const text = String((error as Error)?.message ?? error);
  if (/Assert Failed|Error in template/i.test(text)) {
    return `the input does not satisfy the circuit's constraints: ${text}`;
  }
  if (/Not enough values for input signal|Too many values for input signal|Signal not found/i.test(text)) {
    return `the input does not match the circuit's signals: ${text}`;
  }
  if (/Invalid witness length|zkey|Invalid File format|Invalid FastFile|sections/i.test(text)) {
    return `the proving key (zkey) does not fit the circuit's witness calculator: ${text}`;
  }
  if (/WebAssembly|wasm|magic/i.test(text)) {
    return `the circuit's witness calculator (wasm) could not run: ${text}`;
  }
  return `proving failed: ${text}`;
}
