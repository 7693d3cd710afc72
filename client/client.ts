import { parseExpressionAt } from 'acorn';
import { z } from 'zod';
import {
  isWasm,
  type JobCreated,
  JobCreated as JobCreatedSchema,
  type JobSpecInput,
  JobSummary,
  limits,
  NodeInfo,
  type Runtime,
} from '../protocol/index.ts';
import { MeshApiError } from './errors.ts';
import { decode, type FetchLike, send } from './http.ts';
import { JobHandle } from './job-handle.ts';
import { createApiKey } from './sign-in.ts';

export interface ClientOptions {
  /** Base URL of the API, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** An API key (`mmk_…`) or a session token from `/auth/verify`. */
  apiKey?: string;
  /** Or a wallet key: the client signs in with SIWE and makes an API key on first use. */
  privateKey?: `0x${string}`;
  fetch?: FetchLike;
  WebSocket?: typeof WebSocket;
}

export interface MapOptions {
  runtime?: Runtime;
  timeoutMs?: number;
  maxAttempts?: number;
  memoryMb?: number;
  label?: string;
}

function isExpression(text: string): boolean {
  try {
    const node = parseExpressionAt(`(${text})`, 0, { ecmaVersion: 'latest', preserveParens: true });
    return node.end === text.length + 2;
  } catch {
    return false;
  }
}

/**
 * A module from a file (`file:` URL, Node only) or from the web (`http(s):`): the bytes of a
 * WebAssembly module (by its `\0asm` magic, whatever the name), or else JS source text.
 */
