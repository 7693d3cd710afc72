import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as snarkjs from 'snarkjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCircom } from '../frontend/src/editor/circom-compiler.ts';
import { verifyGroth16 } from '../protocol/groth16.ts';
import { ROOT } from '../scripts/local-mesh.ts';
import { sumRange } from './reference.ts';

// The editor's circom compiler (frontend/src/editor/circom-compiler.ts): circom2 on an in-memory
// WASI file system, then a Groth16 setup, here in Node with the same code the browser runs. A
// template compiles to a circuit that proves what the build's does; a circuit typed from scratch
// proves; each bad circuit is an error of its stage with circom's or our reason, and a good one
// compiles after the bad ones.

let circom: WebAssembly.Module;
const ptau = new Uint8Array(readFileSync(join(ROOT, 'circuits/ptau/pot12.ptau')));
// As the browser's worker has them: circomlib's circuits by path, and nothing else.
const libraryFiles = new Map<string, string>();
for (const entry of readdirSync(join(ROOT, 'node_modules/circomlib/circuits'), { recursive: true })) {
  const path = `circomlib/circuits/${entry}`;
  if (path.endsWith('.circom'))
    libraryFiles.set(path, readFileSync(join(ROOT, 'node_modules', path), 'utf8'));
}
const asked: string[] = [];
const library = async (path: string) => {
  asked.push(path);
  return libraryFiles.get(path);
};
const compile = (source: string) => compileCircom({ source, circom, library, ptau });

beforeAll(async () => {
  circom = await WebAssembly.compile(readFileSync(join(ROOT, 'node_modules/circom2/circom.wasm')));
});
afterAll(async () => {
  await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
});

const square = `pragma circom 2.1.6;
template Square() {
    signal input x;
    signal output y;
    y <== x * x;
}
component main {public [x]} = Square();
`;

describe('the editor circom compiler', () => {
  it('compiles sum_range (with circomlib) to a circuit whose proofs verify and match the reference', async () => {
    const result = await compile(readFileSync(join(ROOT, 'circuits/src/sum_range.circom'), 'utf8'));
    if (!result.ok) throw new Error(`${result.stage}: ${result.message}`);
    const c = result.circuit;
    expect(c.publicInputs).toEqual([
      { name: 'values', dims: [8] },
      { name: 'lo', dims: [] },
      { name: 'hi', dims: [] },
    ]);
    expect(c.constraints).toBeGreaterThan(1000);
    expect(c.report).toContain('non-linear constraints');
    const values = [4n, 8n, 15n, 16n, 23n, 42n, 1n, 2n];
    const { proof, publicSignals } = await snarkjs.groth16.fullProve(
      { values, lo: 0n, hi: 50n },
      c.wasm,
      c.zkey,
    );
    const ref = sumRange(values, 0n, 50n);
    expect(publicSignals.slice(0, 3).map(BigInt)).toEqual([ref.sum, ref.min, ref.max]);
    expect(verifyGroth16(c.verificationKey, proof, publicSignals).ok).toBe(true);
  });

  it('errors: a syntax error, a missing include, private inputs, no inputs and a circuit too large each fail with their reason; a good circuit compiles after them', async () => {
    const cases: [string, string, RegExp][] = [
      ['compile', square.replace('y <== x * x;', 'y <== x * ;'), /error|Parse/i],
      ['compile', square.replace('Square()', 'Squar()'), /Squar/],
      [
        'include',
        `include "circomlib/circuits/nothing.circom";\n${square}`,
        /include "circomlib\/circuits\/nothing.circom" was not found/,
      ],
      ['include', `include "../../etc/passwd";\n${square}`, /include "..\/..\/etc\/passwd" was not found/],
      ['include', `include "/etc/passwd";\n${square}`, /include "\/etc\/passwd" was not found/],
      // An include after a line comment holding "/*" is still seen (and this one does not exist).
      [
        'include',
        `// see /* below\ninclude "circomlib/circuits/nope.circom";\n${square}`,
        /nope.circom" was not found/,
      ],
      [
        'inputs',
        square.replace('component main {public [x]}', 'component main'),
        /1 private input signal: every input of a proven job must be public/,
      ],
      [
        'inputs',
        'pragma circom 2.1.6;\ntemplate C() { signal output y; y <== 3; }\ncomponent main = C();\n',
        /no inputs/,
      ],
      [
        'setup',
        `pragma circom 2.1.6;\ninclude "circomlib/circuits/poseidon.circom";\ntemplate Big() {\n  signal input x;\n  signal output y;\n  component h[20];\n  signal s[21];\n  s[0] <== x;\n  for (var i = 0; i < 20; i++) { h[i] = Poseidon(2); h[i].inputs[0] <== s[i]; h[i].inputs[1] <== i; s[i + 1] <== h[i].out; }\n  y <== s[20];\n}\ncomponent main {public [x]} = Big();\n`,
        /the powers of tau here allow 4,096/,
      ],
    ];
    for (const [stage, source, reason] of cases) {
      const result = await compile(source);
      expect(result.ok, source).toBe(false);
      if (!result.ok) {
        expect(result.stage, source).toBe(stage);
        expect(result.message, source).toMatch(reason);
      }
    }
    // Paths that leave the library are never even asked for.
    expect(asked.filter((p) => p.includes('..') || p.startsWith('/') || p.includes('etc/passwd'))).toEqual(
      [],
    );
    const good = await compile(square);
    if (!good.ok) throw new Error(`${good.stage}: ${good.message}`);
    const { proof, publicSignals } = await snarkjs.groth16.fullProve(
      { x: 7n },
      good.circuit.wasm,
      good.circuit.zkey,
    );
    expect(publicSignals).toEqual(['49', '7']);
    expect(verifyGroth16(good.circuit.verificationKey, proof, publicSignals).ok).toBe(true);
  });
});
