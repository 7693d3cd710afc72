import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileC } from '../../../../scripts/build-wasm.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Built fixtures go beside the other build outputs (gitignored), and are reused while up to date. */
const OUT = join(HERE, '../../../../dist/wasm-fixtures');

export interface WasmFixtures {
  /** Does what its input's `attack` says (`abuse.c`). */
  abuse: Uint8Array;
  /** Imports `wasi_snapshot_preview1.sock_accept`. */
  socketImport: Uint8Array;
  /** Imports `env.http_get`. */
  hostImport: Uint8Array;
  /** A WASI reactor: no `_start`. */
  reactor: Uint8Array;
  /** `abuse.c` asking for 200 MiB of memory at start (`--initial-memory`). */
  hugeInitialMemory: Uint8Array;
  /** `abuse.c` declaring a 1 GiB maximum memory (`--max-memory`). */
  bigMaximumMemory: Uint8Array;
}

/**
 * Builds the test programs of the WebAssembly sandbox tests from C, with the same toolchain and
 * flags as the templates. Throws (with the apt-get line to run) when clang-14/wasi-libc are missing:
 * the tests then fail, they are not skipped.
 */
export function buildWasmFixtures(): WasmFixtures {
  const source = (name: string) => join(HERE, name);
  const build = (name: string, file: string, flags: string[] = []) =>
    new Uint8Array(readFileSync(compileC(source(file), join(OUT, `${name}.wasm`), flags)));
  return {
    abuse: build('abuse', 'abuse.c'),
    socketImport: build('imports-socket', 'imports-socket.c'),
    hostImport: build('imports-host', 'imports-host.c'),
    reactor: build('reactor', 'reactor.c', ['-mexec-model=reactor']),
    hugeInitialMemory: build('abuse-initial-200m', 'abuse.c', ['-Wl,--initial-memory=209715200']),
    bigMaximumMemory: build('abuse-max-1g', 'abuse.c', ['-Wl,--max-memory=1073741824']),
  };
}
