import { rmSync } from 'node:fs';
import * as snarkjs from 'snarkjs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { sumRange } from '../../circuits/reference.ts';
import type { CircuitFiles } from '../../client/circuit.ts';
import { loadCircuit } from '../../client/circuit-files.ts';
import { createClient, DEV_PRIVATE_KEYS, MeshApiError, type MeshClient } from '../../client/index.ts';
import { createApiKey } from '../../client/sign-in.ts';
import { verifyGroth16 } from '../../protocol/groth16.ts';
import type { TaskResult } from '../../protocol/index.ts';
import { buildCircuits, testBuildDir } from '../../scripts/circuits.ts';
import { type ApiServer, type Proc, startApi, startNode } from '../../scripts/local-mesh.ts';

// Proven jobs end to end with real processes: `wrangler dev`, one honest anonymous headless node
// and one that lies in every answer (`--saboteur 1`: a wrong public signal with its honest proof,
// or its honest signals with a broken proof, or a made-up failure). Every task is accepted only on
// a proof the Worker's TypeScript verifier checked (and snarkjs agrees), the liar's answers are
// rejected and the tasks re-run on the honest node; a circuit that cannot prove an input, and a
// proving key of another setup, fail their tasks with the reason; what can be refused at
// submission is, with a 4xx and a clear message.

let api: ApiServer;
let client: MeshClient;
let key: string;
let circuit: CircuitFiles;
let otherSetup: CircuitFiles;
let honest: Proc;
let liar: Proc;
let liarIdentity = '';
const dirs: string[] = [];

beforeAll(async () => {
  const out = testBuildDir('e2e-proven');
  const other = testBuildDir('e2e-proven-other');
  dirs.push(out, other);
  await buildCircuits({ names: ['sum_range'], out });
  await buildCircuits({ names: ['sum_range'], out: other });
  circuit = await loadCircuit(out, 'sum_range');
  otherSetup = await loadCircuit(other, 'sum_range');
  api = await startApi();
  key = (await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] })).key;
  client = createClient({ url: api.url, apiKey: key });
  [honest, liar] = await Promise.all([
    startNode(api.url, { capacity: 1, anonymous: true }),
    startNode(api.url, { capacity: 1, anonymous: true, args: ['--saboteur', '1'] }),
  ]);
  liarIdentity = `peer:${/connected to \S+ as (\S+)/.exec(liar.output())?.[1] ?? ''}`;
  expect(liarIdentity).toMatch(/^peer:12D3KooW/);
}, 240_000);

afterAll(async () => {
  await Promise.all([honest?.stop('SIGKILL'), liar?.stop('SIGKILL')]);
  await api?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
});

const inputsOf = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    values: Array.from({ length: 8 }, (_, j) => ((i * 7 + j * 13) % 50) + 1),
    lo: 1,
    hi: 50,
  }));

async function results(id: string): Promise<TaskResult[]> {
  return (await client.job(id).resultsPage({ limit: 100 })).results;
}

test('behavior: every task is accepted on a verified proof; a lying node is rejected and its tasks re-run', async () => {
  const inputs = inputsOf(12);
  const job = await client.prove(circuit, inputs, { label: 'proven e2e' });
  const status = await job.wait();
  expect(status.state).toBe('succeeded');
  expect(status.runtime).toBe('circom');
  const all = await results(job.id);
  const rejected: TaskResult[] = [];
  for (const r of all) {
    const input = inputs[r.index]!;
    expect(r.state).toBe('succeeded');
    const ref = sumRange(input.values.map(BigInt), BigInt(input.lo), BigInt(input.hi));
    expect(r.output).toEqual([ref.sum, ref.min, ref.max, ...input.values, input.lo, input.hi].map(String));
    expect(r.verification?.how).toBe('proven');
    expect(r.verification?.replicas.at(-1)?.agreed).toBe(true);
    expect(r.verification?.replicas.at(-1)?.identity).not.toBe(liarIdentity);
    // The Worker's verifier accepted it; check it again here, with snarkjs too.
    expect(verifyGroth16(circuit.verificationKey, r.proof, r.output)).toEqual({ ok: true });
    expect(
      await snarkjs.groth16.verify(
        circuit.verificationKey,
        r.output as string[],
        r.proof as unknown as snarkjs.Groth16Proof,
      ),
    ).toBe(true);
    if (r.verification!.replicas.some((p) => p.identity === liarIdentity)) rejected.push(r);
  }
  // The liar leased some tasks (it is as fast as the honest node), and lost every one.
  expect(rejected.length).toBeGreaterThan(0);
  for (const r of rejected) {
    const lie = r.verification!.replicas.find((p) => p.identity === liarIdentity)!;
    expect(lie.agreed).toBe(false);
  }
  // Its lies are what the room refused: a failed proof is never a result.
  expect(liar.output()).toMatch(/the proof does not verify/);
}, 240_000);

