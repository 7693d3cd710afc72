import { MeshApiError } from '../../../client/index.ts';
import { ApiErrorBody, limits, ResultsPage, type TaskResult } from '../../../protocol/index.ts';

/** Fetches one page of a job's results in input order. */
export type FetchPage = (cursor: number, limit: number, signal?: AbortSignal) => Promise<ResultsPage>;

/**
 * `GET /api/v1/jobs/:id/results?cursor&limit`, decoded with `ResultsPage`. (The client's
 * JobHandle reads pages privately, for its iterators; the app needs random access for paging.)
 */
export function resultsFetcher(origin: string, token: string, jobId: string): FetchPage {
  return async (cursor, limit, signal) => {
    const url = `${origin}/api/v1/jobs/${encodeURIComponent(jobId)}/results?cursor=${cursor}&limit=${limit}`;
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { authorization: `Bearer ${token}` },
        ...(signal ? { signal } : {}),
      });
    } catch (cause) {
      if (signal?.aborted) throw cause;
      throw new MeshApiError('unreachable', 0, `cannot reach ${origin}: ${(cause as Error).message}`, {
        cause,
      });
    }
    const body: unknown = await res.json().catch(() => undefined);
    if (!res.ok) {
      const err = ApiErrorBody.safeParse(body);
      if (err.success) throw new MeshApiError(err.data.error.code, res.status, err.data.error.message);
      throw new MeshApiError(
        res.status >= 500 ? 'internal' : 'bad_request',
        res.status,
        `HTTP ${res.status} from the API`,
      );
    }
    return ResultsPage.parse(body);
  };
}

/** Every result from the first, page by page (for downloads and charts), up to `max`. */
export async function fetchAllResults(
  fetchPage: FetchPage,
  options: { max?: number; signal?: AbortSignal; onProgress?: (loaded: number, total: number) => void } = {},
): Promise<{ results: TaskResult[]; total: number }> {
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const results: TaskResult[] = [];
  let cursor: number | undefined = 0;
  let total = 0;
  while (cursor !== undefined && results.length < max) {
    const page = await fetchPage(cursor, Math.min(limits.maxPageSize, max - results.length), options.signal);
    total = page.total;
    results.push(...page.results);
    options.onProgress?.(results.length, total);
    if (page.results.length === 0) break;
    cursor = page.nextCursor;
  }
  return { results, total };
}
