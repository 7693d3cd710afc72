import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { verifyMessage } from 'viem';
import { generateSiweNonce, parseSiweMessage, validateSiweMessage } from 'viem/siwe';
import { account, nonceStore } from '../../durable-objects/stubs.ts';
import {
  ApiErrorBody,
  ApiKeyCreated,
  ApiKeyInfo,
  CreateKeyRequest,
  MeshError,
  NONCE_TTL_MS,
  NonceResponse,
  SessionResponse,
  VerifyRequest,
} from '../../protocol/index.ts';
import type { AppEnv } from '../app-env.ts';
import { issueSession, requireAuth } from '../auth.ts';
import { validationHook } from '../validation.ts';

export const auth = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const err = (description: string) => ({
  description,
  content: { 'application/json': { schema: ApiErrorBody } },
});

auth.openapi(
  createRoute({
    method: 'get',
    path: '/auth/nonce',
    summary: 'A single-use nonce for a Sign-In With Ethereum (EIP-4361) message',
    responses: { 200: { description: 'Nonce', content: { 'application/json': { schema: NonceResponse } } } },
  }),
  async (c) => {
    const nonce = generateSiweNonce();
    const expiresAt = Date.now() + NONCE_TTL_MS;
    await nonceStore(c.env, nonce).issue(nonce, expiresAt);
    return c.json({ nonce, expiresAt }, 200);
  },
);

auth.openapi(
  createRoute({
    method: 'post',
    path: '/auth/verify',
    summary: 'Exchange a signed SIWE message for a session token',
    description:
      'The message must name this host as its domain, carry a nonce from /auth/nonce (used once), and be within its issued/expiry times.',
    request: { body: { required: true, content: { 'application/json': { schema: VerifyRequest } } } },
    responses: {
      200: { description: 'Signed in', content: { 'application/json': { schema: SessionResponse } } },
      400: err('Malformed body'),
      401: err('Invalid message, signature or nonce'),
    },
  }),
  async (c) => {
    const { message, signature } = c.req.valid('json');
    const fields = parseSiweMessage(message);
    if (
      !fields.address ||
      !fields.nonce ||
      !fields.domain ||
      !fields.uri ||
      !fields.version ||
      !fields.chainId
    ) {
      throw new MeshError(
        'siwe_invalid',
        'not an EIP-4361 message: address, domain, uri, version, chain id and nonce are required',
      );
    }
    const host = new URL(c.req.url).host;
    if (fields.domain !== host) {
      throw new MeshError('siwe_invalid', `the message is for ${fields.domain}, not ${host}`);
    }
    const now = new Date();
    if (!validateSiweMessage({ message: fields, domain: host, time: now })) {
      throw new MeshError('siwe_invalid', 'the message has expired or is not valid yet');
    }
    if (fields.issuedAt && now.getTime() - fields.issuedAt.getTime() > NONCE_TTL_MS) {
      throw new MeshError('siwe_invalid', 'the message was issued too long ago; sign a new one');
    }
    const valid = await verifyMessage({
      address: fields.address,
      message,
      signature: signature as `0x${string}`,
    }).catch(() => false);
    if (!valid)
      throw new MeshError('siwe_invalid', 'the signature does not match the address in the message');
    // Consumed only after the signature checks out, so nobody can burn another wallet's nonce.
    if (!(await nonceStore(c.env, fields.nonce).consume(fields.nonce))) {
      throw new MeshError(
        'nonce_invalid',
        'the nonce is unknown, expired or already used; get a new one from /auth/nonce',
      );
    }
    const address = fields.address.toLowerCase();
    const session = await issueSession(c.env, address);
    return c.json({ token: session.token, address, expiresAt: session.expiresAt }, 200);
  },
);

auth.use('/auth/keys', requireAuth);
auth.use('/auth/keys/*', requireAuth);

auth.openapi(
  createRoute({
    method: 'post',
    path: '/auth/keys',
    summary: 'Create an API key for scripts; the key is shown once',
    security: [{ bearer: [] }],
    request: { body: { required: false, content: { 'application/json': { schema: CreateKeyRequest } } } },
    responses: {
      201: { description: 'Created', content: { 'application/json': { schema: ApiKeyCreated } } },
      401: err('Not signed in'),
    },
  }),
  async (c) => {
    const body = c.req.header('content-type')?.includes('json') ? c.req.valid('json') : {};
    const address = c.get('address');
    const key = await account(c.env, address).createKey(body.label);
    return c.json(
      {
        id: key.id,
        key: `mmk_${address.slice(2)}_${key.secret}`,
        ...(body.label === undefined ? {} : { label: body.label }),
        createdAt: key.createdAt,
      },
      201,
    );
  },
);

auth.openapi(
  createRoute({
    method: 'get',
    path: '/auth/keys',
    summary: "The signed-in wallet's API keys (without secrets)",
    security: [{ bearer: [] }],
    responses: {
      200: {
        description: 'Keys',
        content: { 'application/json': { schema: z.object({ keys: z.array(ApiKeyInfo) }) } },
      },
      401: err('Not signed in'),
    },
  }),
  async (c) => c.json({ keys: await account(c.env, c.get('address')).listKeys() }, 200),
);

auth.openapi(
  createRoute({
    method: 'delete',
    path: '/auth/keys/{id}',
    summary: 'Revoke an API key',
    security: [{ bearer: [] }],
    request: { params: z.object({ id: z.string().max(64) }) },
    responses: { 204: { description: 'Revoked' }, 401: err('Not signed in'), 404: err('No such key') },
  }),
  async (c) => {
    if (!(await account(c.env, c.get('address')).revokeKey(c.req.valid('param').id))) {
      throw new MeshError('not_found', 'no such key');
    }
    return c.body(null, 204);
  },
);
