import { ConsoleStdout, Directory, File, OpenFile, PreopenDirectory, WASI } from '@bjorn3/browser_wasi_shim';
import * as snarkjs from 'snarkjs';
import { type CircuitFiles, publicInputsOf, r1csHeader } from '../../../client/circuit.ts';
import type { Groth16VerificationKey } from '../../../protocol/index.ts';

/**
 * circom source → a circuit a proven job can run, in the browser (or Node): the `circom2` compiler
 * (circom 2 built for WASI) runs on an in-memory file system (`@bjorn3/browser_wasi_shim`, which
 * the WebAssembly sandbox uses too) holding the source and the circomlib files it includes; then a
 * Groth16 setup from the powers-of-tau file with snarkjs (one contribution, fresh entropy), and
 * the verification key. Each step's failure is a result with its stage and a message for people:
 * circom's own errors, an include the editor does not have, private inputs (a proven job's inputs
 * must all be public), a circuit too large for the powers of tau.
 */
export interface CompiledCircuit extends CircuitFiles {
  constraints: number;
  /** What circom printed (template instances, constraints, wires…). */
  report: string;
}

export type CompileResult =
  | { ok: true; circuit: CompiledCircuit }
  | { ok: false; stage: 'include' | 'compile' | 'inputs' | 'setup'; message: string };

/** 2^12: the powers of tau file's size (circuits/ptau/pot12.ptau). */
export const PTAU_DOMAIN = 4096;

const MAX_INCLUDES = 200;
const LIBRARY_HINT =
  'the editor can include circomlib\'s circuits, e.g. include "circomlib/circuits/poseidon.circom";';

// biome-ignore lint/suspicious/noControlCharactersInRegex: circom colours its output with ANSI escapes.
const plain = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '').trim();

/** A library path with `.` and `..` resolved, or undefined for one that leaves the library (or is absolute). */
function normalize(path: string): string | undefined {
  if (path.startsWith('/')) return undefined;
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.pop() === undefined) return undefined;
    } else parts.push(part);
  }
  return parts.join('/');
}

// Line comments first, so a `/*` inside one does not swallow the includes after it.
const withoutComments = (source: string) =>
  source.replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
const includesOf = (source: string) =>
  [...withoutComments(source).matchAll(/include\s+"([^"]+)"\s*;/g)].map((m) => m[1]!);

/**
 * The library files `source` includes, transitively, as circom will look for them: relative to the
 * including file, then under the library root (`-l`). Library paths are like
 * `circomlib/circuits/poseidon.circom`.
 */
async function gatherIncludes(
  source: string,
  library: (path: string) => Promise<string | undefined>,
): Promise<{ ok: true; files: Map<string, string> } | { ok: false; message: string }> {
  const files = new Map<string, string>();
  const queue: { from: string | undefined; include: string }[] = includesOf(source).map((include) => ({
    from: undefined,
    include,
  }));
  while (queue.length) {
    const { from, include } = queue.shift()!;
    const candidates = [
      ...(from === undefined ? [] : [normalize(`${from.slice(0, from.lastIndexOf('/') + 1)}${include}`)]),
      normalize(include),
    ].filter((path): path is string => path !== undefined);
    let found: string | undefined;
    for (const path of candidates) {
      if (files.has(path)) {
        found = path;
        break;
      }
      const text = await library(path);
      if (text !== undefined) {
        if (files.size >= MAX_INCLUDES)
          return { ok: false, message: `more than ${MAX_INCLUDES} included files` };
        files.set(path, text);
        for (const next of includesOf(text)) queue.push({ from: path, include: next });
        found = path;
        break;
      }
    }
    if (!found) {
      return {
        ok: false,
        message: `include "${include}"${from ? ` (in ${from})` : ''} was not found: ${LIBRARY_HINT}`,
      };
    }
  }
  return { ok: true, files };
}

/** A directory tree of the file system circom sees, from `a/b/c.circom` → text. */
function tree(files: Map<string, string>): Directory {
  const root = new Directory(new Map());
  for (const [path, text] of files) {
    const parts = path.split('/');
    let dir = root;
    for (const part of parts.slice(0, -1)) {
      let next = dir.contents.get(part);
      if (!(next instanceof Directory)) {
        next = new Directory(new Map());
        dir.contents.set(part, next);
      }
      dir = next as Directory;
    }
    dir.contents.set(parts.at(-1)!, new File(new TextEncoder().encode(text)));
  }
  return root;
}

