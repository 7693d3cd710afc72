import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import * as snarkjs from 'snarkjs';
import type { Abi, Hex } from 'viem';
import { publicInputsOf } from '../client/circuit.ts';
import { ROOT } from './local-mesh.ts';

// The provable templates of circuits/src (circom 2), built for Groth16:
//   node scripts/circuits.ts build   compile each circuit with circom2 (WebAssembly), then a
//                                     per-circuit setup from circuits/ptau/pot12.ptau: the proving
//                                     key (.zkey, one contribution) and the verification key; and
//                                     each one's Solidity verifier into contracts/src/verifiers/
//   node scripts/circuits.ts ptau    make circuits/ptau/pot12.ptau again (about 75 s)
//   node scripts/circuits.ts web     the circuits the web app's editor offers (see webCircuits);
//                                     prints their folder
// Outputs go to circuits/build/ (not committed). The powers of tau file is committed: preparing it
// takes longer than everything else together. It is a development file: one contribution (made on
// a development machine; snarkjs mixes the entropy below with the system's randomness) and a
// public beacon, so it is as trustworthy as that one machine. For real use, take the final file of
// a public ceremony (2^12 powers or more), or run a multi-party one (README, "Zero-knowledge
// proofs").

const solc = createRequire(import.meta.url)('solc') as { compile(input: string): string };

export const CIRCUITS = join(ROOT, 'circuits');
export const BUILD = join(CIRCUITS, 'build');
export const PTAU = join(CIRCUITS, 'ptau', 'pot12.ptau');
/** 2^12 constraints at most per circuit. */
const POWER = 12;

export interface BuiltCircuit {
  name: string;
  wasm: string;
  zkey: string;
  vkey: string;
  r1cs: string;
}

/** The template names (circuits/src/<name>.circom). */
export function circuitNames(): string[] {
  return readdirSync(join(CIRCUITS, 'src'))
    .filter((f) => f.endsWith('.circom'))
    .map((f) => f.slice(0, -'.circom'.length))
    .sort();
}

export function artifacts(name: string, out = BUILD): BuiltCircuit {
  return {
    name,
    wasm: join(out, `${name}_js`, `${name}.wasm`),
    zkey: join(out, `${name}.zkey`),
    vkey: join(out, `${name}.vkey.json`),
    r1cs: join(out, `${name}.r1cs`),
  };
}

/**
 * Compile one circuit with circom2 (from the repository root: circom2 reads files only under its
 * working directory, and circomlib's includes resolve through `-l node_modules`).
 */
export function compile(name: string, out = BUILD): void {
  mkdirSync(out, { recursive: true });
  const r = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/circom2/cli.js'),
      `circuits/src/${name}.circom`,
      '--r1cs',
      '--wasm',
      '--sym',
      '-l',
      'node_modules',
      '-o',
      relative(ROOT, out),
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`circom2 could not compile ${name}:\n${r.stdout}\n${r.stderr}`);
}

/**
 * Groth16 setup of one compiled circuit: proving key with one contribution (snarkjs mixes the
 * given entropy with the system's randomness), and the verification key. Each build makes new keys.
 */
export async function setup(name: string, out = BUILD): Promise<BuiltCircuit> {
  const a = artifacts(name, out);
  const initial = join(out, `${name}_0.zkey`);
  await snarkjs.zKey.newZKey(a.r1cs, PTAU, initial);
  await snarkjs.zKey.contribute(initial, a.zkey, 'monadmesh local build', crypto.randomUUID());
  rmSync(initial);
  writeFileSync(a.vkey, JSON.stringify(await snarkjs.zKey.exportVerificationKey(a.zkey)));
  return a;
}

/**
 * Compile and set up every template into `out` (circuits/build by default; tests give a folder of
 * their own under the repository, where circom2 can write); returns their artifacts by name.
 */
export async function buildCircuits(
  options: { names?: string[]; out?: string } = {},
): Promise<Record<string, BuiltCircuit>> {
  if (!existsSync(PTAU)) throw new Error(`${PTAU} is missing: run node scripts/circuits.ts ptau`);
  const built: Record<string, BuiltCircuit> = {};
  for (const name of options.names ?? circuitNames()) {
    compile(name, options.out);
    built[name] = await setup(name, options.out);
  }
  return built;
}

/** A fresh build folder for one test file (under circuits/build, where circom2 may write). */
export function testBuildDir(label: string): string {
  mkdirSync(BUILD, { recursive: true });
  return mkdtempSync(join(BUILD, `${label}-`));
}

/** The Solidity verifier of one built circuit, its contract named `<Name>Verifier`. */
export async function verifierSource(name: string, a: BuiltCircuit): Promise<string> {
  const template = readFileSync(
    join(ROOT, 'node_modules/snarkjs/templates/verifier_groth16.sol.ejs'),
    'utf8',
  );
  const source = (await snarkjs.zKey.exportSolidityVerifier(a.zkey, { groth16: template })) as string;
  return `// Generated by scripts/circuits.ts from circuits/src/${name}.circom. Do not edit.\n${source.replace(
    'contract Groth16Verifier',
    `contract ${verifierName(name)}`,
  )}`;
}

/** `sum_range` → `SumRangeVerifier`. */
export const verifierName = (name: string) =>
  `${name.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase())}Verifier`;

export const VERIFIERS = join(ROOT, 'contracts', 'src', 'verifiers');

/**
 * The Solidity verifier of each built circuit (snarkjs's Groth16 template, its contract renamed
 * `<Name>Verifier`), written to contracts/src/verifiers/ (generated, not committed: the template
 * is snarkjs's, under the GPL-3.0).
 */
