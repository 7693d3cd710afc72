import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { ApiErrorBody, Cid, cidOf, limits, MeshError } from '../../protocol/index.ts';
import type { AppEnv } from '../app-env.ts';
import { requireAuth } from '../auth.ts';
import { validationHook } from '../validation.ts';
import { requireCid } from './jobs.ts';

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

blobs.openapi(
  createRoute({
    method: 'get',
    path: '/blobs/{cid}',
    summary: 'Fetch a blob by CID (public: content addressing makes it self-verifying)',
    request: {
      params: z.object({
        cid: z
          .string()
          .max(200)
          .meta({ param: { name: 'cid', in: 'path' } }),
      }),
    },
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
    const object = await c.env.BLOBS.get(cid);
    if (!object) throw new MeshError('not_found', `no blob ${cid}`);
    return new Response(object.body, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(object.size),
        'cache-control': 'public, max-age=31536000, immutable',
        etag: `"${cid}"`,
      },
    }) as never;
  },
);
