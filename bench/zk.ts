import { readFileSync } from 'node:fs';
import * as snarkjs from 'snarkjs';
import { encodeFunctionData, type Hex } from 'viem';
import { matmul, merklePath, poseidonMerkleTree } from '../circuits/reference.ts';
import { monadMeshRegistryAbi } from '../contracts/abi.ts';
import { type Groth16Proof, groth16Calldata } from '../protocol/circuit.ts';
import { type Groth16VerificationKey, prepareKey, verifyGroth16 } from '../protocol/groth16.ts';
import { chainClients, DEPLOYER_KEY, deployRegistry } from '../scripts/chain.ts';
import { buildCircuits, compileVerifier, verifierCallArgs, verifierSource } from '../scripts/circuits.ts';
import { startAnvil } from '../scripts/local-mesh.ts';
import { percentile, table, writeResult } from './report.ts';
import { proveInChromium } from './zk-chromium.ts';

// `npm run bench -- zk`: Groth16 on the circuit templates (circuits/src), in Node 24 on this
// machine: proving time with snarkjs (witness and proof, `fullProve`), and verification time of
// the TypeScript verifier the Worker uses (protocol/groth16.ts, @noble/curves, key decoded once)
// against snarkjs's in the same run. Goal: the TypeScript verifier within 3× of snarkjs.
// On-chain: each template's exported Solidity verifier deployed on anvil, and the gas of calling
// `verifyProof` as a transaction (what a check on Monad's EVM costs the caller), beside the
// registry's own `verifyProof` (any circuit, the key in calldata), what an anchored task's check uses.
// In Chromium: the same proofs in headless Chromium (Debian's), as a tab node will make them.

const built = await buildCircuits();
const anvil = await startAnvil();
const chain = chainClients(anvil.rpcUrl, anvil.chainId);
const registry = await deployRegistry(chain, [chain.wallet(DEPLOYER_KEY).account.address]);

/** The gas of a transaction calling `data` on `to`, with room to spare (see below). */
async function gasOf(to: Hex, data: Hex): Promise<number> {
  const tx = await chain.public.waitForTransactionReceipt({
    hash: await chain.wallet(DEPLOYER_KEY).sendTransaction({ to, data, gas: 2_000_000n }),
  });
  return Number(tx.gasUsed);
}
const merkle = merklePath(
  await poseidonMerkleTree(Array.from({ length: 128 }, (_, i) => BigInt(1000 + i))),
  77,
);
const inputs: Record<string, snarkjs.CircuitSignals> = {
  merkle_inclusion: merkle,
  sum_range: { values: [5n, 9n, 1n, 7n, 3n, 8n, 2n, 6n], lo: 1n, hi: 10n },
  poseidon_vector: { values: [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n] },
  matmul: {
    a: [
      [1n, 2n, 3n],
      [4n, 5n, 6n],
      [7n, 8n, 9n],
    ],
    b: matmul(
      [
        [1n, 0n, 0n],
        [0n, 1n, 0n],
        [0n, 0n, 1n],
      ],
      [
        [9n, 8n, 7n],
        [6n, 5n, 4n],
        [3n, 2n, 1n],
      ],
    ),
  },
};

const PROVES = 8;
const chromiumTimes = await proveInChromium(built, inputs, PROVES);
const VERIFIES = 30;
const rows: Record<string, string | number>[] = [];
const json: unknown[] = [];
for (const [name, a] of Object.entries(built)) {
  const info = await snarkjs.r1cs.info(a.r1cs);
  const vk = JSON.parse(readFileSync(a.vkey, 'utf8')) as Groth16VerificationKey;
  const prove: number[] = [];
  let last: Awaited<ReturnType<typeof snarkjs.groth16.fullProve>> | undefined;
  for (let i = 0; i < PROVES + 1; i++) {
    const t = performance.now();
    last = await snarkjs.groth16.fullProve(inputs[name]!, a.wasm, a.zkey);
    if (i > 0) prove.push(performance.now() - t);
  }
  const { proof, publicSignals } = last!;
  const key = prepareKey(vk);
  const ts: number[] = [];
  const js: number[] = [];
  for (let i = 0; i < VERIFIES + 1; i++) {
    let t = performance.now();
    if (!verifyGroth16(key, proof, publicSignals).ok)
      throw new Error(`${name}: the TypeScript verifier refused`);
    if (i > 0) ts.push(performance.now() - t);
    t = performance.now();
    if (!(await snarkjs.groth16.verify(vk, publicSignals, proof)))
      throw new Error(`${name}: snarkjs refused`);
    if (i > 0) js.push(performance.now() - t);
  }
  const { abi, bytecode } = compileVerifier(name, await verifierSource(name, a));
  const deployed = await chain.public.waitForTransactionReceipt({
    hash: await chain.wallet(DEPLOYER_KEY).deployContract({ abi, bytecode }),
  });
  // A transaction with room to spare, not an estimate: the verifier turns a precompile call that
  // ran out of gas into `false` rather than a revert, so estimateGas finds a limit at which it fails.
  const call = {
    abi,
    functionName: 'verifyProof',
    args: verifierCallArgs(proof, publicSignals) as never,
  } as const;
  const accepted = await chain.public.readContract({ address: deployed.contractAddress!, ...call });
  if (accepted !== true) throw new Error(`${name}: the Solidity verifier refused the proof`);
  const gas = await gasOf(deployed.contractAddress!, encodeFunctionData(call));
  const c = groth16Calldata(vk, proof as Groth16Proof, publicSignals);
  const registryCall = {
    abi: monadMeshRegistryAbi,
    functionName: 'verifyProof',
    args: [c.vk, c.proof, c.publicSignals],
  } as const;
  if ((await chain.public.readContract({ address: registry, ...registryCall })) !== true)
    throw new Error(`${name}: the registry's verifyProof refused the proof`);
  const registryGas = await gasOf(registry, encodeFunctionData(registryCall));
  const row = {
    template: name,
    constraints: info.nConstraints,
    'public signals': publicSignals.length,
    'prove p50 (ms)': percentile(prove, 50),
    'prove in Chromium p50 (ms)': percentile(chromiumTimes[name]!, 50),
    'verify TS p50 (ms)': percentile(ts, 50),
    'verify snarkjs p50 (ms)': percentile(js, 50),
    'TS / snarkjs': `${(percentile(ts, 50) / percentile(js, 50)).toFixed(2)}×`,
    'on-chain gas (exported)': gas,
    'on-chain gas (registry)': registryGas,
  };
  rows.push(row);
  json.push({
    template: name,
    constraints: info.nConstraints,
    publicSignals: publicSignals.length,
    proveMs: { p50: percentile(prove, 50), p95: percentile(prove, 95) },
    proveChromiumMs: { p50: percentile(chromiumTimes[name]!, 50), p95: percentile(chromiumTimes[name]!, 95) },
    verifyTypeScriptMs: { p50: percentile(ts, 50), p95: percentile(ts, 95) },
    verifySnarkjsMs: { p50: percentile(js, 50), p95: percentile(js, 95) },
    onChainVerifyGas: gas,
    registryVerifyProofGas: registryGas,
  });
}
await anvil.stop();
process.stdout.write(`\nGroth16 on the circuit templates (Node ${process.version})\n${table(rows)}\n`);
process.stdout.write(
  `\nwrote ${writeResult('zk', { templates: json, goal: { typeScriptWithin: '3x of snarkjs' } })}\n`,
);
process.exit(0);
