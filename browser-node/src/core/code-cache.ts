import { verifyCid } from '../../../protocol/index.ts';

/**
 * Code by CID, fetched once from the origin and hash-checked on receipt. Concurrent requests for
 * the same CID share one fetch; the most recently used `max` entries are kept.
 */
export class CodeCache {
  readonly #entries = new Map<string, Promise<string>>();
  readonly #api: string;
  readonly #fetch: typeof fetch;
  readonly #max: number;

  constructor(api: string, fetchImpl: typeof fetch, max = 64) {
    this.#api = api;
    this.#fetch = fetchImpl;
    this.#max = max;
  }

  get(cid: string): Promise<string> {
    const hit = this.#entries.get(cid);
    if (hit) {
      // Re-insert to mark as most recently used.
      this.#entries.delete(cid);
      this.#entries.set(cid, hit);
      return hit;
    }
    const loading = this.#load(cid);
    this.#entries.set(cid, loading);
    loading.catch(() => this.#entries.delete(cid));
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    return loading;
  }

  async #load(cid: string): Promise<string> {
    const res = await this.#fetch(new URL(`/api/v1/blobs/${cid}`, this.#api), {
      signal: AbortSignal.timeout(30_000),
    });
    if (!res.ok) throw new Error(`code ${cid} could not be fetched: HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (!(await verifyCid(cid, bytes))) throw new Error(`code ${cid} failed its hash check`);
    return new TextDecoder().decode(bytes);
  }
}
