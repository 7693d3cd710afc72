import { describe, expect, test } from 'vitest';
import {
  BN254_R,
  type CircuitClaim,
  expectedInputSignals,
  type Groth16Proof,
  type Groth16VerificationKey,
  groth16Calldata,
  outputBindsInput,
  PublicSignals,
} from './circuit.ts';

// The rules that bind a proven task's output to its input (the room's and the node's), and the
// conversion of snarkjs's JSON to the registry's verifyProof arguments.

const inputs = [
  { name: 'values', dims: [3] },
  { name: 'lo', dims: [] },
];
const claim = {
  verificationKey: { nPublic: 6 } as Groth16VerificationKey,
  publicInputs: inputs,
} as CircuitClaim;

describe('expectedInputSignals', () => {
  test('default: numbers, decimal and 0x strings and booleans, flattened in declaration order', () => {
    expect(expectedInputSignals(inputs, { values: [1, '22', '0x10'], lo: true })).toEqual({
      ok: true,
      signals: ['1', '22', '16', '1'],
    });
    expect(expectedInputSignals(inputs, { values: [0, 0, (BN254_R - 1n).toString()], lo: 0 })).toMatchObject({
      ok: true,
    });
  });

  test('error: each bad input says why, one after another, and a good one still fits after them', () => {
    const bad: [unknown, RegExp][] = [
      [[1, 2, 3], /must be an object with the fields values, lo/],
      [null, /must be an object/],
      [{ values: [1, 2, 3] }, /field 'lo' is missing/],
      [
        { values: [1, 2, 3], lo: 0, secret: 1 },
        /field 'secret' is not a public input .* private inputs are refused/,
      ],
      [{ values: [1, 2], lo: 0 }, /values must be an array of 3/],
      [{ values: [1, 2, -3], lo: 0 }, /values\[2\] is negative/],
      [{ values: [1, 2, '-3'], lo: 0 }, /values\[2\] is negative/],
      [{ values: [1, 2, BN254_R.toString()], lo: 0 }, /values\[2\] is not below the field's order r/],
      [{ values: [1, 2, 1.5], lo: 0 }, /values\[2\] is not an integer/],
      [{ values: [1, 2, 2 ** 60], lo: 0 }, /values\[2\] is not an integer/],
      [{ values: [1, 2, '1e3'], lo: 0 }, /values\[2\] is not an integer/],
      [{ values: [1, 2, 3], lo: { x: 1 } }, /lo is not an integer/],
    ];
    for (const [input, reason] of bad) {
      const r = expectedInputSignals(inputs, input);
      expect(r.ok, JSON.stringify(input)).toBe(false);
      if (!r.ok) expect(r.problem).toMatch(reason);
    }
    expect(expectedInputSignals(inputs, { values: [1, 2, 3], lo: 0 }).ok).toBe(true);
  });
});

describe('outputBindsInput', () => {
  const input = { values: [4, 5, 6], lo: 1 };
  test('default: the outputs first, then exactly the task input', () => {
    expect(outputBindsInput(claim, input, ['15', '99', '4', '5', '6', '1'])).toBeUndefined();
  });

  test('error: another input, a signal plus r, padding, too few, leading zeros and non-strings are refused', () => {
    const cases: [unknown, RegExp][] = [
      [
        ['15', '99', '4', '5', '7', '1'],
        /public signal 4 is 7, but the task's input gives 6: the proof is about another input/,
      ],
      [
        ['15', '99', '4', '5', (6n + BN254_R).toString(), '1'],
        /not a list of public signals|is .*but the task's input gives 6/,
      ],
      [['15', '99', '4', '5', '6', '1', '0'], /expected 6 public signals, got 7/],
      [['4', '5', '6', '1'], /expected 6 public signals, got 4/],
      [['15', '99', '04', '5', '6', '1'], /not a list of public signals: expected a decimal field element/],
      [['15', '99', 4, '5', '6', '1'], /not a list of public signals/],
      ['15', /not a list of public signals/],
    ];
    for (const [output, reason] of cases) expect(outputBindsInput(claim, input, output)).toMatch(reason);
    expect(outputBindsInput(claim, { values: [4, 5, 6], lo: -1 }, ['15', '99', '4', '5', '6', '1'])).toMatch(
      /negative/,
    );
  });
});

test('groth16Calldata: affine points, G2 as (im, re), infinity as zeros; an unnormalised point throws', () => {
  const g2 = [
    ['11', '12'],
    ['13', '14'],
    ['1', '0'],
  ] as Groth16Proof['pi_b'];
  const vk = {
    protocol: 'groth16',
    curve: 'bn128',
    nPublic: 1,
    vk_alpha_1: ['1', '2', '1'],
    vk_beta_2: g2,
    vk_gamma_2: g2,
    vk_delta_2: g2,
    IC: [
      ['3', '4', '1'],
      ['0', '1', '0'],
    ],
  } as Groth16VerificationKey;
  const proof: Groth16Proof = { pi_a: ['5', '6', '1'], pi_b: g2, pi_c: ['7', '8', '1'] };
  const c = groth16Calldata(vk, proof, ['9']);
  expect(c.proof).toEqual({ a: [5n, 6n], b: [12n, 11n, 14n, 13n], c: [7n, 8n] });
  expect(c.vk.ic).toEqual([
    [3n, 4n],
    [0n, 0n],
  ]);
  expect(c.publicSignals).toEqual([9n]);
  expect(() => groth16Calldata(vk, { ...proof, pi_a: ['5', '6', '2'] }, ['9'])).toThrow(/affine/);
  expect(PublicSignals.safeParse(['0', '10']).success).toBe(true);
});
