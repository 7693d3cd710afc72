import {
  type CircuitClaim,
  cidOf,
  isWasm,
  type JobSpec,
  limits,
  MeshError,
  parseInputs,
  parseIpfsUrl,
} from '../../protocol/index.ts';
import { firstMissing } from '../blob-store.ts';
import type { Env } from '../env.ts';
import { checkCircuitJob } from './circuit.ts';

/** What a submitted spec becomes before its room is made: code by CID and inputs as JSON texts. */
export interface PreparedJob {
  codeCid: string;
  /** One JSON text per task, in input order. */
  inputs: string[];
  /** A `circom` job's verification key and public inputs, for its room to check proofs with. */
  circuit?: CircuitClaim;
}

const utf8 = new TextEncoder();

/**
 * Code CIDs this isolate has stored or seen stored. Blobs are content-addressed and never
 * deleted, so a CID once stored stays stored; a job that sends the same source again (a script
 * in a loop, the web app's templates) skips the R2 write.
 */
const storedCode = new Set<string>();
const remember = (cid: string) => {
  if (storedCode.size > 10_000) storedCode.clear();
  storedCode.add(cid);
};

/**
 * Validate what a spec refers to and store its inline code: the code must be stored (and be a
 * WebAssembly module for `wasm`), an `inputsCid` must hold a JSON array or JSON lines within the
 * limits, and every `ipfs://` input must name a stored root.
 */
export async function prepareJob(env: Env, spec: JobSpec): Promise<PreparedJob> {
  const codeCid = await storeCode(env, spec);
  const values = spec.inputs ?? (await inputsFromBlob(env, spec.inputsCid!));
  const where = spec.inputs ? '' : ` of ${spec.inputsCid}`;
  await requireStoredInputs(env, ipfsInputs(values, where));
  const prepared: PreparedJob = { codeCid, inputs: values.map((v) => JSON.stringify(v)) };
  if (spec.runtime === 'circom') {
    const manifest = spec.source ?? (await manifestBlob(env, codeCid));
    prepared.circuit = await checkCircuitJob(env, manifest, values);
  }
  return prepared;
}

async function storeCode(env: Env, spec: JobSpec): Promise<string> {
  if (spec.source !== undefined) {
    const bytes = utf8.encode(spec.source);
    const cid = (await cidOf(bytes)).toString();
    if (!storedCode.has(cid)) {
      await env.BLOBS.put(cid, bytes);
      remember(cid);
    }
    return cid;
  }
  const cid = spec.codeCid!;
  if (spec.runtime === 'wasm') {
    // The first bytes only: enough to refuse, at submission, a wasm job whose code is no module.
    const head = await env.BLOBS.get(cid, { range: { offset: 0, length: 8 } });
    if (!head) throw codeNotFound(cid);
    if (!isWasm(new Uint8Array(await head.arrayBuffer()))) {
      throw new MeshError(
        'validation_failed',
        `codeCid ${cid} is not a WebAssembly module (it does not start with \\0asm); upload the .wasm file's bytes`,
      );
    }
  } else if (!storedCode.has(cid) && !(await env.BLOBS.head(cid))) {
    throw codeNotFound(cid);
  }
  remember(cid);
  return cid;
}

function codeNotFound(cid: string): MeshError {
  return new MeshError(
    'blob_not_found',
    `codeCid ${cid} is not stored here; upload it with PUT /api/v1/blobs`,
  );
}

/** Inputs from a blob holding a JSON array or JSON lines, checked like inline inputs. */
async function inputsFromBlob(env: Env, cid: string): Promise<unknown[]> {
  const object = await env.BLOBS.get(cid);
  if (!object) {
    throw new MeshError(
      'blob_not_found',
      `inputsCid ${cid} is not stored here; upload it with PUT /api/v1/blobs`,
    );
  }
  const parsed = parseInputs(await object.text());
  if (!parsed.ok) {
    const { reason, line, column, index } = parsed.error;
    throw new MeshError('validation_failed', `inputsCid ${cid}: ${parsed.error.message}`, {
      reason,
      line,
      column,
      index,
    });
  }
  return parsed.inputs;
}

/** An `ipfs://` input: its index and root CID. */
interface IpfsInput {
  index: number;
  cid: string;
}

/** The `ipfs://` inputs among `values`; a malformed one fails with its index (`where` names the inputs). */
function ipfsInputs(values: readonly unknown[], where: string): IpfsInput[] {
  const refs: IpfsInput[] = [];
  values.forEach((value, index) => {
    const ref = parseIpfsUrl(value);
    if (!ref) return;
    if ('problem' in ref) {
      throw new MeshError(
        'validation_failed',
        `input ${index}${where} starts with ipfs:// but is not ipfs://<CIDv1, sha2-256, raw or dag-pb>: ${ref.problem}`,
        { index },
      );
    }
    refs.push({ index, cid: ref.cid.toString() });
  });
  return refs;
}

/**
 * Refuse a job whose `ipfs://` inputs name a blob that is not stored: a stored root is a complete
 * DAG (`PUT /blobs/{cid}` checks links), so no task waits on a blob nobody has.
 */
async function requireStoredInputs(env: Env, refs: readonly IpfsInput[]): Promise<void> {
  if (!refs.length) return;
  const distinct = new Set(refs.map((r) => r.cid));
  if (distinct.size > limits.maxIpfsInputs) {
    throw new MeshError(
      'validation_failed',
      `the job names ${distinct.size} distinct ipfs:// blobs; the limit is ${limits.maxIpfsInputs} (maxIpfsInputs)`,
    );
  }
  const missing = await firstMissing(env, [...distinct]);
  if (missing === undefined) return;
  const index = refs.find((r) => r.cid === missing)!.index;
  throw new MeshError(
    'not_found',
    `input ${index}: ipfs://${missing} is not stored here; upload it first (the client's putBlob, or PUT /api/v1/blobs/{cid} for each block, the root last)`,
    { index, cid: missing },
  );
}

/** A circuit manifest stored as a blob: small JSON, read whole. */
async function manifestBlob(env: Env, cid: string): Promise<string> {
  const object = await env.BLOBS.get(cid);
  if (!object) throw codeNotFound(cid);
  if (object.size > limits.maxSourceBytes) {
    throw new MeshError(
      'validation_failed',
      `codeCid ${cid} is ${object.size} bytes: a circuit manifest is small JSON (at most ${limits.maxSourceBytes} bytes) that names the circuit's wasm and zkey by CID`,
    );
  }
  return object.text();
}
