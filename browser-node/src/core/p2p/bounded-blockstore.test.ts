import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { describe, expect, test } from 'vitest';
import { BoundedBlockstore } from './bounded-blockstore.ts';

async function block(fill: number, size = 100): Promise<[CID, Uint8Array]> {
  const bytes = new Uint8Array(size).fill(fill);
  return [CID.createV1(raw.code, await sha256.digest(bytes)), bytes];
}

const read = (store: BoundedBlockstore, cid: CID) => [...store.get(cid)][0];

describe('BoundedBlockstore', () => {
  test('default: stores, reads, deletes, and counts bytes', async () => {
    const store = new BoundedBlockstore({ maxBytes: 1_000 });
    const [cid, bytes] = await block(1);
    await store.put(cid, bytes);
    expect(store.has(cid)).toBe(true);
    expect(read(store, cid)).toEqual(bytes);
    expect(store.size).toBe(100);
    await store.delete(cid);
    expect(store.has(cid)).toBe(false);
    expect(store.size).toBe(0);
    expect(() => read(store, cid)).toThrow(/not in the cache/);
  });

  test('behavior: over the limit, the least recently used blocks go first', async () => {
    const evicted: CID[] = [];
    const store = new BoundedBlockstore({ maxBytes: 300, onEvict: (cid) => evicted.push(cid) });
    const [a, b, c, d] = await Promise.all([block(1), block(2), block(3), block(4)]);
    for (const [cid, bytes] of [a, b, c]) await store.put(cid, bytes);
    read(store, a[0]); // a is now the most recently used
    await store.put(d[0], d[1]);
    expect(evicted.map(String)).toEqual([b[0].toString()]);
    expect([a, c, d].every(([cid]) => store.has(cid))).toBe(true);
    expect(store.size).toBe(300);
  });

  test('behavior: a block bigger than the cache is kept alone until the next put', async () => {
    const store = new BoundedBlockstore({ maxBytes: 150 });
    const [small, big] = await Promise.all([block(1), block(2, 400)]);
    await store.put(small[0], small[1]);
    await store.put(big[0], big[1]);
    expect(store.has(small[0])).toBe(false);
    expect(store.has(big[0])).toBe(true);
  });
});
