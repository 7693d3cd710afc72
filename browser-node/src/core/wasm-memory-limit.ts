import { isWasm, WASM_PAGE_BYTES } from '../../../protocol/wasm.ts';

/** Why a module cannot run under a memory limit; `kind` is the task error it becomes. */
export class WasmMemoryLimitError extends Error {
  readonly kind: 'user_error' | 'memory_limit';

  constructor(kind: 'user_error' | 'memory_limit', message: string) {
    super(message);
    this.name = 'WasmMemoryLimitError';
    this.kind = kind;
  }
}

const MEMORY_SECTION = 5;
const LIMITS_HAS_MAX = 0x01;
const LIMITS_SHARED = 0x02;
const LIMITS_MEMORY64 = 0x04;

/**
 * The module's bytes with its memory's maximum lowered to `maxPages`, so that `memory.grow` past
 * the task's memory limit fails inside the module (malloc returns NULL, AssemblyScript aborts)
 * exactly as it would at the module's own maximum. Compilers leave the maximum out by default
 * (clang's wasm-ld unless `--max-memory`, AssemblyScript unless `--maximumMemory`), which means
 * 4 GiB, so refusing modules whose maximum is over the limit would refuse nearly all of them; a
 * declared maximum is a ceiling, not a need. What the module does need at start, its minimum, is
 * checked: over the limit is `memory_limit`.
 *
 * Only the memory section's limits are rewritten (and the section's length); every other byte is
 * copied, and the engine validates the result when it compiles it. Returns `bytes` itself when the
 * declared maximum is already within the limit. Modules with imported, shared (threads), 64-bit or
 * several memories are refused: none is a WASI command we can bound this way.
 *
 * @example
 * const capped = limitWasmMemory(bytes, 64 * 16); // 64 MiB
 * const module = await WebAssembly.compile(capped);
 */
export function limitWasmMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  if (!isWasm(bytes)) {
    throw new WasmMemoryLimitError(
      'user_error',
      'the code is not a WebAssembly module (it does not start with \\0asm); a wasm job takes the bytes of a .wasm file',
    );
  }
  const version = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24);
  if (version !== 1) {
    throw new WasmMemoryLimitError(
      'user_error',
      `unsupported WebAssembly binary version ${version} (a component?); build a core module for wasm32-wasi (preview 1)`,
    );
  }
  const reader = new Reader(bytes, 8);
  while (!reader.done) {
    const sectionStart = reader.offset;
    const id = reader.byte();
    const size = reader.u32();
    const payloadStart = reader.offset;
    const payloadEnd = payloadStart + size;
    if (payloadEnd > bytes.length) throw invalid('a section runs past the end of the module');
    if (id !== MEMORY_SECTION) {
      reader.offset = payloadEnd;
      continue;
    }
    const memories = new Reader(bytes.subarray(0, payloadEnd), payloadStart);
    const count = memories.u32();
    if (count > 1) {
      throw new WasmMemoryLimitError(
        'user_error',
        `the module defines ${count} memories; MonadMesh runs modules with one memory`,
      );
    }
    if (count === 0) return bytes;
    const flags = memories.u32();
    if (flags & LIMITS_SHARED) {
      throw new WasmMemoryLimitError(
        'user_error',
        'the module has a shared memory (threads); tasks are single-threaded: build without threads',
      );
    }
    if (flags & LIMITS_MEMORY64 || flags > 7) {
      throw new WasmMemoryLimitError('user_error', 'the module has a 64-bit memory; build for wasm32');
    }
    const min = memories.u32();
    const max = flags & LIMITS_HAS_MAX ? memories.u32() : undefined;
    if (memories.offset !== payloadEnd) throw invalid('the memory section has trailing bytes');
    if (min > maxPages) {
      throw new WasmMemoryLimitError(
        'memory_limit',
        `the module needs ${mib(min)} MiB of memory at start, over the task's memory limit of ${mib(maxPages)} MiB (memoryMb)`,
      );
    }
    if (max !== undefined && max <= maxPages) return bytes;
    const payload = [...leb(1), LIMITS_HAS_MAX, ...leb(min), ...leb(maxPages)];
    const header = [MEMORY_SECTION, ...leb(payload.length)];
    const out = new Uint8Array(bytes.length - (payloadEnd - sectionStart) + header.length + payload.length);
    out.set(bytes.subarray(0, sectionStart), 0);
    out.set(header, sectionStart);
    out.set(payload, sectionStart + header.length);
    out.set(bytes.subarray(payloadEnd), sectionStart + header.length + payload.length);
    return out;
  }
  // No memory section: the module defines no memory (an imported one is refused with the imports).
  return bytes;
}

function mib(pages: number): string {
  const value = (pages * WASM_PAGE_BYTES) / (1024 * 1024);
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function invalid(reason: string): WasmMemoryLimitError {
  return new WasmMemoryLimitError('user_error', `not a valid WebAssembly module: ${reason}`);
}

/** Unsigned LEB128, as the binary format encodes every count and size. */
function leb(value: number): number[] {
  const out: number[] = [];
  let rest = value >>> 0;
  do {
    const byte = rest & 0x7f;
    rest >>>= 7;
    out.push(rest ? byte | 0x80 : byte);
  } while (rest);
  return out;
}

class Reader {
  readonly #bytes: Uint8Array;
  offset: number;

  constructor(bytes: Uint8Array, offset: number) {
    this.#bytes = bytes;
    this.offset = offset;
  }

  get done(): boolean {
    return this.offset >= this.#bytes.length;
  }

  byte(): number {
    if (this.offset >= this.#bytes.length) throw invalid('unexpected end of the module');
    return this.#bytes[this.offset++]!;
  }

  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.byte();
      result += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) {
        if (result > 0xffffffff) throw invalid('a number is out of range');
        return result;
      }
    }
    throw invalid('a number is too long');
  }
}
