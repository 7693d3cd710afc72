import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import * as dagPb from '@ipld/dag-pb';
import { bodyLimit } from 'hono/body-limit';
import { UnixFS } from 'ipfs-unixfs';
import type { CID } from 'multiformats/cid';
import {
  ApiErrorBody,
  BlockCodec,
  blockCidProblem,
  blockCodecName,
  Cid,
  cidOf,
  limits,
  MeshError,
  parseCid,
  verifyCid,
} from '../../protocol/index.ts';
import type { AppEnv } from '../app-env.ts';
import { requireAuth } from '../auth.ts';
import { headAll, missingOf } from '../blob-store.ts';
import { requireCid } from '../cid-param.ts';
import { validationHook } from '../validation.ts';

export const blobs = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const BlobStored = z.object({ cid: Cid, size: z.number().int() }).meta({ id: 'BlobStored' });

blobs.put(
  '/blobs',
  requireAuth,
  bodyLimit({
    maxSize: limits.maxBlobBytes,
    onError: () => {
      throw new MeshError('payload_too_large', `blob is over the limit of ${limits.maxBlobBytes} bytes`);
    },
  }),
);

blobs.openapi(
  createRoute({
    method: 'put',
    path: '/blobs',
    summary: 'Store bytes under their CIDv1 (raw, sha2-256); idempotent',
    security: [{ bearer: [] }],
    request: {
      body: {
        required: true,
        content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } },
      },
    },
    responses: {
      201: { description: 'Stored', content: { 'application/json': { schema: BlobStored } } },
      413: { description: 'Too large', content: { 'application/json': { schema: ApiErrorBody } } },
      401: { description: 'Not signed in', content: { 'application/json': { schema: ApiErrorBody } } },
    },
  }),
  async (c) => {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.byteLength === 0) throw new MeshError('bad_request', 'empty body: send the blob bytes');
    const cid = await cidOf(bytes);
    const key = cid.toString();
    // R2 checks the SHA-256 on write, so a corrupted upload cannot be stored under this CID.
    await c.env.BLOBS.put(key, bytes, { sha256: cid.multihash.digest });
    return c.json({ cid: key, size: bytes.byteLength }, 201);
  },
);

const CidParam = z.object({
  cid: z
    .string()
    .max(200)
    .meta({ param: { name: 'cid', in: 'path' } }),
});

const BlockStored = z
  .object({
    cid: Cid,
    size: z.number().int(),
    codec: BlockCodec,
    /** Links of a dag-pb block (all of them already stored); 0 for raw. */
    links: z.number().int(),
  })
  .meta({ id: 'BlockStored' });

/** A dag-pb block, decoded and checked: links each a block CID we could store, and its UnixFS file data. */
function dagPbBlock(cid: CID, bytes: Uint8Array): { links: string[]; file: UnixFS } {
  let node: dagPb.PBNode;
  try {
    node = dagPb.decode(bytes);
  } catch (err) {
    throw new MeshError('validation_failed', `block ${cid} is not valid dag-pb: ${(err as Error).message}`);
  }
  let file: UnixFS;
  try {
    if (!node.Data) throw new Error('no UnixFS data');
    file = UnixFS.unmarshal(node.Data);
  } catch (err) {
    throw new MeshError('validation_failed', `block ${cid} is not a UnixFS node: ${(err as Error).message}`);
  }
  if (file.type !== 'file' && file.type !== 'raw') {
    throw new MeshError('validation_failed', `block ${cid} is a UnixFS ${file.type}; blobs are UnixFS files`);
  }
  if (file.blockSizes.length !== node.Links.length) {
    throw new MeshError(
      'validation_failed',
      `block ${cid} declares ${file.blockSizes.length} block sizes for ${node.Links.length} links`,
    );
  }
  const size = file.fileSize();
  if (size > BigInt(limits.maxChunkedBlobBytes)) {
    throw new MeshError(
      'payload_too_large',
      `block ${cid} declares a file of ${size} bytes; the limit is ${limits.maxChunkedBlobBytes} bytes (maxChunkedBlobBytes)`,
    );
  }
  return { links: dagPbLinks(cid, node), file };
}

