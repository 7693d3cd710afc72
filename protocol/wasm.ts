/** WebAssembly linear memory is counted in 64 KiB pages. */
export const WASM_PAGE_BYTES = 65_536;

/**
 * True when `bytes` starts like a WebAssembly binary (`\0asm`). The API checks it when a wasm job
 * is submitted, the client to tell a module from source text; nodes validate the whole module.
 */
export function isWasm(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
}
