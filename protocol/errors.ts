import { z } from 'zod';

/**
 * Stable error codes for every failure the API, the hub or a node can report.
 * Clients match on `code`, never on `message`.
 */
export const ErrorCode = z.enum([
  'bad_request',
  'validation_failed',
  'invalid_json',
  'invalid_cid',
  'payload_too_large',
  'unsupported_media_type',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'runtime_unavailable',
  'blob_not_found',
  'hash_mismatch',
  'missing_block',
  'siwe_invalid',
  'nonce_invalid',
  'bad_message',
  'rate_limited',
  'misconfigured',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** HTTP status for each code: the one place where codes become statuses. */
export const errorStatus: Record<ErrorCode, number> = {
  bad_request: 400,
  validation_failed: 400,
  invalid_json: 400,
  invalid_cid: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  runtime_unavailable: 422,
  blob_not_found: 422,
  /** A block whose bytes do not hash to the CID it was sent under. */
  hash_mismatch: 400,
  /** A dag-pb block that links to a block the origin does not have yet (upload leaves first). */
  missing_block: 409,
  siwe_invalid: 401,
  nonce_invalid: 401,
  bad_message: 400,
  /** Too many requests or frames in too short a time: slow down. */
  rate_limited: 429,
  misconfigured: 500,
  internal: 500,
};

/** Body of every non-2xx JSON response: `{ error: { code, message, details? } }`. */
export const ApiErrorBody = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ApiErrorBody = z.infer<typeof ApiErrorBody>;

/**
 * A failure with a stable code, thrown anywhere on the server side and turned into
 * a response (or a WebSocket error frame) in one place.
 *
 * @example throw new MeshError('not_found', `job ${id} does not exist`)
 */
export class MeshError extends Error {
  override readonly name = 'MeshError';
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return errorStatus[this.code];
  }
  toBody(): ApiErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/** Turn zod issues into a short human message plus machine-readable details. */
export function describeIssues(error: z.ZodError): { message: string; details: unknown } {
  const first = error.issues.slice(0, 5).map((i) => {
    const path = i.path.length ? i.path.join('.') : '(root)';
    return `${path}: ${i.message}`;
  });
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : '';
  return {
    message: `${first.join('; ')}${more}`,
    details: error.issues.slice(0, 50).map((i) => ({ path: i.path, code: i.code, message: i.message })),
  };
}
