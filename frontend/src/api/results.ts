import type { JobHandle } from '../../../client/index.ts';
import { limits, type ResultsPage, type TaskResult } from '../../../protocol/index.ts';

/** Fetches one page of a job's results in input order. */
export type FetchPage = (cursor: number, limit: number, signal?: AbortSignal) => Promise<ResultsPage>;

/** The job's results pages in input order, read by the client (`JobHandle.resultsPage`). */
export function resultsFetcher(job: JobHandle): FetchPage {
  return (cursor, limit, signal) => job.resultsPage({ cursor, limit, ...(signal ? { signal } : {}) });
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
