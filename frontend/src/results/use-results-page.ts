import { useEffect, useState } from 'react';
import type { ResultsPage } from '../../../protocol/index.ts';
import type { FetchPage } from '../api/results.ts';

export interface ResultsPaging {
  page: ResultsPage | undefined;
  /** Zero-based page number. */
  pageIndex: number;
  /** Pages in all, once the first page said how many results there are. */
  pageCount: number | undefined;
  loading: boolean;
  error: unknown;
  goTo(pageIndex: number): void;
}

/**
 * One page of a job's results in input order. Pages are addressed by number (the API's cursor
 * for index order is the first index, so page `p` starts at `p × pageSize`). `refreshKey`
 * refetches the page in place (e.g. when more tasks finished); a response that arrives after
 * the user moved on is dropped.
 */
export function useResultsPage(
  fetchPage: FetchPage | undefined,
  pageSize: number,
  refreshKey: unknown,
): ResultsPaging {
  const [pageIndex, setPageIndex] = useState(0);
  const [page, setPage] = useState<ResultsPage | undefined>();
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>();

  // biome-ignore lint/correctness/useExhaustiveDependencies: refreshKey only triggers a refetch
  useEffect(() => {
    if (!fetchPage) return;
    const abort = new AbortController();
    setLoading(true);
    fetchPage(pageIndex * pageSize, pageSize, abort.signal).then(
      (p) => {
        if (abort.signal.aborted) return;
        setPage(p);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (abort.signal.aborted) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => abort.abort();
  }, [fetchPage, pageIndex, pageSize, refreshKey]);

  const pageCount = page ? Math.max(1, Math.ceil(page.total / pageSize)) : undefined;
  const goTo = (p: number) =>
    setPageIndex(Math.max(0, pageCount === undefined ? p : Math.min(p, pageCount - 1)));
  return { page, pageIndex, pageCount, loading, error, goTo };
}
