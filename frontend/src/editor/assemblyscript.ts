/**
 * AssemblyScript → WASI module in the browser, the way `scripts/build-wasm.ts` builds
 * templates/wasm-as (the WASI shim's asconfig: stdin/stdout through `process`, `_start` exported).
 * The compiler (with Binaryen, several MB) and the shim's sources load on first use only.
 */

const SHIM_LIB = 'wasi-shim';

// The shim's AssemblyScript sources, as text, keyed by their path inside its `assembly/` folder.
const shimSources = import.meta.glob<string>(
  '../../../node_modules/@assemblyscript/wasi-shim/assembly/**/*.ts',
  {
    query: '?raw',
    import: 'default',
  },
);

async function shimFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  await Promise.all(
    Object.entries(shimSources).map(async ([path, load]) => {
      files.set(path.slice(path.indexOf('/assembly/') + '/assembly/'.length), await load());
    }),
  );
  return files;
}

export type CompileResult = { ok: true; wasm: Uint8Array; warnings: string } | { ok: false; error: string };

/** Compile one AssemblyScript file (`input.ts`) to a WASI command module, optimized like the template. */
export async function compileAssemblyScript(source: string): Promise<CompileResult> {
  const [asc, lib] = await Promise.all([import('assemblyscript/asc'), shimFiles()]);
  let wasm: Uint8Array | undefined;
  const stderr = asc.createMemoryStream();
  const result = await asc.main(
    [
      'input.ts',
      '--outFile',
      'output.wasm',
      '--lib',
      SHIM_LIB,
      '--use',
      'ASC_WASI=1',
      ...['abort=wasi_abort', 'trace=wasi_trace', 'seed=wasi_seed', 'console=wasi_console'].flatMap((u) => [
        '--use',
        u,
      ]),
      ...[
        'crypto=wasi_crypto',
        'performance=wasi_performance',
        'process=wasi_process',
        'Date=wasi_Date',
      ].flatMap((u) => ['--use', u]),
      '--exportStart',
      '_start',
      '--runtime',
      'incremental',
      '--optimizeLevel',
      '3',
      '--shrinkLevel',
      '0',
      '--noColors',
    ],
    {
      stderr,
      readFile: (name: string, baseDir: string) => {
        if (baseDir === SHIM_LIB) return lib.get(name) ?? null;
        return name === 'input.ts' ? source : null;
      },
      writeFile: (name: string, contents: Uint8Array | string) => {
        if (name === 'output.wasm' && typeof contents !== 'string') wasm = contents;
      },
      listFiles: (dir: string) =>
        dir === SHIM_LIB ? [...lib.keys()].filter((f) => !f.includes('/') && f.endsWith('.ts')) : [],
    },
  );
  const messages = stderr.toString().trim();
  if (result.error || !wasm) {
    return { ok: false, error: messages || result.error?.message || 'the compiler produced no module' };
  }
  return { ok: true, wasm, warnings: messages };
}