test('errors: what can be refused at submission is a 4xx with the reason, never a 5xx', async () => {
  const good = inputsOf(1);
  const wasm = await client.putBlob(circuit.wasm);
  const zkey = await client.putBlob(circuit.zkey);
  const manifest = {
    protocol: 'groth16',
    wasm: wasm.cid,
    zkey: zkey.cid,
    verificationKey: circuit.verificationKey,
    publicInputs: circuit.publicInputs,
  };
  const submit = (source: string, inputs: unknown[] = good) =>
    fetch(`${api.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ runtime: 'circom', source, inputs }),
    });
  const cases: [string, Promise<Response>, number, RegExp][] = [
    ['not JSON', submit('pragma circom 2.1.6;'), 400, /circuit manifest \(JSON\)/],
    ['no zkey', submit(JSON.stringify({ ...manifest, zkey: undefined })), 400, /manifest is invalid at zkey/],
    [
      'a key point off the curve',
      submit(
        JSON.stringify({
          ...manifest,
          verificationKey: { ...circuit.verificationKey, vk_alpha_1: ['1', '3', '1'] },
        }),
      ),
      400,
      /verification key is invalid/,
    ],
    [
      'a wasm that is not stored',
      submit(
        JSON.stringify({ ...manifest, wasm: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' }),
      ),
      422,
      /wasm .* is not stored/,
    ],
    [
      'a zkey that is a wasm',
      submit(JSON.stringify({ ...manifest, zkey: wasm.cid })),
      400,
      /not a snarkjs proving key/,
    ],
    [
      'a private field',
      submit(JSON.stringify(manifest), [{ ...good[0], secret: 3 }]),
      400,
      /input 0 .*'secret' is not a public input/,
    ],
    [
      'a missing field',
      submit(JSON.stringify(manifest), [{ values: good[0]!.values }]),
      400,
      /'lo' is missing/,
    ],
    ['an input that is not an object', submit(JSON.stringify(manifest), [42]), 400, /must be an object/],
  ];
  for (const [what, response, code, message] of cases) {
    const res = await response;
    const body = (await res.json()) as { error: { message: string } };
    expect(res.status, what).toBe(code);
    expect(body.error.message, what).toMatch(message);
  }
  // The client says the same.
  await expect(client.prove(circuit, [{ values: [1], lo: 0, hi: 1 }])).rejects.toThrow(MeshApiError);
  await expect(client.prove(circuit, [{ values: [1], lo: 0, hi: 1 }])).rejects.toThrow(/array of 8/);
});

test('errors: an input the circuit cannot prove, and a proving key of another setup, fail their tasks with the reason', async () => {
  // `redundancy: 1`: a failure cannot be proven, and one honest node's word is what these ask for.
  const outOfRange = await client.prove(circuit, [{ values: [1, 2, 3, 4, 5, 6, 7, 99], lo: 1, hi: 10 }], {
    redundancy: 1,
  });
  const wrongKey = await client.prove({ ...circuit, zkey: otherSetup.zkey }, inputsOf(2), { redundancy: 1 });
  expect((await outOfRange.wait()).state).toBe('failed');
  expect((await wrongKey.wait()).state).toBe('failed');
  const [bad] = await results(outOfRange.id);
  expect(bad!.error?.kind).toBe('user_error');
  expect(bad!.error?.message).toMatch(/does not satisfy the circuit's constraints/);
  for (const r of await results(wrongKey.id)) {
    expect(r.error?.kind).toBe('user_error');
    expect(r.error?.message).toMatch(/not from the same setup/);
  }
  // Honest work goes on after them.
  const after = await client.prove(circuit, inputsOf(2));
  expect((await after.wait()).state).toBe('succeeded');
}, 240_000);