async function readModule(url: URL): Promise<string | Uint8Array> {
  let bytes: Uint8Array;
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    bytes = new Uint8Array(await readFile(url));
  } else {
    const res = await fetch(url);
    if (!res.ok) throw new TypeError(`cannot read ${url}: HTTP ${res.status}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  }
  if (isWasm(bytes)) return bytes;
  if (url.pathname.endsWith('.wasm'))
    throw new TypeError(`${url} is not a WebAssembly module (no \\0asm header)`);
  return new TextDecoder().decode(bytes);
}

/** JSON bodies above this size send their inputs as a blob instead (the job body limit is 8 MiB). */
const INLINE_INPUTS_BYTES = 4 * 1024 * 1024;
const utf8 = new TextEncoder();

/**
 * Turn a function into the module source a node runs: `export default <fn>`. The function must be
 * self-contained (no closures over outer variables, no imports); method shorthand is accepted.
 */
export function moduleSource(fn: string | ((input: never) => unknown)): string {
  if (typeof fn === 'string') return fn;
  let text = fn.toString();
  if (text.includes('[native code]')) throw new TypeError('native functions cannot be sent to the mesh');
  // `foo(x) { … }` / `async foo(x) { … }` (method shorthand) is not an expression; make it one.
  if (!isExpression(text)) {
    const asyncPrefix = /^async\s+/.exec(text)?.[0] ?? '';
    const fixed = `${asyncPrefix}function ${text.slice(asyncPrefix.length)}`;
    if (!isExpression(fixed))
      throw new TypeError('this function cannot be sent: its source is not a function expression');
    text = fixed;
  }
  return `export default ${text};\n`;
}

/**
 * A MonadMesh API client.
 *
 * @example
 * const mesh = createClient({ url: 'http://127.0.0.1:8787', apiKey: process.env.MONADMESH_KEY });
 * const job = await mesh.map((x) => x * x, [1, 2, 3]);
 * console.log(await job.collect()); // [1, 4, 9]
 */
export class MeshClient {
  readonly url: string;
  readonly #o: ClientOptions;
  readonly #fetch: FetchLike;
  #token: Promise<string> | undefined;

  constructor(options: ClientOptions) {
    this.url = new URL(options.url).origin;
    this.#o = options;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    if (options.apiKey) this.#token = Promise.resolve(options.apiKey);
  }

  /**
   * Submit `fn` over `inputs` as a job. `fn` is a self-contained function, module source (its
   * default export is called), or the URL of a module file. Code over 256 KiB and inputs over 4 MiB are uploaded as
   * content-addressed blobs first, so the job body stays small.
   *
   * A WebAssembly module (a WASI command: input JSON on stdin, output JSON on stdout) is given as
   * its bytes or the URL of its `.wasm` file; it is always uploaded as a blob, and the job's
   * runtime is `wasm`.
   *
   * @example
   * const job = await mesh.map(new URL('./prime-sieve.wasm', import.meta.url), [{ lo: 0, hi: 1e6 }]);
   */
  async map<Input, Output = unknown>(
    fn: string | URL | Uint8Array | ((input: Input) => Output | Promise<Output>),
    inputs: readonly Input[],
    options: MapOptions = {},
  ): Promise<JobHandle<Awaited<Output>>> {
    if (inputs.length === 0)
      throw new MeshApiError('validation_failed', 400, 'a job needs at least one input');
    if (inputs.length > limits.maxInputs) {
      throw new MeshApiError(
        'validation_failed',
        400,
        `a job takes at most ${limits.maxInputs} inputs, got ${inputs.length}`,
      );
    }
    const code =
      fn instanceof URL
        ? await readModule(fn)
        : fn instanceof Uint8Array
          ? fn
          : moduleSource(fn as (input: never) => unknown);
    let spec: JobSpecInput;
    if (typeof code === 'string') {
      spec = { runtime: options.runtime ?? 'js' };
      if (utf8.encode(code).byteLength > limits.maxSourceBytes) spec.codeCid = (await this.putBlob(code)).cid;
      else spec.source = code;
    } else {
      if (!isWasm(code)) throw new TypeError('these bytes are not a WebAssembly module (no \\0asm header)');
      if ((options.runtime ?? 'wasm') !== 'wasm') {
        throw new TypeError(`a WebAssembly module runs on the wasm runtime, not ${options.runtime}`);
      }
      spec = { runtime: 'wasm', codeCid: (await this.putBlob(code)).cid };
    }
    const inline = JSON.stringify(inputs);
    if (inline.length > INLINE_INPUTS_BYTES) {
      spec.inputsCid = (await this.putBlob(inputs.map((i) => JSON.stringify(i)).join('\n'))).cid;
    } else {
      spec.inputs = inputs as unknown as JobSpecInput['inputs'];
    }
    for (const key of ['timeoutMs', 'maxAttempts', 'memoryMb', 'label'] as const) {
      if (options[key] !== undefined) (spec as Record<string, unknown>)[key] = options[key];
    }
    const created: JobCreated = await decode(
      await this.#request('/api/v1/jobs', { method: 'POST', json: spec }),
      JobCreatedSchema,
    );
    return this.job<Awaited<Output>>(created.id);
  }

  /** A handle on an existing job. */
  job<Output = unknown>(id: string): JobHandle<Output> {
    return new JobHandle<Output>(id, {
      url: this.url,
      auth: () => this.#auth(),
      fetch: this.#fetch,
      ...(this.#o.WebSocket ? { WebSocket: this.#o.WebSocket } : {}),
    });
  }

  /** The signed-in wallet's jobs, newest first. */
  async jobs(options: { limit?: number } = {}): Promise<JobSummary[]> {
    const body = await decode(
      await this.#request(`/api/v1/jobs?limit=${options.limit ?? 20}`),
      z.object({ jobs: z.array(JobSummary) }),
    );
    return body.jobs;
  }

  /** Store bytes (or text) as a content-addressed blob; returns its CID. */
  async putBlob(data: Uint8Array | string): Promise<{ cid: string; size: number }> {
    const body = (typeof data === 'string' ? utf8.encode(data) : data) as Uint8Array<ArrayBuffer>;
    return decode(
      await this.#request('/api/v1/blobs', {
        method: 'PUT',
        body,
        headers: { 'content-type': 'application/octet-stream' },
      }),
      z.object({ cid: z.string(), size: z.number() }),
    );
  }

  /** Connected compute nodes. */
  async nodes(): Promise<NodeInfo[]> {
    return (
      await decode(
        await send(this.#fetch, `${this.url}/api/v1/nodes`),
        z.object({ nodes: z.array(NodeInfo) }),
      )
    ).nodes;
  }

  /** The bearer token: the API key given, or one made by signing in with the private key. */
  #auth(): Promise<string> {
    if (!this.#token) {
      const privateKey = this.#o.privateKey;
      if (!privateKey) {
        return Promise.reject(
          new MeshApiError('unauthorized', 401, 'no API key: pass apiKey or privateKey to createClient'),
        );
      }
      this.#token = createApiKey({ url: this.url, privateKey, fetch: this.#fetch, label: 'client' }).then(
        (k) => k.key,
      );
      this.#token.catch(() => {
        this.#token = undefined;
      });
    }
    return this.#token;
  }

  async #request(
    path: string,
    init: { method?: string; json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {},
  ) {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${await this.#auth()}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    return send(this.#fetch, `${this.url}${path}`, {
      method: init.method ?? 'GET',
      headers,
      ...(body ? { body } : {}),
    });
  }
}

/** Create a client. */
export function createClient(options: ClientOptions): MeshClient {
  return new MeshClient(options);
}
