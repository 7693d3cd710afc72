import { z } from 'zod';

export const Address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'not an Ethereum address')
  .transform((s) => s.toLowerCase() as `0x${string}`);

export const NonceResponse = z
  .object({ nonce: z.string(), expiresAt: z.number().int() })
  .meta({ id: 'Nonce' });

export const VerifyRequest = z
  .strictObject({
    message: z.string().min(1).max(4096),
    signature: z.string().regex(/^0x[0-9a-fA-F]+$/, 'signature must be 0x-prefixed hex'),
  })
  .meta({ id: 'SiweVerify' });
export type VerifyRequest = z.infer<typeof VerifyRequest>;

export const SessionResponse = z
  .object({ token: z.string(), address: z.string(), expiresAt: z.number().int() })
  .meta({ id: 'Session' });
export type SessionResponse = z.infer<typeof SessionResponse>;

export const CreateKeyRequest = z.strictObject({ label: z.string().max(100).optional() });

export const ApiKeyCreated = z
  .object({ id: z.string(), key: z.string(), label: z.string().optional(), createdAt: z.number().int() })
  .meta({ id: 'ApiKeyCreated' });
export type ApiKeyCreated = z.infer<typeof ApiKeyCreated>;

export const ApiKeyInfo = z
  .object({ id: z.string(), label: z.string().optional(), createdAt: z.number().int() })
  .meta({ id: 'ApiKeyInfo' });
export type ApiKeyInfo = z.infer<typeof ApiKeyInfo>;

/** API keys look like `mmk_<address without 0x>_<secret>`, so the owner's shard is found without a lookup. */
export const API_KEY_PREFIX = 'mmk_';
export const SESSION_TTL_SECONDS = 24 * 60 * 60;
export const NONCE_TTL_MS = 10 * 60 * 1000;
