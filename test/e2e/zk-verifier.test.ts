import { rmSync } from 'node:fs';
import * as snarkjs from 'snarkjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matmul, merklePath, poseidonMerkleTree } from '../../circuits/reference.ts';
import { monadMeshRegistryAbi } from '../../contracts/abi.ts';
import { BN254_R, type Groth16Calldata, type Groth16Proof, groth16Calldata } from '../../protocol/circuit.ts';
import { type Groth16VerificationKey, verifyGroth16 } from '../../protocol/groth16.ts';
import { type ChainClients, chainClients, DEPLOYER_KEY, deployRegistry } from '../../scripts/chain.ts';
import {
  type BuiltCircuit,
  buildCircuits,
  compileVerifier,
  testBuildDir,
  verifierCallArgs,
  verifierSource,
} from '../../scripts/circuits.ts';
import { type Anvil, startAnvil } from '../../scripts/local-mesh.ts';

// Each template's exported Solidity verifier, compiled (npm solc) and deployed on anvil, agrees
// with the TypeScript verifier and snarkjs: a real proof verifies on-chain, a tampered public
// signal or proof does not. The gas of an on-chain check is what `npm run bench -- zk` reports.
// The registry's own `verifyProof` (contracts/src/Groth16.sol: any circuit, its key in calldata)
// gives the same verdicts for every template, and false, never a revert, for malformed arguments.

const merkle = merklePath(
  await poseidonMerkleTree(Array.from({ length: 128 }, (_, i) => BigInt(1000 + i))),
  77,
);
const inputs: Record<string, snarkjs.CircuitSignals> = {
  merkle_inclusion: merkle,
  sum_range: { values: [5n, 9n, 1n, 7n, 3n, 8n, 2n, 6n], lo: 1n, hi: 10n },
  poseidon_vector: { values: [11n, 12n, 13n, 14n, 15n, 16n, 17n, 18n] },
  matmul: {
    a: [
      [1n, 2n, 3n],
      [4n, 5n, 6n],
      [7n, 8n, 9n],
    ],
    b: matmul(
      [
        [2n, 0n, 0n],
        [0n, 2n, 0n],
        [0n, 0n, 2n],
      ],
      [
        [9n, 8n, 7n],
        [6n, 5n, 4n],
        [3n, 2n, 1n],
      ],
    ),
  },
};

const out = testBuildDir('e2e');
let anvil: Anvil;
let chain: ChainClients;
let built: Record<string, BuiltCircuit>;
let registry: `0x${string}`;

beforeAll(async () => {
  [anvil, built] = await Promise.all([startAnvil(), buildCircuits({ out })]);
  chain = chainClients(anvil.rpcUrl, anvil.chainId);
  registry = await deployRegistry(chain, [chain.wallet(DEPLOYER_KEY).account.address]);
}, 180_000);

const registryVerifies = (c: Groth16Calldata) =>
  chain.public.readContract({
    address: registry,
    abi: monadMeshRegistryAbi,
    functionName: 'verifyProof',
    args: [c.vk, c.proof, c.publicSignals],
  });

const Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

afterAll(async () => {
  await anvil?.stop();
  rmSync(out, { recursive: true, force: true });
  await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
});

describe('Solidity verifiers on anvil', () => {
  for (const name of Object.keys(inputs)) {
    it(`${name}: a proof verifies on-chain as in TypeScript; a tampered signal or proof does not`, async () => {
      const a = built[name]!;
      const { abi, bytecode } = compileVerifier(name, await verifierSource(name, a));
      const wallet = chain.wallet(DEPLOYER_KEY);
      const hash = await wallet.deployContract({ abi, bytecode });
      const address = (await chain.public.waitForTransactionReceipt({ hash })).contractAddress!;
      const { proof, publicSignals } = await snarkjs.groth16.fullProve(inputs[name]!, a.wasm, a.zkey);
      const vk = (await snarkjs.zKey.exportVerificationKey(a.zkey)) as Groth16VerificationKey;
      const onChain = (args: ReturnType<typeof verifierCallArgs>) =>
        chain.public.readContract({
          address,
          abi,
          functionName: 'verifyProof',
          args: args as never,
        }) as Promise<boolean>;

      expect(verifyGroth16(vk, proof, publicSignals).ok).toBe(true);
      expect(await onChain(verifierCallArgs(proof, publicSignals))).toBe(true);
      const other = [(BigInt(publicSignals[0]!) + 1n).toString(), ...publicSignals.slice(1)];
      expect(verifyGroth16(vk, proof, other).ok).toBe(false);
      expect(await onChain(verifierCallArgs(proof, other))).toBe(false);
      const swapped = { ...proof, pi_a: proof.pi_c, pi_c: proof.pi_a };
      expect(verifyGroth16(vk, swapped, publicSignals).ok).toBe(false);
      expect(await onChain(verifierCallArgs(swapped, publicSignals))).toBe(false);
    });
  }
});

