import { parseExpressionAt } from 'acorn';
import type { Hex } from 'viem';
import { z } from 'zod';
import {
  BlockCodec,
  isJsonValue,
  isWasm,
  type JobCreated,
  JobCreated as JobCreatedSchema,
  type JobSpecInput,
  JobSummary,
  limits,
  NodeInfo,
  type Runtime,
} from '../protocol/index.ts';
import { type CircuitFiles, circuitManifest } from './circuit.ts';
import { MeshApiError } from './errors.ts';
import { decode, type FetchLike, retrying, send } from './http.ts';
import { JobHandle } from './job-handle.ts';
import { createApiKey } from './sign-in.ts';
import { specHashOf } from './spec-hash.ts';

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
  /**
   * Run each task on this many distinct identities (wallets; an unlinked node is its own) and
   * accept an answer when that many agree. `1` takes one node's word. Overrides `trust`.
   */
  redundancy?: number;
  /**
   * Target confidence of the adaptive policy (0.9–0.9999, default 0.98): replicas are added until
   * the identities that agree, weighted by their records, reach it. Nodes of your own wallet are
   * trusted with your jobs.
   */
  trust?: number;
  /**
   * Seconds (up to 30) the submission may wait for the job to finish (`POST /jobs?wait=`): a job
   * that finishes in time comes back with its results, and a small one is read without opening
   * the event stream. Default 0: the handle comes back at once.
   */
  wait?: number;
  /**
   * Called with the final spec and its spec hash (`specHashOf`) just before it is submitted, after
   * code and inputs are uploaded: e.g. to register the spec hash on-chain from the submitter's
   * wallet (`MonadMeshRegistry.registerSpec`). Submission waits for it; a throw stops it.
   */
  beforeSubmit?: (prepared: { spec: JobSpecInput; specHash: Hex }) => void | Promise<void>;
}

export interface PutBlobOptions {
  /** Send a string as JSON (`JSON.stringify`, so the blob is a JSON string) rather than as its UTF-8 text. */
  json?: boolean;
  /** Blocks in flight at once (default 4). */
  concurrency?: number;
  /** Stops the upload; blocks already stored stay stored (a later `putBlob` skips them). */
  signal?: AbortSignal;
  /** After each block is stored or found already stored. */
  onProgress?: (progress: { blocks: number; totalBlocks: number }) => void;
}

/** A blob stored block by block: pass `url` as a job input and the node that runs the task resolves it. */
export interface BlobRef {
  /** The root CID: a raw block (`bafkrei…`) up to 1 MiB, else a UnixFS dag-pb root (`bafybei…`). */
  cid: string;
  /** `ipfs://<cid>`. */
  url: `ipfs://${string}`;
  /** The blob's length in bytes. */
  size: number;
  /** Distinct blocks in its DAG. */
  blocks: number;
  /** Blocks this call sent (the others were stored already). */
  uploaded: number;
}

const BlockStored = z.object({ cid: z.string(), size: z.number(), codec: BlockCodec });

