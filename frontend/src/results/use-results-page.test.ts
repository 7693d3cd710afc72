import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, test } from 'vitest';
import { createClient } from '../../../client/index.ts';
import type { ResultsPage } from '../../../protocol/index.ts';
import { type FetchPage, fetchAllResults, resultsFetcher } from '../api/results.ts';
import { useResultsPage } from './use-results-page.ts';

// No vitest globals here, so Testing Library cannot unmount by itself between tests.
afterEach(cleanup);

/** A job of `total` results whose output is the index squared, served in pages like the API. */
function fakeApi(total: number) {
  const calls: [number, number][] = [];
  const fetchPage: FetchPage = async (cursor, limit) => {
    calls.push([cursor, limit]);
    const end = Math.min(total, cursor + limit);
    const results = [];
    for (let i = cursor; i < end; i++)
      results.push({ index: i, state: 'succeeded' as const, output: i * i, attempts: 1 });
    const page: ResultsPage = { jobId: 'j', state: 'succeeded', total, results };
    if (end < total) page.nextCursor = end;
    return page;
  };
  return { fetchPage, calls };
}

describe('useResultsPage', () => {
  test('default: the first page, the page count, and moving between pages', async () => {
    const api = fakeApi(25);
    const { result } = renderHook(() => useResultsPage(api.fetchPage, 10, 0));
    await waitFor(() => expect(result.current.page?.results).toHaveLength(10));
    expect(result.current.pageCount).toBe(3);
    act(() => result.current.goTo(2));
    await waitFor(() =>
      expect(result.current.page?.results.map((r) => r.index)).toEqual([20, 21, 22, 23, 24]),
    );
    expect(api.calls).toEqual([
      [0, 10],
      [20, 10],
    ]);
  });

  test('behavior: page numbers are clamped to the pages that exist', async () => {
    const { result } = renderHook(() => useResultsPage(fakeApi(25).fetchPage, 10, 0));
    await waitFor(() => expect(result.current.pageCount).toBe(3));
    act(() => result.current.goTo(99));
    expect(result.current.pageIndex).toBe(2);
    act(() => result.current.goTo(-1));
    expect(result.current.pageIndex).toBe(0);
  });

  test('behavior: a new refresh key refetches the same page', async () => {
    const api = fakeApi(5);
    const { rerender } = renderHook(({ key }) => useResultsPage(api.fetchPage, 10, key), {
      initialProps: { key: 1 },
    });
    await waitFor(() => expect(api.calls).toHaveLength(1));
    rerender({ key: 2 });
    await waitFor(() =>
      expect(api.calls).toEqual([
        [0, 10],
        [0, 10],
      ]),
    );
  });

  test('behavior: a slow answer for a page the user left is dropped', async () => {
    let release: (() => void) | undefined;
    const fast = fakeApi(30);
    const fetchPage: FetchPage = async (cursor, limit, signal) => {
      if (cursor === 0) {
        await new Promise<void>((r) => {
          release = r;
        });
        expect(signal?.aborted).toBe(true);
      }
      return fast.fetchPage(cursor, limit);
    };
    const { result } = renderHook(() => useResultsPage(fetchPage, 10, 0));
    act(() => result.current.goTo(1)); // pageCount unknown yet: not clamped
    await waitFor(() => expect(result.current.page?.results[0]?.index).toBe(10));
    await act(async () => release?.());
    expect(result.current.page?.results[0]?.index).toBe(10);
  });

  test('error: a failed fetch is reported and loading ends', async () => {
    // Stable, as the app memoizes it: a new fetcher on every render would refetch on every render.
    const failing: FetchPage = async () => Promise.reject(new Error('down'));
    const { result } = renderHook(() => useResultsPage(failing, 10, 0));
    await waitFor(() => expect(result.current.error).toBeInstanceOf(Error));
    expect(result.current.loading).toBe(false);
  });
});

describe('fetchAllResults', () => {
  test('default: follows nextCursor to the end', async () => {
    const api = fakeApi(2500);
    const { results, total } = await fetchAllResults(api.fetchPage);
    expect(total).toBe(2500);
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    expect(api.calls).toEqual([
      [0, 1000],
      [1000, 1000],
      [2000, 1000],
    ]);
  });

  test('behavior: stops at max', async () => {
    const api = fakeApi(2500);
    expect((await fetchAllResults(api.fetchPage, { max: 1200 })).results).toHaveLength(1200);
    expect(api.calls).toEqual([
      [0, 1000],
      [1000, 200],
    ]);
  });
});

describe('resultsFetcher', () => {
  test('default: pages come from the client (JobHandle.resultsPage), with the signal passed on', async () => {
    const seen: { url: string; signal: AbortSignal | undefined }[] = [];
    const client = createClient({
      url: 'http://mesh.test',
      apiKey: 'tok',
      fetch: async (url, init) => {
        seen.push({ url, signal: init?.signal ?? undefined });
        return new Response(JSON.stringify({ jobId: 'j', state: 'running', total: 0, results: [] }));
      },
    });
    const abort = new AbortController();
    const page = await resultsFetcher(client.job('j'))(20, 10, abort.signal);
    expect(page).toEqual({ jobId: 'j', state: 'running', total: 0, results: [] });
    expect(seen).toEqual([
      { url: 'http://mesh.test/api/v1/jobs/j/results?cursor=20&limit=10&order=index', signal: abort.signal },
    ]);
  });
});
