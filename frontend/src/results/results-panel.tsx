import { useState } from 'react';
import { type FetchPage, fetchAllResults } from '../api/results.ts';
import { describeError, Empty, ErrorBox, Loading } from '../ui/status.tsx';
import { Tabs } from '../ui/tabs.tsx';
import { downloadText, toCsv, toJsonLines } from './export.ts';
import { JsonViewer } from './json-viewer.tsx';
import { ResultsGraph } from './results-graph.tsx';
import { ResultsTable } from './results-table.tsx';
import { useResultsPage } from './use-results-page.ts';

type View = 'table' | 'json' | 'graph';
const VIEWS: (readonly [View, string])[] = [
  ['table', 'Table'],
  ['json', 'JSON'],
  ['graph', 'Graph'],
];
const PAGE_SIZE = 50;

/** Results in input order as a table, a JSON tree or a chart, and downloads of all of them. */
export function ResultsPanel({
  jobId,
  fetchPage,
  refreshKey,
  onOpenTask,
}: {
  jobId: string;
  fetchPage: FetchPage;
  refreshKey: unknown;
  onOpenTask(index: number): void;
}) {
  const [view, setView] = useState<View>('table');
  const paging = useResultsPage(fetchPage, PAGE_SIZE, refreshKey);
  const [download, setDownload] = useState<string | undefined>();
  const [downloadError, setDownloadError] = useState<string | undefined>();

  const save = async (format: 'jsonl' | 'csv') => {
    setDownloadError(undefined);
    setDownload('Preparing the download…');
    try {
      const { results } = await fetchAllResults(fetchPage, {
        onProgress: (n, total) =>
          setDownload(`Loading results: ${n.toLocaleString()} of ${total.toLocaleString()}…`),
      });
      if (format === 'jsonl') downloadText(toJsonLines(results), `${jobId}.jsonl`, 'application/x-ndjson');
      else downloadText(toCsv(results), `${jobId}.csv`, 'text/csv');
    } catch (e) {
      setDownloadError(describeError(e));
    } finally {
      setDownload(undefined);
    }
  };

  const page = paging.page;
  return (
    <section className="panel results" aria-labelledby="results-heading">
      <div className="results-head">
        <h2 id="results-heading">Results</h2>
        <Tabs
          label="Results view"
          tabs={VIEWS}
          value={view}
          onChange={setView}
          idPrefix="results-tab"
          controls="results-view"
        />
        <div className="downloads">
          <button type="button" onClick={() => save('jsonl')} disabled={Boolean(download)}>
            Download JSON lines
          </button>
          <button type="button" onClick={() => save('csv')} disabled={Boolean(download)}>
            Download CSV
          </button>
        </div>
      </div>
      <p className="muted" role="status">
        {download}
      </p>
      {downloadError ? (
        <p className="field-error" role="alert">
          {downloadError}
        </p>
      ) : null}
      <div id="results-view" role="tabpanel" aria-labelledby={`results-tab-${view}`}>
        {view === 'graph' ? (
          <ResultsGraph jobId={jobId} fetchPage={fetchPage} refreshKey={refreshKey} />
        ) : paging.error && !page ? (
          <ErrorBox title="The results could not be loaded" error={paging.error} />
        ) : !page ? (
          <Loading>Loading results…</Loading>
        ) : page.results.length === 0 ? (
          <Empty>No results yet.</Empty>
        ) : (
          <>
            {view === 'table' ? (
              <ResultsTable results={page.results} onOpen={onOpenTask} />
            ) : (
              <JsonViewer
                label={`Results ${page.results[0]!.index} to ${page.results.at(-1)!.index}`}
                value={page.results.map((r) =>
                  r.error
                    ? { index: r.index, state: r.state, error: r.error }
                    : { index: r.index, state: r.state, output: r.output },
                )}
              />
            )}
            <nav className="pager" aria-label="Result pages">
              <button
                type="button"
                onClick={() => paging.goTo(paging.pageIndex - 1)}
                disabled={paging.pageIndex === 0}
              >
                Previous
              </button>
              <span>
                Page {paging.pageIndex + 1} of {paging.pageCount ?? 1} · results {page.results[0]!.index}–
                {page.results.at(-1)!.index} of {page.total.toLocaleString()}
              </span>
              <button
                type="button"
                onClick={() => paging.goTo(paging.pageIndex + 1)}
                disabled={paging.pageIndex + 1 >= (paging.pageCount ?? 1)}
              >
                Next
              </button>
              {paging.loading ? <span className="spinner" role="status" aria-label="Loading" /> : null}
            </nav>
          </>
        )}
      </div>
    </section>
  );
}