/**
 * The size each stored child really holds, checked against what `file` declares for it: a raw
 * leaf's length, or a dag-pb child's file size (kept as the object's metadata when it was stored).
 * Without this, a small upload could declare a huge file by linking one leaf many times.
 */
async function checkChildSizes(
  env: AppEnv['Bindings'],
  cid: CID,
  links: string[],
  file: UnixFS,
  heads: Map<string, R2Object | null>,
): Promise<void> {
  // A dag-pb child stored before its size was kept as metadata: read it from the block itself.
  const sizes = new Map<string, bigint>();
  for (const link of new Set(links)) {
    const head = heads.get(link)!;
    const declared = head.customMetadata?.fileSize;
    if (declared !== undefined) sizes.set(link, BigInt(declared));
    else if (parseCid(link)?.code === dagPb.code) sizes.set(link, await storedFileSize(env, link));
    else sizes.set(link, BigInt(head.size));
  }
  links.forEach((link, i) => {
    const real = sizes.get(link)!;
    if (real !== file.blockSizes[i]) {
      throw new MeshError(
        'validation_failed',
        `link ${i} of block ${cid} declares ${file.blockSizes[i]} bytes, but ${link} holds ${real}`,
      );
    }
  });
}

/** The file size a stored dag-pb block declares (it was checked when it was stored). */
async function storedFileSize(env: AppEnv['Bindings'], key: string): Promise<bigint> {
  const object = await env.BLOBS.get(key);
  const data = object ? dagPb.decode(new Uint8Array(await object.arrayBuffer())).Data : undefined;
  return data ? UnixFS.unmarshal(data).fileSize() : -1n;
}

/** The links of a decoded dag-pb block, checked: each a block CID we could store. */
function dagPbLinks(cid: CID, node: dagPb.PBNode): string[] {
  if (node.Links.length > limits.maxBlockLinks) {
    throw new MeshError(
      'validation_failed',
      `block ${cid} has ${node.Links.length} links; the limit is ${limits.maxBlockLinks} (maxBlockLinks)`,
    );
  }
  return node.Links.map((link, i) => {
    const problem = blockCidProblem(link.Hash);
    if (problem) throw new MeshError('validation_failed', `link ${i} of block ${cid}: ${problem}`);
    return link.Hash.toString();
  });
}

blobs.put(
  '/blobs/:cid',
  requireAuth,
  bodyLimit({
    maxSize: limits.maxBlockBytes,
    onError: () => {
      throw new MeshError(
        'payload_too_large',
        `block is over the limit of ${limits.maxBlockBytes} bytes (maxBlockBytes); chunk blobs into 1 MiB leaves`,
      );
    },
  }),
);

