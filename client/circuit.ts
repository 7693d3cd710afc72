import { cidOf } from '../protocol/cid.ts';
import type { CircuitInput, CircuitManifestInput, Groth16VerificationKey } from '../protocol/index.ts';

/**
 * A compiled circuit, as `MeshClient.prove` takes it: what circom and snarkjs write for it.
 * `loadCircuit` (`client/circuit-files.ts`, Node) reads one from a build folder.
 */
export interface CircuitFiles {
  /** The witness calculator: circom's `<name>_js/<name>.wasm`. */
  wasm: Uint8Array;
  /** The Groth16 proving key (`snarkjs groth16 setup` + contributions): `<name>.zkey`. */
  zkey: Uint8Array;
  /** `snarkjs zkey export verificationkey <name>.zkey`. */
  verificationKey: Groth16VerificationKey;
  /** The main component's public inputs in declaration order (`publicInputsOf` finds them). */
  publicInputs: CircuitInput[];
  name?: string;
}

/**
 * The manifest a proven job of `circuit` carries: its files by CID (raw, sha2-256: what
 * `PUT /blobs` stores them under), the verification key and the public inputs.
 */
export async function circuitManifest(circuit: CircuitFiles): Promise<CircuitManifestInput> {
  const [wasm, zkey] = await Promise.all([cidOf(circuit.wasm), cidOf(circuit.zkey)]);
  return {
    protocol: 'groth16',
    wasm: wasm.toString(),
    zkey: zkey.toString(),
    verificationKey: circuit.verificationKey,
    publicInputs: circuit.publicInputs,
    ...(circuit.name === undefined ? {} : { name: circuit.name }),
  };
}

/**
 * The public inputs of a circuit, from its constraint system's header (`.r1cs`: how many outputs
 * and public inputs) and its symbols (`.sym`: the name of each witness signal). Witness signals are
 * ordered `1, outputs, public inputs, private inputs, …`, so the public inputs are the main
 * component's signals right after the outputs; arrays (`values[0]` … `values[7]`, `a[0][0]` …)
 * become one input with its dimensions.
 */
export function publicInputsOf(r1cs: Uint8Array, sym: string): CircuitInput[] {
  const { nOutputs, nPubInputs } = r1csHeader(r1cs);
  const first = 1 + nOutputs;
  const byWire = new Map<number, string>();
  for (const line of sym.split('\n')) {
    const [, wire, , name] = line.split(',');
    if (name === undefined || wire === undefined) continue;
    const w = Number(wire);
    if (w >= first && w < first + nPubInputs && name.startsWith('main.') && !byWire.has(w)) {
      byWire.set(w, name.slice('main.'.length));
    }
  }
  const inputs: CircuitInput[] = [];
  for (let w = first; w < first + nPubInputs; w++) {
    const full = byWire.get(w);
    if (full === undefined) throw new Error(`the symbols name no signal for public input wire ${w}`);
    const match = /^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$/.exec(full);
    if (!match) throw new Error(`public input ${full} is not a main-component signal`);
    const [, name, subscripts] = match as unknown as [string, string, string];
    const index = [...subscripts.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]) + 1);
    const last = inputs.at(-1);
    if (last?.name === name) {
      last.dims = last.dims.map((d, i) => Math.max(d, index[i] ?? 0));
    } else {
      inputs.push({ name, dims: index });
    }
  }
  return inputs;
}

/** The counts of an `.r1cs` file's header section (iden3's binary format). */
export interface R1csHeader {
  nWires: number;
  nOutputs: number;
  nPubInputs: number;
  nPrvInputs: number;
  nConstraints: number;
}

/** The counts from an `.r1cs` file's header section (iden3's binary format). */
export function r1csHeader(r1cs: Uint8Array): R1csHeader {
  const view = new DataView(r1cs.buffer, r1cs.byteOffset, r1cs.byteLength);
  if (new TextDecoder().decode(r1cs.subarray(0, 4)) !== 'r1cs') throw new Error('not an .r1cs file');
  const sections = view.getUint32(8, true);
  let at = 12;
  for (let s = 0; s < sections; s++) {
    const type = view.getUint32(at, true);
    const size = Number(view.getBigUint64(at + 4, true));
    at += 12;
    if (type === 1) {
      const n8 = view.getUint32(at, true);
      const h = at + 4 + n8; // after the prime: nWires, nPubOut, nPubIn, nPrvIn (u32), nLabels (u64), mConstraints (u32)
      return {
        nWires: view.getUint32(h, true),
        nOutputs: view.getUint32(h + 4, true),
        nPubInputs: view.getUint32(h + 8, true),
        nPrvInputs: view.getUint32(h + 12, true),
        nConstraints: view.getUint32(h + 24, true),
      };
    }
    at += size;
  }
  throw new Error('the .r1cs file has no header section');
}
