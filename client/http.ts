import type { z } from 'zod';
import { ApiErrorBody } from '../protocol/index.ts';
import { MeshApiError } from './errors.ts';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Decode a response with a schema, or throw the API's error as a MeshApiError. */
export async function decode<T>(res: Response, schema: z.ZodType<T>): Promise<T> {
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const err = ApiErrorBody.safeParse(body);
    if (err.success) {
      throw new MeshApiError(err.data.error.code, res.status, err.data.error.message, {
        details: err.data.error.details,
      });
    }
    throw new MeshApiError(
      res.status >= 500 ? 'internal' : 'bad_request',
      res.status,
      `HTTP ${res.status} from the API`,
    );
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new MeshApiError(
      'internal',
      res.status,
      `unexpected response from the API: ${parsed.error.message.slice(0, 300)}`,
    );
  }
  return parsed.data;
}

/**
 * `fetch` that turns network failures into `MeshApiError('unreachable')`. A request stopped by
 * its `signal` rejects with the signal's reason, as `fetch` does.
 */
export async function send(f: FetchLike, url: string, init?: RequestInit): Promise<Response> {
  try {
    return await f(url, init);
  } catch (cause) {
    if (init?.signal?.aborted) throw init.signal.reason;
    throw new MeshApiError(
      'unreachable',
      0,
      `cannot reach ${new URL(url).origin}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

const transient = (err: unknown) =>
  err instanceof MeshApiError &&
  (err.code === 'unreachable' || err.status >= 500 || err.status === 0 || err.status === 200);

/**
 * Run an idempotent read, retrying while the API is unreachable or answering 5xx / garbage (a
 * Worker restarting, a network blip) with exponential backoff, for up to `budgetMs`. An aborted
 * `signal` stops it at once (also between attempts), rejecting with the signal's reason.
 */
export async function retrying<T>(
  read: () => Promise<T>,
  budgetMs = 60_000,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await read();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (!transient(err) || Date.now() > deadline) throw err;
      await pause(Math.min(200 * 2 ** attempt, 3000), signal);
    }
  }
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it is aborted. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
    };
    const stop = () => {
      done();
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    signal?.addEventListener('abort', stop, { once: true });
  });
}
