import type { KeyStore } from '../core/identity.ts';

export interface IndexedDbKeyStoreOptions {
  /** Database name; default `monadmesh`. */
  database?: string;
  /** Key of the record in the `keys` object store; default `node-key`. */
  name?: string;
  /** Injected for tests; default the global `indexedDB`. */
  indexedDB?: IDBFactory;
}

const STORE = 'keys';

/**
 * The tab's node key in IndexedDB: one database with one object store (`keys`), the key under one
 * record name. Every tab of the origin shares it, so they all sign as the same peer. A record is
 * added, never put: a stored key is never replaced.
 *
 * @example
 * const identity = await loadOrCreateIdentity(new IndexedDbKeyStore());
 */
export class IndexedDbKeyStore implements KeyStore {
  readonly location: string;
  readonly #database: string;
  readonly #name: string;
  readonly #idb: IDBFactory;

  constructor(options: IndexedDbKeyStoreOptions = {}) {
    this.#database = options.database ?? 'monadmesh';
    this.#name = options.name ?? 'node-key';
    this.#idb = options.indexedDB ?? globalThis.indexedDB;
    this.location = `IndexedDB ${this.#database}/${STORE}/${this.#name}`;
  }

  async load(): Promise<Uint8Array | undefined> {
    const value = await this.#run('readonly', (store) => store.get(this.#name));
    if (value === undefined) return undefined;
    // Anything else stored under the name is handed on as is, and refused as not a key.
    if (value instanceof Uint8Array) return value;
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    return new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
  }

  async save(bytes: Uint8Array): Promise<void> {
    try {
      await this.#run('readwrite', (store) => store.add(new Uint8Array(bytes), this.#name));
    } catch (err) {
      // Another tab stored its key first: keep that one (the caller loads it again).
      if ((err as DOMException).name !== 'ConstraintError') throw err;
    }
  }

  async #open(): Promise<IDBDatabase> {
    const request = this.#idb.open(this.#database, 1);
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
    };
    return settle(request);
  }

  async #run<T>(mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.#open();
    try {
      const tx = db.transaction(STORE, mode);
      const done = new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onabort = () => reject(tx.error ?? new DOMException('transaction aborted', 'AbortError'));
      });
      // A failed request aborts the transaction: its own error is the one to report.
      done.catch(() => {});
      const result = await settle(op(tx.objectStore(STORE)));
      await done;
      return result;
    } finally {
      db.close();
    }
  }
}

function settle<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
