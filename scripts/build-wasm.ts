/**
 * Builds the WebAssembly templates from source into `templates/dist/` (gitignored):
 * - `wasm-c/prime-sieve.c` with Debian's clang-14 and wasi-libc → `prime-sieve.wasm`, and the same
 *   file compiled natively → `prime-sieve.native` (the independent reference the tests compare with);
 * - `wasm-as/collatz.ts` with the AssemblyScript compiler (npm `assemblyscript`, with
 *   `@assemblyscript/wasi-shim`) → `collatz.wasm`.
 *
 * `npm run build:wasm` runs it; tests import `buildTemplates()` and `compileC()`. Outputs newer than
 * their sources are kept, and each output is written to a temporary name and renamed, so test files
 * building at the same time never see half a module.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const TEMPLATES = join(ROOT, 'templates');
export const TEMPLATES_DIST = join(TEMPLATES, 'dist');

/** The clang that targets wasm32-wasi, and how CI installs it. */
export const CLANG = process.env.MONADMESH_CLANG ?? 'clang-14';
export const WASI_APT_PACKAGES = 'clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32';

/**
 * Flags for C: -O2; the shadow stack first in memory, so that a C stack overflow runs below address
 * 0 and traps ("memory access out of bounds") instead of silently overwriting the program's data;
 * DWARF stripped (the name section stays, so traps name the C functions). The stack keeps wasm-ld's
 * default size (64 KiB): it is part of the initial memory every task allocates, and on a node a
 * 1 MiB stack made trivial tasks about twice as slow (V8 collects the finished tasks' memories more
 * often). Programs that recurse deeply add `-Wl,-z,stack-size=…`.
 */
export const WASI_C_FLAGS = ['--target=wasm32-wasi', '-O2', '-Wl,--stack-first', '-Wl,--strip-debug'];

/** Outputs are rebuilt when this file (the flags) changes, too. */
const SELF = fileURLToPath(import.meta.url);

export interface BuiltTemplates {
  /** The C template as a WASI module. */
  cWasm: string;
  /** The same C template built for this machine: the reference. */
  cNative: string;
  /** The AssemblyScript template as a WASI module. */
  asWasm: string;
}

/** Builds (or reuses) every template. Throws with what to install when clang-14 or wasi-libc is missing. */
export async function buildTemplates(): Promise<BuiltTemplates> {
  const cSource = join(TEMPLATES, 'wasm-c/prime-sieve.c');
  const asSource = join(TEMPLATES, 'wasm-as/collatz.ts');
  const asConfig = join(TEMPLATES, 'wasm-as/asconfig.json');
  const built: BuiltTemplates = {
    cWasm: join(TEMPLATES_DIST, 'wasm-c/prime-sieve.wasm'),
    cNative: join(TEMPLATES_DIST, 'wasm-c/prime-sieve.native'),
    asWasm: join(TEMPLATES_DIST, 'wasm-as/collatz.wasm'),
  };
  compileC(cSource, built.cWasm);
  compileNative(cSource, built.cNative);
  await compileAssemblyScript(asSource, asConfig, built.asWasm);
  return built;
}

/** Compiles one C file to a WASI command module with `WASI_C_FLAGS` (plus `extraFlags`). */
export function compileC(source: string, out: string, extraFlags: string[] = []): string {
  if (upToDate(out, [source, SELF])) return out;
  requireWasiToolchain();
  return writeAtomically(out, (tmp) =>
    run(CLANG, [...WASI_C_FLAGS, ...extraFlags, '-o', tmp, source], { PATH: pathWithoutWasmOpt() }),
  );
}

/**
 * clang runs binaryen's `wasm-opt` after linking whenever one is on PATH, and under `npm run` one
 * is (AssemblyScript's `binaryen` puts it in node_modules/.bin). It strips the name section, so
 * traps would no longer name the C functions, and the output would depend on how the build was
 * started. Leave node_modules/.bin out of clang's PATH.
 */
function pathWithoutWasmOpt(): string {
  return (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => !dir.endsWith('node_modules/.bin'))
    .join(':');
}

/** Compiles one C file for this machine (gcc, cc or clang-14, whichever is there). */
export function compileNative(source: string, out: string): string {
  if (upToDate(out, [source, SELF])) return out;
  const compiler = ['gcc', 'cc', CLANG].find(has);
  if (!compiler)
    throw new Error(`no native C compiler (gcc, cc or ${CLANG}) to build the reference of ${source}`);
  return writeAtomically(out, (tmp) => run(compiler, ['-O2', '-o', tmp, source]));
}

/**
 * Compiles an AssemblyScript entry file with its asconfig.json (which extends the WASI shim's). The
 * compiler runs as its own process from the repository root with relative paths: it resolves the
 * `extends` chain's `lib` folder wrongly when given absolute ones.
 */
export async function compileAssemblyScript(source: string, config: string, out: string): Promise<string> {
  if (upToDate(out, [source, config, SELF])) return out;
  return writeAtomically(out, (tmp) =>
    run(process.execPath, [
      join(ROOT, 'node_modules/assemblyscript/bin/asc.js'),
      relative(ROOT, source),
      '--config',
      relative(ROOT, config),
      '--outFile',
      tmp,
    ]),
  );
}

/** Fails with a clear reason (and the fix) when the WASI C toolchain is not installed. */
export function requireWasiToolchain(): void {
  if (!has(CLANG)) {
    throw new Error(
      `${CLANG} is not installed, so the WebAssembly C templates and test programs cannot be built. ` +
        `Install Debian's WASI toolchain: apt-get install -y --no-install-recommends ${WASI_APT_PACKAGES}`,
    );
  }
  const probe = spawnSync(CLANG, ['--target=wasm32-wasi', '-print-file-name=libc.a'], { encoding: 'utf8' });
  const libc = probe.stdout?.trim() ?? '';
  if (probe.status !== 0 || !libc.startsWith('/')) {
    throw new Error(
      `${CLANG} cannot find wasi-libc for --target=wasm32-wasi. ` +
        `Install it: apt-get install -y --no-install-recommends ${WASI_APT_PACKAGES}`,
    );
  }
}

function has(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
  try {
    execFileSync(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${stderr || message}`);
  }
}

function upToDate(out: string, sources: string[]): boolean {
  try {
    const built = statSync(out).mtimeMs;
    return sources.every((source) => statSync(source).mtimeMs <= built);
  } catch {
    return false;
  }
}

function temporaryName(out: string): string {
  mkdirSync(dirname(out), { recursive: true });
  return join(dirname(out), `.${basename(out)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
}

function writeAtomically(out: string, write: (tmp: string) => void): string {
  const tmp = temporaryName(out);
  try {
    write(tmp);
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
  return out;
}

if (process.argv[1] === SELF) {
  try {
    const built = await buildTemplates();
    for (const path of Object.values(built)) process.stdout.write(`${path}\n`);
  } catch (error) {
    process.stderr.write(`build:wasm: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
