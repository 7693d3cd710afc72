import { describe, expect, test } from 'vitest';
import { moduleSource } from './client.ts';

describe('moduleSource', () => {
  test('default: arrow and function expressions become the default export', () => {
    expect(moduleSource((x: number) => x * 2)).toBe('export default (x) => x * 2;\n');
    expect(
      moduleSource(function named(x: number) {
        return x;
      }),
    ).toMatch(/^export default function named\(x\)/);
    expect(moduleSource(async (x: number) => x)).toMatch(/^export default async \(x\) => x/);
  });

  test('behavior: method shorthand is turned into a function expression', () => {
    const o = {
      double(x: number) {
        return x * 2;
      },
      async half(x: number) {
        return x / 2;
      },
    };
    expect(moduleSource(o.double)).toMatch(/^export default function double\(x\)/);
    expect(moduleSource(o.half)).toMatch(/^export default async function half\(x\)/);
  });

  test('behavior: a string is taken as module source as it is', () => {
    expect(moduleSource('export default (x) => x')).toBe('export default (x) => x');
  });

  test('error: native functions are refused', () => {
    expect(() => moduleSource(Math.max as never)).toThrow(/native/);
  });
});