blobs.openapi(
  createRoute({
    method: 'put',
    path: '/blobs/{cid}',
    summary: 'Store one block of a chunked blob under its CID; idempotent',
    description: `The body is the block's bytes. The CID must be a CIDv1 with sha2-256 and codec raw (0x55) or dag-pb (0x70), and the body must hash to it. A block is at most ${limits.maxBlockBytes} bytes. A dag-pb block is stored only when every block it links to is already stored (upload leaves first, the root last), so a stored root is always a complete DAG. 201 when stored, 200 when it already was.`,
    security: [{ bearer: [] }],
    request: {
      params: CidParam,
      body: {
        required: true,
        content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } },
      },
    },
    responses: {
      201: { description: 'Stored', content: { 'application/json': { schema: BlockStored } } },
      200: { description: 'Already stored', content: { 'application/json': { schema: BlockStored } } },
      400: {
        description: 'Not a block CID, unsupported codec, or bytes that do not hash to the CID',
        content: { 'application/json': { schema: ApiErrorBody } },
      },
      401: { description: 'Not signed in', content: { 'application/json': { schema: ApiErrorBody } } },
      409: {
        description: 'A dag-pb block links to a block that is not stored yet',
        content: { 'application/json': { schema: ApiErrorBody } },
      },
      413: { description: 'Block too large', content: { 'application/json': { schema: ApiErrorBody } } },
    },
  }),
  async (c) => {
    const text = c.req.valid('param').cid;
    const cid = parseCid(text);
    if (!cid) throw new MeshError('invalid_cid', `'${text.slice(0, 100)}' is not a CID`);
    const problem = blockCidProblem(cid);
    if (problem) throw new MeshError('invalid_cid', problem);
    const key = cid.toString();
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (!(await verifyCid(cid, bytes))) {
      throw new MeshError(
        'hash_mismatch',
        `the ${bytes.byteLength} bytes sent do not hash (sha2-256) to ${key}; the block is corrupted or sent under the wrong CID`,
      );
    }
    const codec = blockCodecName(cid.code)!;
    const decoded = codec === 'dag-pb' ? dagPbBlock(cid, bytes) : undefined;
    const links = decoded?.links ?? [];
    const body = { cid: key, size: bytes.byteLength, codec, links: links.length };
    // Stored means complete (links were checked when it was stored): nothing to do.
    if (await c.env.BLOBS.head(key)) return c.json(body, 200);
    const heads = await headAll(c.env, links);
    const missing = missingOf(links, heads);
    if (missing !== undefined) {
      throw new MeshError(
        'missing_block',
        `block ${key} links to ${missing}, which is not stored; upload the blocks it links to first (PUT /api/v1/blobs/${missing})`,
        { missing },
      );
    }
    if (decoded) await checkChildSizes(c.env, cid, links, decoded.file, heads);
    // R2 checks the SHA-256 on write, so a corrupted upload cannot be stored under this CID. A
    // dag-pb node keeps the file size it declares (checked), for its parents' checks.
    await c.env.BLOBS.put(key, bytes, {
      sha256: cid.multihash.digest,
      ...(decoded ? { customMetadata: { fileSize: String(decoded.file.fileSize()) } } : {}),
    });
    return c.json(body, 201);
  },
);

// Documentation only: Hono answers HEAD with the GET route below (without reading the object).
blobs.openAPIRegistry.registerPath({
  method: 'head',
  path: '/blobs/{cid}',
  summary: 'Whether a blob or block is stored (for a dag-pb root: the whole DAG is)',
  request: { params: CidParam },
  responses: {
    200: { description: 'Stored; content-length is its size' },
    400: { description: 'Not a CID' },
    404: { description: 'Not stored' },
  },
});

blobs.openapi(
  createRoute({
    method: 'get',
    path: '/blobs/{cid}',
    summary: 'Fetch a blob or block by CID (public: content addressing makes it self-verifying)',
    request: { params: CidParam },
    responses: {
      200: {
        description: 'The bytes',
        content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } },
      },
      400: { description: 'Not a CID', content: { 'application/json': { schema: ApiErrorBody } } },
      404: { description: 'Not stored', content: { 'application/json': { schema: ApiErrorBody } } },
    },
  }),
  async (c) => {
    const cid = requireCid(c.req.valid('param').cid);
    const headers = (size: number) => ({
      'content-type': 'application/octet-stream',
      'content-length': String(size),
      'cache-control': 'public, max-age=31536000, immutable',
      etag: `"${cid}"`,
    });
    if (c.req.method === 'HEAD') {
      const head = await c.env.BLOBS.head(cid);
      if (!head) throw new MeshError('not_found', `no blob ${cid}`);
      return new Response(null, { headers: headers(head.size) }) as never;
    }
    const object = await c.env.BLOBS.get(cid);
    if (!object) throw new MeshError('not_found', `no blob ${cid}`);
    return new Response(object.body, { headers: headers(object.size) }) as never;
  },
);
