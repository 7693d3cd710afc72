import { BaseBlockstore } from 'blockstore-core';
import { IDBBlockstore } from 'blockstore-idb';
import { CID } from 'multiformats/cid';

/**
 * A tab's block cache: blocks in IndexedDB (`blockstore-idb`), so what a contributing tab fetched
 * survives a reload, bounded in bytes, least recently used first out. The index (CID, size, in
 * LRU order) is small, one entry per block, and kept in localStorage beside it, so opening the
 * cache reads no block. A block written to IndexedDB whose index entry was lost (the tab closed
 * between the two writes) is found by nobody and stays until the site's storage is cleared.
 */
export class IdbBlockCache extends BaseBlockstore {
  readonly maxBytes: number;
  readonly #store: IDBBlockstore;
  readonly #indexKey: string;
  readonly #index: Map<string, number>;
  readonly #onEvict: ((cid: CID) => void) | undefined;
  #bytes = 0;

  private constructor(store: IDBBlockstore, name: string, maxBytes: number, onEvict?: (cid: CID) => void) {
    super();
    this.#store = store;
    this.maxBytes = maxBytes;
    this.#indexKey = `${name}:index`;
    this.#onEvict = onEvict;
    let entries: [string, number][] = [];
    try {
      entries = JSON.parse(globalThis.localStorage?.getItem(this.#indexKey) ?? '[]') as [string, number][];
    } catch {
      entries = [];
    }
    this.#index = new Map(entries.filter(([key, size]) => typeof key === 'string' && Number.isFinite(size)));
    for (const size of this.#index.values()) this.#bytes += size;
  }

  static async open(options: {
    name?: string;
    maxBytes: number;
    onEvict?: (cid: CID) => void;
  }): Promise<IdbBlockCache> {
    const name = options.name ?? 'monadmesh-blocks';
    const store = new IDBBlockstore(name);
    await store.open();
    return new IdbBlockCache(store, name, options.maxBytes, options.onEvict);
  }

  /** Bytes held now. */
  get size(): number {
    return this.#bytes;
  }

  override async put(
    cid: CID,
    value: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<CID> {
    const parts: Uint8Array[] = [];
    if (value instanceof Uint8Array) parts.push(value);
    else for await (const part of value) parts.push(part);
    const size = parts.reduce((n, p) => n + p.byteLength, 0);
    await this.#store.put(cid, parts.length === 1 ? parts[0]! : parts);
    const key = cid.toString();
    this.#bytes -= this.#index.get(key) ?? 0;
    this.#index.delete(key);
    this.#index.set(key, size);
    this.#bytes += size;
    await this.#evict(key);
    this.#save();
    return cid;
  }

  override async *get(cid: CID): AsyncGenerator<Uint8Array> {
    const key = cid.toString();
    const size = this.#index.get(key);
    if (size !== undefined) {
      this.#index.delete(key);
      this.#index.set(key, size);
    }
    yield* this.#store.get(cid);
  }

  override has(cid: CID): Promise<boolean> {
    return this.#store.has(cid);
  }

  override async delete(cid: CID): Promise<void> {
    const key = cid.toString();
    this.#bytes -= this.#index.get(key) ?? 0;
    this.#index.delete(key);
    await this.#store.delete(cid);
    this.#save();
  }

  override getAll() {
    return this.#store.getAll();
  }

  async close(): Promise<void> {
    this.#save();
    await this.#store.close();
  }

  async #evict(keep: string): Promise<void> {
    for (const [key, size] of this.#index) {
      if (this.#bytes <= this.maxBytes) return;
      if (key === keep) continue;
      this.#index.delete(key);
      this.#bytes -= size;
      const cid = CID.parse(key);
      await this.#store.delete(cid);
      this.#onEvict?.(cid);
    }
  }

  #save(): void {
    try {
      globalThis.localStorage?.setItem(this.#indexKey, JSON.stringify([...this.#index]));
    } catch {
      // Storage full or unavailable: the index is rebuilt empty next time (blocks stay until cleared).
    }
  }
}
