import type { Env } from './env.ts';

/** R2 heads in flight at once when checking many keys. */
const HEAD_CONCURRENCY = 16;

/**
 * The first of `cids` (in order) that is not stored in the blob bucket, or undefined when all are.
 * Each distinct CID costs one R2 `head` (a subrequest), at most 16 at a time.
 */
export async function firstMissing(env: Env, cids: readonly string[]): Promise<string | undefined> {
  const unique = [...new Set(cids)];
  const stored = new Array<boolean>(unique.length);
  let next = 0;
  const worker = async () => {
    while (next < unique.length) {
      const i = next++;
      stored[i] = (await env.BLOBS.head(unique[i]!)) !== null;
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, unique.length) }, worker));
  const i = stored.indexOf(false);
  return i < 0 ? undefined : unique[i];
}
