import type { Env } from './env.ts';

/** R2 heads in flight at once when checking many keys. */
const HEAD_CONCURRENCY = 16;

/**
 * The R2 head of each distinct key of `cids` (null when not stored). Each distinct CID costs one
 * R2 `head` (a subrequest), at most 16 at a time.
 */
export async function headAll(env: Env, cids: readonly string[]): Promise<Map<string, R2Object | null>> {
  const unique = [...new Set(cids)];
  const heads = new Map<string, R2Object | null>();
  let next = 0;
  const worker = async () => {
    while (next < unique.length) {
      const key = unique[next++]!;
      heads.set(key, await env.BLOBS.head(key));
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, unique.length) }, worker));
  return heads;
}

/** The first of `cids` (in order) that is not stored in the blob bucket, or undefined when all are. */
export async function firstMissing(env: Env, cids: readonly string[]): Promise<string | undefined> {
  return missingOf(cids, await headAll(env, cids));
}

/** The first of `cids` whose head is null. */
export function missingOf(cids: readonly string[], heads: Map<string, R2Object | null>): string | undefined {
  return cids.find((cid) => heads.get(cid) === null);
}
