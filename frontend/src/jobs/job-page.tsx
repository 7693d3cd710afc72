import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { CircuitManifest } from '../../../protocol/circuit.ts';
import type { AppConfig } from '../api/app-config.ts';
import { resultsFetcher } from '../api/results.ts';
import { useSession } from '../api/session.tsx';
import { RUNTIME_LABELS } from '../editor/templates.ts';
import { ResultsPanel } from '../results/results-panel.tsx';
import { formatDuration, formatTime } from '../ui/format.ts';
import { describeError, Empty, ErrorBox, Loading } from '../ui/status.tsx';
import { AnchorPanel } from './anchor-panel.tsx';
import { ProgressPanel } from './progress-panel.tsx';
import { TaskDetail } from './task-detail.tsx';
import { GRID_PAGE, TaskGrid } from './task-grid.tsx';
import { useJobWatch } from './use-job-watch.ts';
import { progressOf } from './watch-state.ts';

/** One job: live progress over its WebSocket, every task, why pending ones wait, results, cancel. */
export function JobPage({ config }: { config: AppConfig }) {
  const { id = '' } = useParams();
  const { client, session } = useSession();
  const queries = useQueryClient();
  const { watch, connection, error: watchError } = useJobWatch(client, id);
  const [selected, setSelected] = useState<number | undefined>();
  const [gridPage, setGridPage] = useState(0);
  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<string | undefined>();

  const running = watch.state === undefined || watch.state === 'running';
  // GET /jobs/:id says why pending tasks wait; poll it while the job runs.
  const status = useQuery({
    queryKey: ['job', id],
    queryFn: () => client!.job(id).status(),
    enabled: Boolean(client),
    refetchInterval: running ? 3000 : false,
  });
  const fetchPage = useMemo(() => (client ? resultsFetcher(client.job(id)) : undefined), [client, id]);
  // A proven job's circuit manifest (its code), for the verification key the task panel offers.
  const known = watch.job ?? status.data;
  const manifestCid = known?.runtime === 'circom' ? known.codeCid : undefined;
  const manifest = useQuery({
    queryKey: ['manifest', manifestCid],
    queryFn: async () => {
      const res = await fetch(`${client!.url}/api/v1/blobs/${manifestCid}`);
      if (!res.ok) throw new Error(`the circuit manifest could not be fetched (HTTP ${res.status})`);
      return CircuitManifest.parse(await res.json());
    },
    enabled: Boolean(client && manifestCid),
    staleTime: Number.POSITIVE_INFINITY,
  });

  const progress = progressOf(watch);
  const counts = watch.counts;
  // Refresh result views about twenty times over a job, and once at the end, not on every frame.
  const refreshKey = useMemo(() => {
    if (!progress) return 'none';
    const step = Math.max(1, Math.ceil(progress.total / 20));
    return `${watch.state}:${Math.floor(progress.finished / step)}`;
  }, [progress, watch.state]);

  // When a job fails, open its first failed task so the error is on screen without a click.
  const firstFailed = useMemo(() => watch.tasks.findIndex((t) => t.state === 'failed'), [watch.tasks]);
  useEffect(() => {
    if (selected === undefined && firstFailed >= 0) {
      setSelected(firstFailed);
      setGridPage(Math.floor(firstFailed / GRID_PAGE));
    }
  }, [firstFailed, selected]);

  if (!session || !client) return <Empty>Connect your wallet and sign in to see this job.</Empty>;
  if (watchError) return <ErrorBox title="This job cannot be watched" error={new Error(watchError)} />;
  if (status.isError && !watch.job)
    return <ErrorBox title="This job could not be loaded" error={status.error} />;
  const job = watch.job ?? status.data;
  if (!job) return <Loading>Loading the job…</Loading>;

  const cancel = async () => {
    setCancelling(true);
    setCancelError(undefined);
    try {
      await client.job(id).cancel();
      await queries.invalidateQueries({ queryKey: ['job', id] });
    } catch (e) {
      setCancelError(describeError(e));
    } finally {
      setCancelling(false);
    }
  };

  const waiting = status.data?.waiting;
  const state = watch.state ?? job.state;
  const gridPages = Math.ceil(watch.tasks.length / GRID_PAGE);
  return (
    <div className="job-page">
      <div className="job-head">
        <div>
          <p className="crumbs">
            <Link to="/jobs">Jobs</Link> /
          </p>
          <h1>
            {job.label || `Job ${job.id.slice(0, 8)}`}{' '}
            <span className={`badge badge-${state}`} data-testid="job-state">
              {state}
            </span>
          </h1>
          <p className="muted">
            {job.runtime === 'circom' ? 'circom' : RUNTIME_LABELS[job.runtime]} · {job.total.toLocaleString()}{' '}
            tasks · submitted {formatTime(job.createdAt)} · timeout {formatDuration(job.timeoutMs)} ·{' '}
            {job.memoryMb} MB · up to {job.maxAttempts} attempts
            {job.finishedAt ? ` · took ${formatDuration(job.finishedAt - job.createdAt)}` : ''}
          </p>
        </div>
        {state === 'running' ? (
          <button type="button" className="danger" onClick={cancel} disabled={cancelling}>
            {cancelling ? 'Cancelling…' : 'Cancel job'}
          </button>
        ) : null}
      </div>
      {cancelError ? (
        <p className="field-error" role="alert">
          {cancelError}
        </p>
      ) : null}
      {progress && counts ? (
        <ProgressPanel progress={progress} counts={counts} connection={connection} />
      ) : null}
      {waiting && counts && counts.pending > 0 ? (
        <p className="waiting" role="status">
          <strong>Why tasks are waiting:</strong> {waiting}
        </p>
      ) : null}
      <section className="panel tasks" aria-labelledby="tasks-heading">
        <h2 id="tasks-heading">Tasks</h2>
        {watch.tasks.length === 0 ? (
          <Loading>Connecting to the job…</Loading>
        ) : (
          <div className="tasks-layout">
            <div>
              <TaskGrid
                tasks={watch.tasks}
                offset={gridPage * GRID_PAGE}
                selected={selected}
                onSelect={setSelected}
              />
              {gridPages > 1 ? (
                <nav className="pager" aria-label="Task pages">
                  <button type="button" onClick={() => setGridPage(gridPage - 1)} disabled={gridPage === 0}>
                    Previous
                  </button>
                  <span>
                    Tasks {gridPage * GRID_PAGE}–
                    {Math.min(watch.tasks.length, (gridPage + 1) * GRID_PAGE) - 1}
                  </span>
                  <button
                    type="button"
                    onClick={() => setGridPage(gridPage + 1)}
                    disabled={gridPage + 1 >= gridPages}
                  >
                    Next
                  </button>
                </nav>
              ) : null}
              <p className="legend muted">
                <span className="cell cell-pending" aria-hidden="true" /> pending{' '}
                <span className="cell cell-leased" aria-hidden="true" /> running{' '}
                <span className="cell cell-succeeded" aria-hidden="true" /> succeeded{' '}
                <span className="cell cell-failed" aria-hidden="true" /> failed{' '}
                <span className="cell cell-cancelled" aria-hidden="true" /> cancelled
              </p>
            </div>
            {selected !== undefined && fetchPage ? (
              <TaskDetail
                jobId={id}
                index={selected}
                live={watch.tasks[selected]}
                fetchPage={fetchPage}
                jobWaiting={waiting}
                verificationKey={manifest.data?.verificationKey}
              />
            ) : (
              <p className="muted">
                Select a task to see its node, attempts, duration, output, logs and errors.
              </p>
            )}
          </div>
        )}
      </section>
      <AnchorPanel
        client={client}
        jobId={id}
        state={state}
        task={selected}
        config={config}
        proven={job.runtime === 'circom'}
      />
      {fetchPage ? (
        <ResultsPanel
          jobId={id}
          fetchPage={fetchPage}
          refreshKey={refreshKey}
          onOpenTask={(i) => {
            setSelected(i);
            setGridPage(Math.floor(i / GRID_PAGE));
            document.getElementById('tasks-heading')?.scrollIntoView({ behavior: 'smooth' });
          }}
        />
      ) : null}
    </div>
  );
}
