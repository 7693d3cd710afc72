import { base64 } from 'multiformats/bases/base64';
import type { JsonValue } from '../../../../protocol/job.ts';
import type { Executor } from '../executor.ts';

/**
 * The executor test list (`js.ts`, `wasm.ts`, `python.ts`, `isolation.ts` here) is written once
 * and run against each host: `headless/executors.test.ts` (sandbox processes and worker threads under Node) and
 * `browser/executors.browser.test.ts` (Web Workers in headless Chromium). A host gives the suites
 * a way to make executors and the compiled test programs, built in Node (clang-14, asc) and, for
 * the browser, shipped to the page as base64.
 */
export interface ExecutorTestContext {
  host: 'node' | 'browser';
  /** A new executor with `capacity` workers; the suite closes it. */
  create(options: { capacity: number; warmMemoryMb: number; prewarm: boolean }): Executor;
  /** The built programs; called in `beforeAll`, after the host's own set-up. */
  fixtures(): ExecutorFixtures;
}

export interface ExecutorFixtures {
  /** The C template (clang-14 + wasi-libc) and the AssemblyScript template (asc), as WASI modules. */
  templates: { c: Uint8Array; as: Uint8Array };
  /** Test programs from `headless/wasm-fixtures/` (see `WasmFixtures`). */
  wasm: Record<WasmFixtureName, Uint8Array>;
  /** The C template compiled natively and run on `primeSieveInputs`: `[input, output]` pairs. */
  primeSieveNative: [JsonValue, JsonValue][];
  /** Every JS and Python template's source with its example inputs (the wasm ones are `templates`). */
  sources: TemplateSource[];
  /** Circuits for `circom` tasks, built with circom2 and set up from the committed powers of tau. */
  circuits: CircuitFixtures;
}

export interface CircuitFixtures {
  /** The `sum_range` template: witness calculator, proving key and manifest text. */
  sumRange: { wasm: Uint8Array; zkey: Uint8Array; manifest: string };
  /** `matmul`'s proving key: a zkey of another circuit. */
  matmulZkey: Uint8Array;
  /** A second setup of `sum_range`: the right circuit, but not the manifest's verification key. */
  otherSetupZkey: Uint8Array;
}

export interface TemplateSource {
  runtime: 'js' | 'python';
  name: string;
  code: string;
  inputs: JsonValue[];
}

export type WasmFixtureName =
  | 'abuse'
  | 'socketImport'
  | 'hostImport'
  | 'reactor'
  | 'hugeInitialMemory'
  | 'bigMaximumMemory';

/** Inputs of the C template compared with the native build. */
export const primeSieveInputs: JsonValue[] = [
  { lo: 0, hi: 2 },
  { lo: 0, hi: 1_000_000 },
  { lo: 65_530, hi: 65_560 }, // across a segment boundary
  { lo: 999_000_000, hi: 1_000_000_000 },
  { lo: 4_294_967_000, hi: 4_294_968_000 }, // past 2^32: 64-bit arithmetic in wasm32
  { lo: 10, hi: 10 },
];

/** Fixtures as text, to cross from Node to a browser page (vitest `provide`/`inject`). */
export function encodeFixtures(fixtures: ExecutorFixtures): string {
  const bytes = (b: Uint8Array) => base64.baseEncode(b);
  return JSON.stringify({
    templates: { c: bytes(fixtures.templates.c), as: bytes(fixtures.templates.as) },
    wasm: Object.fromEntries(Object.entries(fixtures.wasm).map(([name, b]) => [name, bytes(b)])),
    primeSieveNative: fixtures.primeSieveNative,
    sources: fixtures.sources,
    circuits: {
      sumRange: {
        wasm: bytes(fixtures.circuits.sumRange.wasm),
        zkey: bytes(fixtures.circuits.sumRange.zkey),
        manifest: fixtures.circuits.sumRange.manifest,
      },
      matmulZkey: bytes(fixtures.circuits.matmulZkey),
      otherSetupZkey: bytes(fixtures.circuits.otherSetupZkey),
    },
  });
}

export function decodeFixtures(text: string): ExecutorFixtures {
  const raw = JSON.parse(text) as {
    templates: { c: string; as: string };
    wasm: Record<WasmFixtureName, string>;
    primeSieveNative: [JsonValue, JsonValue][];
    sources: TemplateSource[];
    circuits: {
      sumRange: { wasm: string; zkey: string; manifest: string };
      matmulZkey: string;
      otherSetupZkey: string;
    };
  };
  const bytes = (s: string) => base64.baseDecode(s);
  return {
    templates: { c: bytes(raw.templates.c), as: bytes(raw.templates.as) },
    wasm: Object.fromEntries(Object.entries(raw.wasm).map(([name, s]) => [name, bytes(s)])) as Record<
      WasmFixtureName,
      Uint8Array
    >,
    primeSieveNative: raw.primeSieveNative,
    sources: raw.sources,
    circuits: {
      sumRange: {
        wasm: bytes(raw.circuits.sumRange.wasm),
        zkey: bytes(raw.circuits.sumRange.zkey),
        manifest: raw.circuits.sumRange.manifest,
      },
      matmulZkey: bytes(raw.circuits.matmulZkey),
      otherSetupZkey: bytes(raw.circuits.otherSetupZkey),
    },
  };
}
