import { useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { type FetchPage, fetchAllResults } from '../api/results.ts';
import { Empty, ErrorBox, Loading } from '../ui/status.tsx';
import { Chart } from './chart.tsx';
import { type ChartKind, chooseChart } from './chart-kind.ts';

/** The chart draws at most this many results (the first ones, in input order). */
export const GRAPH_MAX = 10_000;

const KIND_LABEL: Record<ChartKind, string> = {
  line: 'Line',
  bar: 'Bars',
  histogram: 'Histogram',
  scatter: 'Scatter',
};

/** Loads the outputs and draws the chart that fits their shape, with the alternatives one click away. */
export function ResultsGraph({
  jobId,
  fetchPage,
  refreshKey,
}: {
  jobId: string;
  fetchPage: FetchPage;
  refreshKey: unknown;
}) {
  const [kind, setKind] = useState<ChartKind | undefined>();
  const [field, setField] = useState<string | undefined>();
  const all = useQuery({
    queryKey: ['all-results', jobId, refreshKey],
    queryFn: ({ signal }) => fetchAllResults(fetchPage, { max: GRAPH_MAX, signal }),
    placeholderData: (previous) => previous,
  });
  const choice = useMemo(() => {
    if (!all.data) return undefined;
    const outputs = all.data.results
      .filter((r) => r.state === 'succeeded')
      .map((r) => [r.index, r.output] as [number, typeof r.output]);
    return chooseChart(outputs, { ...(kind ? { kind } : {}), ...(field ? { field } : {}) });
  }, [all.data, kind, field]);

  if (all.isPending) return <Loading>Loading outputs for the chart…</Loading>;
  if (all.isError) return <ErrorBox title="The outputs could not be loaded" error={all.error} />;
  if (!choice) return null;
  if (choice.kind === 'none') return <Empty>{choice.reason}</Empty>;
  return (
    <div className="graph">
      <div className="toolbar">
        {choice.kinds.length > 1 ? (
          <div className="segmented" role="radiogroup" aria-label="Chart type">
            {choice.kinds.map((k) => (
              <label key={k} className={choice.kind === k ? 'active' : ''}>
                <input
                  type="radio"
                  name="chart-kind"
                  checked={choice.kind === k}
                  onChange={() => setKind(k)}
                />
                {KIND_LABEL[k]}
              </label>
            ))}
          </div>
        ) : null}
        {choice.fields.length > 1 ? (
          <label>
            Field
            <select value={choice.field ?? ''} onChange={(e) => setField(e.target.value)}>
              {choice.fields.length === 2 && !choice.field ? <option value="">both (scatter)</option> : null}
              {choice.fields.map((f) => (
                <option key={f} value={f}>
                  {f}
                </option>
              ))}
            </select>
          </label>
        ) : null}
      </div>
      {all.data && all.data.total > GRAPH_MAX ? (
        <p className="muted">
          Showing the first {GRAPH_MAX.toLocaleString()} of {all.data.total.toLocaleString()} results.
        </p>
      ) : null}
      <Chart kind={choice.kind} points={choice.points} axes={choice.axes} />
    </div>
  );
}
