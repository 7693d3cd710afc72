import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { MeshError } from '../protocol/index.ts';

/**
 * The one place where failures become responses: every error is JSON
 * `{ error: { code, message, details? } }` with the status of its code.
 */
export function toErrorResponse(err: unknown, c: Context): Response {
  if (err instanceof MeshError) return c.json(err.toBody(), err.status as 400);
  if (err instanceof HTTPException) {
    // Thrown by Hono itself: malformed JSON bodies, body limits, ...
    const code =
      err.status === 413
        ? 'payload_too_large'
        : err.message.includes('JSON')
          ? 'invalid_json'
          : 'bad_request';
    const e = new MeshError(code, err.message || 'bad request');
    return c.json(e.toBody(), err.status);
  }
  console.error('unhandled error', err);
  return c.json(new MeshError('internal', 'internal error; it has been logged').toBody(), 500);
}
