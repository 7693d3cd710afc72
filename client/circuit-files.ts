import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Groth16VerificationKey } from '../protocol/index.ts';
import { type CircuitFiles, publicInputsOf } from './circuit.ts';

/**
 * A compiled circuit from a build folder (Node), as circom (`--r1cs --wasm --sym -o <dir>`) and
 * snarkjs write it: `<dir>/<name>_js/<name>.wasm`, `<name>.r1cs`, `<name>.sym`, `<name>.zkey` and
 * `<name>.vkey.json` (`snarkjs zkey export verificationkey`). `npm run circuits:build` builds the
 * templates of `circuits/src` into `circuits/build`.
 *
 * @example
 * const job = await mesh.prove(await loadCircuit('circuits/build', 'sum_range'), inputs);
 */
export async function loadCircuit(dir: string, name: string): Promise<CircuitFiles> {
  const [wasm, zkey, r1cs, sym, vkey] = await Promise.all([
    readFile(join(dir, `${name}_js`, `${name}.wasm`)),
    readFile(join(dir, `${name}.zkey`)),
    readFile(join(dir, `${name}.r1cs`)),
    readFile(join(dir, `${name}.sym`), 'utf8'),
    readFile(join(dir, `${name}.vkey.json`), 'utf8'),
  ]);
  return {
    name,
    wasm: new Uint8Array(wasm),
    zkey: new Uint8Array(zkey),
    verificationKey: JSON.parse(vkey) as Groth16VerificationKey,
    publicInputs: publicInputsOf(new Uint8Array(r1cs), sym),
  };
}
