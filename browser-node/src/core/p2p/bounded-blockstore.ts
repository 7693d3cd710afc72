import { BaseBlockstore } from 'blockstore-core';
import { NotFoundError } from 'interface-store';
import { base32 } from 'multiformats/bases/base32';
import type { CID } from 'multiformats/cid';

interface Entry {
  cid: CID;
  bytes: Uint8Array;
}

/**
 * A node's block cache: in memory, bounded in bytes, least recently used first out. Keyed by
 * multihash (as IPFS blockstores are), so a block is one entry whatever CID names it. The node
 * learns of evictions (`onEvict`) to stop announcing blobs it no longer has whole.
 */
export class BoundedBlockstore extends BaseBlockstore {
  readonly maxBytes: number;
  readonly #entries = new Map<string, Entry>();
  readonly #onEvict: ((cid: CID) => void) | undefined;
  #bytes = 0;

  constructor(options: { maxBytes: number; onEvict?: (cid: CID) => void }) {
    super();
    this.maxBytes = options.maxBytes;
    this.#onEvict = options.onEvict;
  }

  /** Bytes held now. */
  get size(): number {
    return this.#bytes;
  }

  override async put(
    cid: CID,
    value: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<CID> {
    const bytes = value instanceof Uint8Array ? value : await concat(value);
    const key = keyOf(cid);
    const old = this.#entries.get(key);
    if (old) {
      this.#entries.delete(key);
      this.#bytes -= old.bytes.byteLength;
    }
    this.#entries.set(key, { cid, bytes });
    this.#bytes += bytes.byteLength;
    this.#evict(key);
    return cid;
  }

  override *get(cid: CID): Generator<Uint8Array> {
    const key = keyOf(cid);
    const entry = this.#entries.get(key);
    if (!entry) throw new NotFoundError(`block ${cid} is not in the cache`);
    // Most recently used last.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    yield entry.bytes;
  }

  override has(cid: CID): boolean {
    return this.#entries.has(keyOf(cid));
  }

  override async delete(cid: CID): Promise<void> {
    const key = keyOf(cid);
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes.byteLength;
  }

  override *getAll() {
    for (const { cid, bytes } of [...this.#entries.values()]) {
      yield {
        cid,
        bytes: (function* () {
          yield bytes;
        })(),
      };
    }
  }

  /** Drops least recently used blocks until the cache fits, never the one just put. */
  #evict(keep: string): void {
    for (const [key, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) return;
      if (key === keep) continue;
      this.#entries.delete(key);
      this.#bytes -= entry.bytes.byteLength;
      this.#onEvict?.(entry.cid);
    }
  }
}

function keyOf(cid: CID): string {
  return base32.encode(cid.multihash.bytes);
}

async function concat(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of chunks) {
    parts.push(chunk);
    length += chunk.byteLength;
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
