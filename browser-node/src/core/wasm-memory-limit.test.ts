import { describe, expect, test } from 'vitest';
import { isWasm } from '../../../protocol/wasm.ts';
import { limitWasmMemory, WasmMemoryLimitError } from './wasm-memory-limit.ts';

const leb = (value: number): number[] => {
  const out: number[] = [];
  do {
    const byte = value & 0x7f;
    value >>>= 7;
    out.push(value ? byte | 0x80 : byte);
  } while (value);
  return out;
};
const section = (id: number, payload: number[]) => [id, ...leb(payload.length), ...payload];
const name = (text: string) => [...leb(text.length), ...new TextEncoder().encode(text)];

/** A module with the given memories (flags, min, max?) that exports the first as "memory". */
function moduleWith(memories: { flags?: number; min: number; max?: number }[]): Uint8Array {
  const limits = memories.flatMap(({ flags, min, max }) => [
    flags ?? (max === undefined ? 0 : 1),
    ...leb(min),
    ...(max === undefined ? [] : leb(max)),
  ]);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(5, [...leb(memories.length), ...limits]),
    ...section(7, [1, ...name('memory'), 0x02, 0x00]),
    ...section(0, [...name('custom'), 1, 2, 3]), // sections after the memory one are kept
  ]);
}

function memoryOf(bytes: Uint8Array): WebAssembly.Memory {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>));
  return instance.exports.memory as WebAssembly.Memory;
}

function errorOf(run: () => unknown): WasmMemoryLimitError {
  try {
    run();
  } catch (error) {
    if (error instanceof WasmMemoryLimitError) return error;
    throw error;
  }
  throw new Error('expected a WasmMemoryLimitError');
}

describe('limitWasmMemory', () => {
  test('default: a memory with no maximum gets the limit as its maximum', () => {
    const limited = limitWasmMemory(moduleWith([{ min: 2 }]), 16);
    const memory = memoryOf(limited);
    expect(memory.buffer.byteLength).toBe(2 * 65_536);
    expect(memory.grow(14)).toBe(2);
    expect(() => memory.grow(1)).toThrow(RangeError);
    expect(
      WebAssembly.Module.customSections(new WebAssembly.Module(limited as Uint8Array<ArrayBuffer>), 'custom'),
    ).toHaveLength(1);
  });

  test('behavior: a maximum over the limit is lowered; multi-byte numbers are re-encoded', () => {
    const memory = memoryOf(limitWasmMemory(moduleWith([{ min: 300, max: 65_536 }]), 1024));
    expect(memory.buffer.byteLength).toBe(300 * 65_536);
    expect(() => memory.grow(725)).toThrow(RangeError);
    expect(memory.grow(724)).toBe(300);
  });

  test('behavior: a maximum within the limit is kept, and the bytes are returned as they are', () => {
    const bytes = moduleWith([{ min: 1, max: 8 }]);
    expect(limitWasmMemory(bytes, 16)).toBe(bytes);
    expect(limitWasmMemory(bytes, 8)).toBe(bytes);
  });

  test('behavior: a module without memory is left alone', () => {
    const bytes = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    expect(limitWasmMemory(bytes, 16)).toBe(bytes);
    expect(isWasm(bytes)).toBe(true);
  });

  test('error: a minimum over the limit is memory_limit', () => {
    const error = errorOf(() => limitWasmMemory(moduleWith([{ min: 3200 }]), 2048));
    expect(error.kind).toBe('memory_limit');
    expect(error.message).toBe(
      "the module needs 200 MiB of memory at start, over the task's memory limit of 128 MiB (memoryMb)",
    );
  });

  test('error: shared, 64-bit and multiple memories are refused', () => {
    expect(errorOf(() => limitWasmMemory(moduleWith([{ flags: 3, min: 1, max: 2 }]), 16)).message).toMatch(
      /shared memory/,
    );
    expect(errorOf(() => limitWasmMemory(moduleWith([{ flags: 4, min: 1 }]), 16)).message).toMatch(/64-bit/);
    expect(errorOf(() => limitWasmMemory(moduleWith([{ min: 1 }, { min: 1 }]), 16)).message).toMatch(
      /defines 2 memories/,
    );
  });

  test('error: not WebAssembly, another binary version, or truncated', () => {
    const text = new TextEncoder().encode('export default (x) => x');
    expect(isWasm(text)).toBe(false);
    expect(errorOf(() => limitWasmMemory(text, 16))).toMatchObject({ kind: 'user_error' });
    const component = moduleWith([{ min: 1 }]);
    component[4] = 0x0d;
    expect(errorOf(() => limitWasmMemory(component, 16)).message).toMatch(/binary version 13/);
    const truncated = moduleWith([{ min: 1 }]).subarray(0, 11);
    expect(errorOf(() => limitWasmMemory(truncated, 16)).message).toMatch(/^not a valid WebAssembly module/);
  });
});
