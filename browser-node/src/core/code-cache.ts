import { verifyCid } from '../../../protocol/index.ts';

/** A blob of code as fetched: its bytes (wasm modules run from these) and, lazily, its text (JS). */
export class CodeBlob {
  readonly bytes: Uint8Array;
  #text: string | undefined;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** The bytes decoded as UTF-8, once: every task of a JS job reuses it. */
  get text(): string {
    this.#text ??= new TextDecoder().decode(this.bytes);
    return this.#text;
  }
}

/**
 * Code by CID, fetched once (from the origin, or through the data plane) and hash-checked on receipt. Concurrent requests for
 * the same CID share one fetch; the most recently used `max` entries are kept. Entries keep the
 * bytes, since a WebAssembly module is binary; JS reads `text`.
 */
export class CodeCache {
  readonly #entries = new Map<string, Promise<CodeBlob>>();
  readonly #api: string;
  readonly #fetch: typeof fetch;
  readonly #max: number;
  readonly #load: ((cid: string) => Promise<Uint8Array>) | undefined;

  /**
   * `load`, when given, fetches code instead of the origin: a node's data plane (peers that hold
   * it, then the origin), which checks every block's hash itself.
   */
  constructor(api: string, fetchImpl: typeof fetch, max = 64, load?: (cid: string) => Promise<Uint8Array>) {
    this.#api = api;
    this.#fetch = fetchImpl;
    this.#max = max;
    this.#load = load;
  }

  get(cid: string): Promise<CodeBlob> {
    const hit = this.#entries.get(cid);
    if (hit) {
      // Re-insert to mark as most recently used.
      this.#entries.delete(cid);
      this.#entries.set(cid, hit);
      return hit;
    }
    const loading = this.#loadBlob(cid);
    this.#entries.set(cid, loading);
    loading.catch(() => this.#entries.delete(cid));
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    return loading;
  }

  async #loadBlob(cid: string): Promise<CodeBlob> {
    if (this.#load) return new CodeBlob(await this.#load(cid));
    const res = await this.#fetch(new URL(`/api/v1/blobs/${cid}`, this.#api), {
      signal: AbortSignal.timeout(30_000),
    });
    if (!res.ok) throw new Error(`code ${cid} could not be fetched: HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (!(await verifyCid(cid, bytes))) throw new Error(`code ${cid} failed its hash check`);
    return new CodeBlob(bytes);
  }
}
