import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { describe, expect, test } from 'vitest';
import { IdbBlockCache } from './idb-block-cache.ts';

async function block(fill: number, size = 1000): Promise<[CID, Uint8Array]> {
  const bytes = new Uint8Array(size).fill(fill);
  return [CID.createV1(raw.code, await sha256.digest(bytes)), bytes];
}

async function read(cache: IdbBlockCache, cid: CID): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of cache.get(cid)) parts.push(part);
  return parts.length === 1 ? parts[0]! : Uint8Array.from(parts.flatMap((p) => [...p]));
}

describe('IdbBlockCache (IndexedDB, real Chromium)', () => {
  test('default: blocks survive closing and reopening the cache, with their byte count', async () => {
    const name = `test-blocks-${Math.random()}`;
    const first = await IdbBlockCache.open({ name, maxBytes: 10_000 });
    const [a, aBytes] = await block(1);
    await first.put(a, aBytes);
    await first.close();
    const again = await IdbBlockCache.open({ name, maxBytes: 10_000 });
    expect(await again.has(a)).toBe(true);
    expect(await read(again, a)).toEqual(aBytes);
    expect(again.size).toBe(1000);
    await again.close();
  });

  test('behavior: bounded in bytes, least recently used first out, and evictions are reported', async () => {
    const evicted: string[] = [];
    const cache = await IdbBlockCache.open({
      name: `test-blocks-${Math.random()}`,
      maxBytes: 3000,
      onEvict: (cid) => evicted.push(cid.toString()),
    });
    const blocks = await Promise.all([block(1), block(2), block(3), block(4)]);
    for (const [cid, bytes] of blocks.slice(0, 3)) await cache.put(cid, bytes);
    await read(cache, blocks[0]![0]); // the first block is now the most recently used
    await cache.put(blocks[3]![0], blocks[3]![1]);
    expect(evicted).toEqual([blocks[1]![0].toString()]);
    expect(await cache.has(blocks[1]![0])).toBe(false);
    expect(await cache.has(blocks[0]![0])).toBe(true);
    expect(cache.size).toBe(3000);
    await cache.close();
  });
});
