import { rmSync } from 'node:fs';
import * as snarkjs from 'snarkjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matmul } from '../../circuits/reference.ts';
import { type Groth16VerificationKey, verifyGroth16 } from '../../protocol/groth16.ts';
import { type ChainClients, chainClients, DEPLOYER_KEY } from '../../scripts/chain.ts';
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

const inputs: Record<string, snarkjs.CircuitSignals> = {
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

beforeAll(async () => {
  [anvil, built] = await Promise.all([startAnvil(), buildCircuits({ out })]);
  chain = chainClients(anvil.rpcUrl, anvil.chainId);
}, 180_000);

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