export async function exportVerifiers(built: Record<string, BuiltCircuit>): Promise<string[]> {
  mkdirSync(VERIFIERS, { recursive: true });
  const written: string[] = [];
  for (const [name, a] of Object.entries(built)) {
    const path = join(VERIFIERS, `${verifierName(name)}.sol`);
    writeFileSync(path, await verifierSource(name, a));
    written.push(path);
  }
  return written;
}

/** Compile one verifier with the npm solc (optimizer on, as forge builds the registry). */
export function compileVerifier(name: string, source: string): { abi: Abi; bytecode: Hex } {
  const contract = verifierName(name);
  const output = JSON.parse(
    solc.compile(
      JSON.stringify({
        language: 'Solidity',
        sources: { [`${contract}.sol`]: { content: source } },
        settings: {
          optimizer: { enabled: true, runs: 10000 },
          evmVersion: 'prague',
          outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
        },
      }),
    ),
  ) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const compiled = output.contracts[`${contract}.sol`]![contract]!;
  return { abi: compiled.abi, bytecode: `0x${compiled.evm.bytecode.object}` };
}

/** snarkjs's proof as a verifier's `verifyProof` arguments: G2 coordinates go (c1, c0) in Solidity. */
export const verifierCallArgs = (proof: snarkjs.Groth16Proof, signals: readonly (string | bigint)[]) =>
  [
    [BigInt(proof.pi_a[0]!), BigInt(proof.pi_a[1]!)],
    [
      [BigInt(proof.pi_b[0]![1]!), BigInt(proof.pi_b[0]![0]!)],
      [BigInt(proof.pi_b[1]![1]!), BigInt(proof.pi_b[1]![0]!)],
    ],
    [BigInt(proof.pi_c[0]!), BigInt(proof.pi_c[1]!)],
    signals.map((s) => BigInt(s)),
  ] as const;

/** A development powers-of-tau file: one contribution (on this machine) and a public beacon. */
async function makePtau(): Promise<void> {
  const { getCurveFromName } = await import('ffjavascript');
  const dir = join(CIRCUITS, 'ptau');
  mkdirSync(dir, { recursive: true });
  const step = (n: number) => join(dir, `pot${POWER}_${n}.ptau`);
  const curve = await getCurveFromName('bn128');
  await snarkjs.powersOfTau.newAccumulator(curve, POWER, step(0));
  await snarkjs.powersOfTau.contribute(step(0), step(1), 'monadmesh development', 'monadmesh-dev-entropy-1');
  await snarkjs.powersOfTau.beacon(step(1), step(2), 'monadmesh development beacon', '00'.repeat(32), 10);
  await snarkjs.powersOfTau.preparePhase2(step(2), PTAU);
  for (const n of [0, 1, 2]) rmSync(step(n));
  await curve.terminate();
}

/** One template as the web app's editor loads it: `circuits/index.json` of the web app's build. */
export interface WebCircuit {
  name: string;
  /** Paths under the web app's root. */
  wasm: string;
  zkey: string;
  verificationKey: unknown;
  publicInputs: { name: string; dims: number[] }[];
}

/**
 * Every template built for the web app, once per version of `circuits/src` and the ptau file:
 * into `circuits/build/web-<hash>/` (`index.json`, `<name>.wasm`, `<name>.zkey`), reused by later
 * builds. Built in a folder of its own and renamed into place, so web builds running at once
 * (tests) never read a half-written one; the loser of a race drops its copy.
 */
export async function webCircuits(): Promise<string> {
  const hash = createHash('sha256');
  for (const name of circuitNames())
    hash.update(name).update(readFileSync(join(CIRCUITS, 'src', `${name}.circom`)));
  hash.update(readFileSync(PTAU));
  const dir = join(BUILD, `web-${hash.digest('hex').slice(0, 12)}`);
  if (existsSync(join(dir, 'index.json'))) return dir;
  const tmp = testBuildDir('web-building');
  const built = await buildCircuits({ out: tmp });
  const index: WebCircuit[] = [];
  const files = join(tmp, 'files');
  mkdirSync(files);
  for (const [name, a] of Object.entries(built)) {
    writeFileSync(join(files, `${name}.wasm`), readFileSync(a.wasm));
    writeFileSync(join(files, `${name}.zkey`), readFileSync(a.zkey));
    index.push({
      name,
      wasm: `circuits/${name}.wasm`,
      zkey: `circuits/${name}.zkey`,
      verificationKey: JSON.parse(readFileSync(a.vkey, 'utf8')),
      publicInputs: publicInputsOf(readFileSync(a.r1cs), readFileSync(join(tmp, `${name}.sym`), 'utf8')),
    });
  }
  writeFileSync(join(files, 'index.json'), `${JSON.stringify(index)}\n`);
  try {
    renameSync(files, dir);
  } catch (error) {
    if (!existsSync(join(dir, 'index.json'))) throw error;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

if (import.meta.main) {
  const command = process.argv[2];
  if (command === 'build') {
    const built = await buildCircuits();
    await exportVerifiers(built);
    process.stderr.write(
      `built ${Object.keys(built).join(', ')} into ${BUILD}, verifiers into ${VERIFIERS}\n`,
    );
  } else if (command === 'web') {
    process.stdout.write(`${await webCircuits()}\n`);
  } else if (command === 'ptau') {
    await makePtau();
    process.stderr.write(`wrote ${PTAU}\n`);
  } else {
    process.stderr.write('usage: node scripts/circuits.ts build | web | ptau\n');
    process.exit(2);
  }
  // snarkjs keeps worker threads alive.
  process.exit(0);
}
