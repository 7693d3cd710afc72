import { useQuery } from '@tanstack/react-query';
import { lazy, Suspense } from 'react';
import { Link } from 'react-router';
import { useSession } from '../api/session.tsx';
import { RUNTIME_LABELS } from '../editor/templates.ts';
import { formatTime } from '../ui/format.ts';
import { Empty, ErrorBox, Loading } from '../ui/status.tsx';

// D3 and the world atlas load with the panel, not with the app.
const NodesPanel = lazy(() => import('../nodes/nodes-panel.tsx').then((m) => ({ default: m.NodesPanel })));

/** The signed-in wallet's jobs, newest first, and the mesh's nodes (public) under them. */
export function JobsPage() {
  const { client, session } = useSession();
  const jobs = useQuery({
    queryKey: ['jobs', session?.address],
    queryFn: () => client!.jobs({ limit: 100 }),
    enabled: Boolean(client),
    refetchInterval: 5000,
  });
  return (
    <>
      <section>
        <h1>Your jobs</h1>
        {!client ? (
          <Empty>Connect your wallet and sign in to see your jobs.</Empty>
        ) : jobs.isPending ? (
          <Loading>Loading your jobs…</Loading>
        ) : jobs.isError ? (
          <ErrorBox title="Your jobs could not be loaded" error={jobs.error} />
        ) : jobs.data.length === 0 ? (
          <Empty>
            No jobs yet. <Link to="/">Write your first one.</Link>
          </Empty>
        ) : (
          <div className="table-wrap">
            <table className="data-table">
              <caption className="visually-hidden">Jobs, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">Runtime</th>
                  <th scope="col">Tasks</th>
                  <th scope="col">State</th>
                  <th scope="col">Submitted</th>
                </tr>
              </thead>
              <tbody>
                {jobs.data.map((j) => (
                  <tr key={j.id}>
                    <td>
                      <Link to={`/jobs/${j.id}`}>{j.label || j.id.slice(0, 8)}</Link>
                    </td>
                    <td>{j.runtime === 'circom' ? 'circom' : RUNTIME_LABELS[j.runtime]}</td>
                    <td>{j.total.toLocaleString()}</td>
                    <td>
                      <span className={`badge badge-${j.state}`}>{j.state}</span>
                    </td>
                    <td>{formatTime(j.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <Suspense fallback={null}>
        <NodesPanel />
      </Suspense>
    </>
  );
}