function fileAt(dir: Directory, path: string): Uint8Array | undefined {
  let node: unknown = dir;
  for (const part of path.split('/')) {
    if (!(node instanceof Directory)) return undefined;
    node = node.contents.get(part);
  }
  return node instanceof File ? node.data : undefined;
}

export async function compileCircom(options: {
  source: string;
  /** The circom2 compiler (`circom2/circom.wasm`), compiled. */
  circom: WebAssembly.Module;
  /** A library file's text by its path (`circomlib/circuits/…`), or undefined when there is none. */
  library(path: string): Promise<string | undefined>;
  /** The powers-of-tau file (phase 2 prepared) of at least `PTAU_DOMAIN`. */
  ptau: Uint8Array;
  name?: string;
}): Promise<CompileResult> {
  const includes = await gatherIncludes(options.source, options.library);
  if (!includes.ok) return { ok: false, stage: 'include', message: includes.message };

  const out = new Directory(new Map());
  let stdout = '';
  let stderr = '';
  const wasi = new WASI(
    ['circom2', '/src/main.circom', '--r1cs', '--wasm', '--sym', '-l', '/lib', '-o', '/out'],
    [],
    [
      new OpenFile(new File([])),
      ConsoleStdout.lineBuffered((line) => {
        stdout += `${line}\n`;
      }),
      ConsoleStdout.lineBuffered((line) => {
        stderr += `${line}\n`;
      }),
      new PreopenDirectory(
        '/',
        new Map<string, Directory>([
          ['src', tree(new Map([['main.circom', options.source]]))],
          ['lib', tree(includes.files)],
          ['out', out],
        ]),
      ),
    ],
    { debug: false },
  );
  let code: number;
  try {
    const instance = await WebAssembly.instantiate(options.circom, {
      wasi_snapshot_preview1: wasi.wasiImport,
    });
    code = wasi.start(instance as { exports: { memory: WebAssembly.Memory; _start: () => unknown } });
  } catch (error) {
    code = (error as { code?: number }).code ?? 1;
    if (typeof (error as { code?: number }).code !== 'number') stderr += `${(error as Error).message}\n`;
  }
  const r1cs = fileAt(out, 'main.r1cs');
  const sym = fileAt(out, 'main.sym');
  const wasm = fileAt(out, 'main_js/main.wasm');
  if (code !== 0 || !r1cs || !sym || !wasm) {
    return {
      ok: false,
      stage: 'compile',
      message: plain(`${stderr}\n${stdout}`) || `circom exited with code ${code}`,
    };
  }

  const header = r1csHeader(r1cs);
  if (header.nPrvInputs > 0) {
    return {
      ok: false,
      stage: 'inputs',
      message: `the circuit has ${header.nPrvInputs} private input signal${header.nPrvInputs === 1 ? '' : 's'}: every input of a proven job must be public (a proof binds only public values to the task), so list them all in component main {public [...]}`,
    };
  }
  if (header.nPubInputs === 0) {
    return { ok: false, stage: 'inputs', message: 'the circuit has no inputs: a task needs at least one' };
  }
  const size = header.nConstraints + header.nPubInputs + header.nOutputs + 1;
  if (size > PTAU_DOMAIN) {
    return {
      ok: false,
      stage: 'setup',
      message: `the circuit needs ${size.toLocaleString('en-US')} rows (${header.nConstraints.toLocaleString('en-US')} constraints and its public signals); the powers of tau here allow ${PTAU_DOMAIN.toLocaleString('en-US')}`,
    };
  }

  try {
    const zkey0 = { type: 'mem' } as { type: 'mem'; data?: Uint8Array };
    const zkey = { type: 'mem' } as { type: 'mem'; data?: Uint8Array };
    await snarkjs.zKey.newZKey(
      { type: 'mem', data: r1cs } as never,
      { type: 'mem', data: options.ptau } as never,
      zkey0 as never,
    );
    const entropy = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) =>
      b.toString(16).padStart(2, '0'),
    ).join('');
    await snarkjs.zKey.contribute(zkey0 as never, zkey as never, 'monadmesh editor', entropy);
    const verificationKey = (await snarkjs.zKey.exportVerificationKey(
      zkey.data as never,
    )) as Groth16VerificationKey;
    return {
      ok: true,
      circuit: {
        name: options.name ?? 'circuit',
        wasm,
        zkey: zkey.data!,
        verificationKey,
        publicInputs: publicInputsOf(r1cs, new TextDecoder().decode(sym)),
        constraints: header.nConstraints,
        report: plain(stdout),
      },
    };
  } catch (error) {
    return { ok: false, stage: 'setup', message: `the Groth16 setup failed: ${(error as Error).message}` };
  }
}
