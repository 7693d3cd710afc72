import { z } from 'zod';
import matmulSource from '../../../circuits/src/matmul.circom?raw';
import merkleSource from '../../../circuits/src/merkle_inclusion.circom?raw';
import poseidonSource from '../../../circuits/src/poseidon_vector.circom?raw';
import sumRangeSource from '../../../circuits/src/sum_range.circom?raw';
import type { CircuitFiles } from '../../../client/circuit.ts';
import { CircuitInput, Groth16VerificationKey } from '../../../protocol/index.ts';

/**
 * The provable templates the editor offers in "Zero-knowledge proof" mode: the circuits of
 * `circuits/src` (an unedited template is proven as `npm run build:web` compiled it; an edited one
 * is compiled in the tab), with example inputs. Every input field is a public input of the circuit.
 */
export interface CircuitTemplate {
  /** The template's name in circuits/src (and in the build's `circuits/index.json`). */
  name: string;
  title: string;
  /** What a proof of it shows. */
  proves: string;
  source: string;
  /** Example inputs: a JSON array, one object per task. */
  inputs: string;
}

const rows = (values: unknown[]) => `[\n${values.map((v) => `  ${JSON.stringify(v)}`).join(',\n')}\n]`;

export const CIRCUIT_TEMPLATES: readonly CircuitTemplate[] = [
  {
    name: 'sum_range',
    title: 'Sum, min and max with a range check',
    proves:
      'that every value lies in [lo, hi], and the sum, minimum and maximum of the values (outputs first)',
    source: sumRangeSource,
    inputs: rows([
      { values: [3, 1, 4, 1, 5, 9, 2, 6], lo: 0, hi: 9 },
      { values: [2, 7, 1, 8, 2, 8, 1, 8], lo: 1, hi: 8 },
      { values: [10, 20, 30, 40, 50, 60, 70, 80], lo: 10, hi: 80 },
    ]),
  },
  {
    name: 'poseidon_vector',
    title: 'Poseidon hash of a vector',
    proves: 'that the output is the Poseidon hash of the 8 values (a commitment a contract can check)',
    source: poseidonSource,
    inputs: rows([{ values: [1, 2, 3, 4, 5, 6, 7, 8] }, { values: [8, 7, 6, 5, 4, 3, 2, 1] }]),
  },
  {
    name: 'matmul',
    title: 'Matrix product (3×3)',
    proves: 'that the output is A · B over the field',
    source: matmulSource,
    inputs: rows([
      {
        a: [
          [1, 2, 3],
          [4, 5, 6],
          [7, 8, 9],
        ],
        b: [
          [9, 8, 7],
          [6, 5, 4],
          [3, 2, 1],
        ],
      },
    ]),
  },
  {
    name: 'merkle_inclusion',
    title: 'Merkle inclusion (Poseidon tree of 128 leaves)',
    proves: 'that the leaf sits under the root at the position its index bits give (output: the index)',
    source: merkleSource,
    // Leaf 0 of the tree whose 128 leaves are all 0: every sibling is the root of an all-zero subtree.
    inputs: rows([
      {
        leaf: 0,
        pathElements: [
          '0',
          '14744269619966411208579211824598458697587494354926760081771325075741142829156',
          '7423237065226347324353380772367382631490014989348495481811164164159255474657',
          '11286972368698509976183087595462810875513684078608517520839298933882497716792',
          '3607627140608796879659380071776844901612302623152076817094415224584923813162',
          '19712377064642672829441595136074946683621277828620209496774504837737984048981',
          '20775607673010627194014556968476266066927294572720319469184847051418138353016',
        ],
        pathIndices: [0, 0, 0, 0, 0, 0, 0],
        root: '3396914609616007258851405644437304192397291162432396347162513310381425243293',
      },
    ]),
  },
];

const WebCircuit = z.object({
  name: z.string(),
  wasm: z.string(),
  zkey: z.string(),
  verificationKey: Groth16VerificationKey,
  publicInputs: z.array(CircuitInput),
});

let index: Promise<z.infer<typeof WebCircuit>[]> | undefined;
const loaded = new Map<string, Promise<CircuitFiles>>();

/**
 * The compiled circuit of a template, from this origin's `/circuits/` (what `client.prove` takes);
 * fetched once per page (a failed fetch is tried again next time).
 */
export function loadCircuitTemplate(name: string): Promise<CircuitFiles> {
  let files = loaded.get(name);
  if (!files) {
    files = fetchCircuitTemplate(name);
    files.catch(() => loaded.delete(name));
    loaded.set(name, files);
  }
  return files;
}

async function fetchCircuitTemplate(name: string): Promise<CircuitFiles> {
  index ??= fetch('/circuits/index.json')
    .then((res) => {
      if (!res.ok) throw new Error(`the circuit templates are not served here (HTTP ${res.status})`);
      return res.json();
    })
    .then((json) => z.array(WebCircuit).parse(json));
  const entry = (
    await index.catch((e) => {
      index = undefined;
      throw e;
    })
  ).find((c) => c.name === name);
  if (!entry) throw new Error(`no circuit template named ${name}`);
  const bytes = async (path: string) => {
    const res = await fetch(`/${path}`);
    if (!res.ok) throw new Error(`/${path}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  };
  const [wasm, zkey] = await Promise.all([bytes(entry.wasm), bytes(entry.zkey)]);
  return { name, wasm, zkey, verificationKey: entry.verificationKey, publicInputs: entry.publicInputs };
}