/** How long each block's request is retried while the API is unreachable or failing. */
const BLOCK_RETRY_MS = 30_000;

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
   * An input may be the `url` of a blob from `putBlob` (`ipfs://<cid>`): the node that runs the
   * task fetches the blob and passes the JSON it holds to `fn`, so large inputs need not travel in
   * the job.
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
    inputs: readonly (Input | BlobRef['url'])[],
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
      if (utf8.encode(code).byteLength > limits.maxSourceBytes)
        spec.codeCid = (await this.#putWhole(code)).cid;
      else spec.source = code;
    } else {
      if (!isWasm(code)) throw new TypeError('these bytes are not a WebAssembly module (no \\0asm header)');
      if ((options.runtime ?? 'wasm') !== 'wasm') {
        throw new TypeError(`a WebAssembly module runs on the wasm runtime, not ${options.runtime}`);
      }
      spec = { runtime: 'wasm', codeCid: (await this.#putWhole(code)).cid };
    }
    return this.#submit<Awaited<Output>>(spec, inputs, options);
  }

  /**
   * Run a proven job: each input is proven with the circuit (Groth16, on the nodes), and a result
   * is accepted only with a proof that verifies against `circuit.verificationKey` and shows the
   * task's own input in its public signals (so every input field must be a public input of the
   * circuit). Each task's output is the circuit's public signals (decimal strings: outputs first,
   * then the inputs); its proof is the result's `proof`. The circuit's witness calculator and
   * proving key are uploaded as blobs (skipped when stored already).
   *
   * @example
   * const circuit = await loadCircuit('build/sum_range'); // see client/circuit.ts
   * const job = await mesh.prove(circuit, [{ values: [1, 2, 3, 4, 5, 6, 7, 8], lo: 0, hi: 9 }]);
   * const [signals] = await job.outputs(); // ['36', '1', '8', '1', …]
   */
  async prove(
    circuit: CircuitFiles,
    inputs: readonly Record<string, unknown>[],
    options: Omit<MapOptions, 'runtime'> = {},
  ): Promise<JobHandle<string[]>> {
    if (inputs.length === 0)
      throw new MeshApiError('validation_failed', 400, 'a job needs at least one input');
    // The manifest names the files by the CIDs the uploads store them under.
    const [manifest] = await Promise.all([
      circuitManifest(circuit),
      this.#putWhole(circuit.wasm),
      this.#putWhole(circuit.zkey),
    ]);
    const source = JSON.stringify(manifest);
    const spec: JobSpecInput =
      utf8.encode(source).byteLength > limits.maxSourceBytes
        ? { runtime: 'circom', codeCid: (await this.#putWhole(source)).cid }
        : { runtime: 'circom', source };
    return this.#submit<string[]>(spec, inputs, options);
  }

  async #submit<Output>(
    spec: JobSpecInput,
    inputs: readonly unknown[],
    options: MapOptions,
  ): Promise<JobHandle<Output>> {
    const inline = JSON.stringify(inputs);
    if (inline.length > INLINE_INPUTS_BYTES) {
      spec.inputsCid = (await this.#putWhole(inputs.map((i) => JSON.stringify(i)).join('\n'))).cid;
    } else {
      spec.inputs = inputs as unknown as JobSpecInput['inputs'];
    }
    for (const key of ['timeoutMs', 'maxAttempts', 'memoryMb', 'label', 'redundancy', 'trust'] as const) {
      if (options[key] !== undefined) (spec as Record<string, unknown>)[key] = options[key];
    }
    if (options.beforeSubmit) {
      await options.beforeSubmit({ spec, specHash: await specHashOf(spec, inputs) });
    }
    const wait = options.wait ? `?wait=${options.wait}` : '';
    const created: JobCreated = await decode(
      await this.#request(`/api/v1/jobs${wait}`, { method: 'POST', json: spec }),
      JobCreatedSchema,
    );
    const handle = this.job<Output>(created.id);
    // Finished within the wait, every result in the response: nothing more to read.
    if (created.state !== 'running' && created.results?.length === created.total) {
      handle.finishedWith(created.results);
    }
    return handle;
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

  /**
   * Store a blob as content-addressed blocks, for `ipfs://` inputs: bytes as they are, a string as
   * its UTF-8 text (or as JSON with `{ json: true }`), any other JSON value as `JSON.stringify`.
   * The blob is chunked in memory exactly as nodes and IPFS chunk it (UnixFS, 1 MiB raw leaves,
   * `protocol/blob-dag.ts`), and the blocks go up leaves first, the root last, a few at a time;
   * blocks the API already has are skipped, and a blob whose root is stored is not sent at all.
   *
   * A task whose input is `url` gets the blob parsed as UTF-8 JSON, so upload JSON for inputs.
   * (`codeCid` and `inputsCid` take whole blobs: `map` uploads those itself.)
   *
   * @example
   * const table = await mesh.putBlob({ rows: bigArray });         // 40 MiB of JSON → 40 leaves + root
   * const job = await mesh.map((t) => t.rows.length, [table.url]); // the node fetches and parses it
   */
  async putBlob(data: Uint8Array | string | unknown, options: PutBlobOptions = {}): Promise<BlobRef> {
    let bytes: Uint8Array;
    if (data instanceof Uint8Array) bytes = data;
    else if (typeof data === 'string' && !options.json) bytes = utf8.encode(data);
    else if (isJsonValue(data)) bytes = utf8.encode(JSON.stringify(data));
    else
      throw new TypeError(
        'putBlob takes bytes, a string or a JSON value (no undefined, NaN, Map, class instances, …)',
      );
    const { chunkBlob } = await import('../protocol/blob-dag.ts');
    const { root, size, blocks } = await chunkBlob(bytes);
    const cid = root.toString();
    const result: BlobRef = { cid, url: `ipfs://${cid}`, size, blocks: blocks.length, uploaded: 0 };
    const { signal, onProgress } = options;
    let done = 0;
    const progress = () => onProgress?.({ blocks: ++done, totalBlocks: blocks.length });
    // A stored root means the whole DAG is stored (the API checks links before storing a node).
    if (await this.#hasBlock(cid, signal)) {
      done = blocks.length - 1;
      progress();
      return result;
    }
    const concurrency = Math.max(1, options.concurrency ?? 4);
    // One height at a time: a node goes up only after every block it links to.
    for (let height = 0, at = 0; at < blocks.length; height++) {
      let end = at;
      while (end < blocks.length && blocks[end]!.height === height) end++;
      const level = blocks.slice(at, end);
      at = end;
      let next = 0;
      const worker = async () => {
        while (next < level.length) {
          const block = level[next++]!;
          const key = block.cid.toString();
          if (key === cid || !(await this.#hasBlock(key, signal))) {
            await this.#putBlock(key, block.bytes, signal);
            result.uploaded++;
          }
          progress();
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, level.length) }, worker));
    }
    return result;
  }

  /** Whether the API stores a block (`HEAD /blobs/{cid}`). */
  async #hasBlock(cid: string, signal?: AbortSignal): Promise<boolean> {
    return retrying(
      async () => {
        const res = await this.#request(`/api/v1/blobs/${cid}`, {
          method: 'HEAD',
          ...(signal ? { signal } : {}),
        });
        if (res.status === 200) return true;
        if (res.status === 404) return false;
        throw new MeshApiError(
          res.status >= 500 ? 'internal' : 'bad_request',
          res.status,
          `HEAD /api/v1/blobs/${cid}: HTTP ${res.status}`,
        );
      },
      BLOCK_RETRY_MS,
      signal,
    );
  }

  /** Store one block (`PUT /blobs/{cid}`; idempotent, so it is retried like a read). */
  async #putBlock(cid: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    await retrying(
      async () =>
        decode(
          await this.#request(`/api/v1/blobs/${cid}`, {
            method: 'PUT',
            body: bytes as Uint8Array<ArrayBuffer>,
            headers: { 'content-type': 'application/octet-stream' },
            ...(signal ? { signal } : {}),
          }),
          BlockStored,
        ),
      BLOCK_RETRY_MS,
      signal,
    );
  }

  /** Store bytes (or text) whole, under their raw CID (`PUT /blobs`): what `codeCid` and `inputsCid` take. */
  async #putWhole(data: Uint8Array | string): Promise<{ cid: string; size: number }> {
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
    init: {
      method?: string;
      json?: unknown;
      body?: BodyInit;
      headers?: Record<string, string>;
      signal?: AbortSignal;
    } = {},
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
      ...(init.signal ? { signal: init.signal } : {}),
    });
  }
}

/** Create a client. */
export function createClient(options: ClientOptions): MeshClient {
  return new MeshClient(options);
}
