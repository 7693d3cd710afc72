import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { buildWasmFixtures } from '../../browser-node/src/headless/wasm-fixtures/fixtures.ts';
import { createClient } from '../../client/index.ts';
import { type BuiltTemplates, buildTemplates } from '../../scripts/build-wasm.ts';
import { collatzReference } from '../../scripts/collatz-reference.ts';
import { useLocalMesh } from './local-mesh-fixture.ts';

// WebAssembly end to end: `wrangler dev` and one headless node (the CLI). The templates are built
// from source first (clang-14 + wasi-libc, AssemblyScript); the modules go up with PUT /blobs and
// run by codeCid, and their outputs are checked against independent computations.
let built: BuiltTemplates;
// Building first fails (saying what to apt-get install) when the WASI toolchain is missing.
const local = useLocalMesh({
  capacity: 2,
  before: async () => {
    built = await buildTemplates();
  },
});

async function upload(bytes: Uint8Array): Promise<string> {
  const res = await local.call('/blobs', { method: 'PUT', body: bytes as Uint8Array<ArrayBuffer> });
  expect(res.status).toBe(201);
  return ((await res.json()) as { cid: string }).cid;
}

const submit = (spec: Record<string, unknown>) => local.submit({ runtime: 'wasm', ...spec });
const results = (id: string) => local.finished(id);

/** The C template compiled natively and run on the same input. */
function nativePrimeSieve(input: unknown): unknown {
  return JSON.parse(execFileSync(built.cNative, { input: JSON.stringify(input), encoding: 'utf8' }));
}

describe('WebAssembly end to end', () => {
  test('default: the C template (prime sieve) runs through the API and matches native gcc output', async () => {
    const codeCid = await upload(readFileSync(built.cWasm));
    // Ten slices of [0, 2,000,000): one task each, like a real job splitting a range.
    const inputs = Array.from({ length: 10 }, (_, i) => ({ lo: i * 200_000, hi: (i + 1) * 200_000 }));
    const id = await submit({ codeCid, inputs, label: 'prime-sieve' });
    const { status, results: list } = await results(id);
    expect(status).toMatchObject({ state: 'succeeded', runtime: 'wasm', codeCid });
    expect(list.map((r) => r.index)).toEqual(inputs.map((_, i) => i));
    for (const r of list) {
      expect(r.output).toEqual(nativePrimeSieve(inputs[r.index]));
      expect(r.logs).toMatch(/^sieved \[\d+, \d+\) with \d+ base primes\n$/);
    }
    const total = list.reduce((sum, r) => sum + (r.output as { count: number }).count, 0);
    expect(total).toBe(148_933); // π(2,000,000)
  });

  test('behavior: the AssemblyScript template (Collatz) runs through the API and matches a TS reference', async () => {
    const codeCid = await upload(readFileSync(built.asWasm));
    const inputs = Array.from({ length: 8 }, (_, i) => ({ from: 1 + i * 25_000, to: 1 + (i + 1) * 25_000 }));
    const id = await submit({ codeCid, inputs, label: 'collatz' });
    const { status, results: list } = await results(id);
    expect(status.state).toBe('succeeded');
    for (const r of list) {
      const { from, to } = inputs[r.index]!;
      expect(r.output).toEqual(collatzReference(from, to));
    }
  });

  test('behavior: the client maps a .wasm file URL, and the same job twice gives identical results', async () => {
    const mesh = createClient({ url: local.url, apiKey: local.key });
    const inputs = [
      { lo: 0, hi: 1000 },
      { lo: 1_000_000_000, hi: 1_000_010_000 },
    ];
    const run = async () => {
      const job = await mesh.map(pathToFileURL(built.cWasm), inputs);
      const all = [];
      for await (const r of job.results()) all.push({ index: r.index, output: r.output, logs: r.logs });
      return all;
    };
    const first = await run();
    expect(first.map((r) => r.output)).toEqual(inputs.map(nativePrimeSieve));
    expect(JSON.stringify(await run())).toBe(JSON.stringify(first));
  });

  test('error: hostile tasks fail alone with clear errors, and the node keeps serving', async () => {
    const fixtures = buildWasmFixtures();
    const codeCid = await upload(fixtures.abuse);
    const attacks = ['loop', 'grow', 'recurse', 'trap', 'fs-strict', 'flood', 'not-json', 'args'];
    const id = await submit({
      codeCid,
      inputs: attacks.map((attack) => ({ attack })),
      timeoutMs: 1_000,
      memoryMb: 32,
    });
    const { status, results: list } = await results(id);
    expect(status.state).toBe('failed');
    const byAttack = Object.fromEntries(list.map((r) => [attacks[r.index]!, r]));
    expect(byAttack.loop!.error).toMatchObject({ kind: 'timeout' });
    expect(byAttack.grow!.error).toMatchObject({ kind: 'memory_limit' });
    expect(byAttack.recurse!.error?.message).toMatch(/^stack overflow/);
    expect(byAttack.trap!.error).toMatchObject({
      kind: 'user_error',
      message: 'WebAssembly trap: unreachable',
    });
    expect(byAttack['fs-strict']!.error?.message).toMatch(
      /cannot open \/etc\/passwd: Capabilities insufficient/,
    );
    expect(byAttack.flood!.error).toMatchObject({ kind: 'output_invalid' });
    expect(byAttack['not-json']!.error).toMatchObject({ kind: 'output_invalid' });
    expect(byAttack.args).toMatchObject({ state: 'succeeded', output: { argc: 1, argv0: 'task' } });
    // Failures of the code are final: no task was retried.
    expect(list.every((r) => r.attempts === 1)).toBe(true);
    expect(local.node.child.exitCode).toBeNull();

    const after = await submit({
      codeCid: await upload(readFileSync(built.cWasm)),
      inputs: [{ lo: 0, hi: 100 }],
    });
    expect((await results(after)).results[0]).toMatchObject({ state: 'succeeded', output: { count: 25 } });
  });
});