describe("the registry's verifyProof (any circuit, the key in calldata) on anvil", () => {
  const proofs: Record<string, { vk: Groth16VerificationKey; proof: Groth16Proof; signals: string[] }> = {};
  beforeAll(async () => {
    for (const name of Object.keys(inputs)) {
      const a = built[name]!;
      const { proof, publicSignals } = await snarkjs.groth16.fullProve(inputs[name]!, a.wasm, a.zkey);
      const vk = (await snarkjs.zKey.exportVerificationKey(a.zkey)) as Groth16VerificationKey;
      proofs[name] = { vk, proof: proof as Groth16Proof, signals: publicSignals };
    }
  }, 120_000);

  for (const name of Object.keys(inputs)) {
    it(`${name}: the real proof verifies; tampered signals and proofs, and malformed arguments, are false, and the real one verifies again after them`, async () => {
      const { vk, proof, signals } = proofs[name]!;
      const real = groth16Calldata(vk, proof, signals);
      expect(await registryVerifies(real)).toBe(true);

      const other = [(BigInt(signals[0]!) + 1n).toString(), ...signals.slice(1)];
      const plusR = [(BigInt(signals[0]!) + BN254_R).toString(), ...signals.slice(1)];
      const swapped = { ...proof, pi_a: proof.pi_c, pi_c: proof.pi_a };
      const bSwapped: Groth16Proof = { ...proof, pi_b: [proof.pi_b[1], proof.pi_b[0], proof.pi_b[2]] };
      const otherName = Object.keys(inputs).find(
        (n) => n !== name && proofs[n]!.signals.length === signals.length,
      );
      const hostile: [string, Groth16Calldata][] = [
        ['another value of a signal', groth16Calldata(vk, proof, other)],
        ['a signal plus r', groth16Calldata(vk, proof, plusR)],
        ['one signal too few', groth16Calldata(vk, proof, signals.slice(0, -1))],
        ['A and C swapped', groth16Calldata(vk, swapped, signals)],
        ["B's coordinates swapped", groth16Calldata(vk, bSwapped, signals)],
        [
          'A off the curve',
          { ...real, proof: { ...real.proof, a: [real.proof.a[0], real.proof.a[1] + 1n] } },
        ],
        [
          'a coordinate not below q',
          { ...real, proof: { ...real.proof, c: [real.proof.c[0] + Q, real.proof.c[1]] } },
        ],
        [
          'an IC point off the curve',
          { ...real, vk: { ...real.vk, ic: [[1n, 3n], ...real.vk.ic.slice(1)] } },
        ],
        ['an empty key', { ...real, vk: { ...real.vk, ic: [] } }],
      ];
      if (otherName) {
        // The same number of signals, another circuit's key: the proof is not of that circuit.
        hostile.push(["another circuit's key", groth16Calldata(proofs[otherName]!.vk, proof, signals)]);
      }
      for (const [what, args] of hostile) {
        expect({ what, verified: await registryVerifies(args) }).toEqual({ what, verified: false });
      }
      // The TypeScript verifier agrees (the tampered signals; the tampered proofs are the first describe's).
      expect(verifyGroth16(vk, proof, other).ok).toBe(false);
      expect(verifyGroth16(vk, proof, plusR).ok).toBe(false);
      expect(await registryVerifies(real)).toBe(true);
    });
  }
});
