import { useQuery } from '@tanstack/react-query';
import type { TaskVerification } from '../../../protocol/index.ts';
import type { FetchPage } from '../api/results.ts';
import { formatDuration } from '../ui/format.ts';
import { ErrorBox, Loading } from '../ui/status.tsx';
import type { TaskView } from './watch-state.ts';

/**
 * Everything known about one task: the live view (state, attempts, node, error) and, from the
 * results endpoint, its output, logs and why it waits. Refetched when its live state changes.
 */
export function TaskDetail({
  jobId,
  index,
  live,
  fetchPage,
  jobWaiting,
  verificationKey,
}: {
  jobId: string;
  index: number;
  live: TaskView | undefined;
  fetchPage: FetchPage;
  jobWaiting: string | undefined;
  /** A proven job's verification key (from its circuit manifest), offered as a download. */
  verificationKey?: unknown;
}) {
  const result = useQuery({
    queryKey: ['task', jobId, index, live?.state, live?.attempts],
    queryFn: async () => (await fetchPage(index, 1)).results[0],
  });
  const r = result.data;
  const state = live?.state ?? r?.state;
  const error = r?.error ?? live?.error;
  const waiting = r?.waiting ?? live?.reason ?? (state === 'pending' ? jobWaiting : undefined);
  return (
    <section className="panel task-detail" aria-label={`Task ${index}`} aria-live="polite">
      <h3>
        Task {index} <span className={`badge badge-${state}`}>{state === 'leased' ? 'running' : state}</span>
      </h3>
      <dl className="facts">
        <div>
          <dt>Attempts</dt>
          <dd>{r?.attempts ?? live?.attempts ?? 0}</dd>
        </div>
        <div>
          <dt>Node</dt>
          <dd>{r?.nodeId ?? live?.nodeId ?? '–'}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{formatDuration(r?.durationMs ?? live?.durationMs)}</dd>
        </div>
      </dl>
      {r?.verification ? <Verification v={r.verification} /> : null}
      {r?.proof && r.output !== undefined ? (
        <p className="proof-downloads">
          <a
            download={`job-${jobId}-task-${index}-proof.json`}
            href={jsonHref(r.proof)}
            data-testid="download-proof"
          >
            Download the proof
          </a>{' '}
          ·{' '}
          <a download={`job-${jobId}-task-${index}-public.json`} href={jsonHref(r.output)}>
            public signals
          </a>
          {verificationKey ? (
            <>
              {' '}
              ·{' '}
              <a download={`job-${jobId}-verification_key.json`} href={jsonHref(verificationKey)}>
                verification key
              </a>
            </>
          ) : null}{' '}
          <span className="hint">(check with snarkjs groth16 verify)</span>
        </p>
      ) : null}
      {waiting && state === 'pending' ? (
        <p className="waiting">
          <strong>Waiting:</strong> {waiting}
        </p>
      ) : null}
      {result.isPending ? <Loading>Loading the task…</Loading> : null}
      {result.isError ? <ErrorBox title="The task could not be loaded" error={result.error} /> : null}
      {error ? (
        <div className="task-error" role="alert">
          <strong className="error-message">
            {error.kind}: {error.message}
          </strong>
          {error.stack ? <pre>{error.stack}</pre> : null}
        </div>
      ) : null}
      {r?.output !== undefined ? (
        <>
          <h4>Output</h4>
          <pre className="output">{JSON.stringify(r.output, null, 2)}</pre>
        </>
      ) : null}
      {r?.logs ? (
        <>
          <h4>Logs</h4>
          <pre className="logs">{r.logs}</pre>
        </>
      ) : null}
    </section>
  );
}

const HOW: Record<TaskVerification['how'], string> = {
  proven: 'proof verified',
  quorum: 'agreed by',
  trusted: "your own wallet's node",
  credible: 'a node with a proven record',
  unverified: "one node's word (redundancy 1)",
  inconsistent: 'no agreement',
};

/** How the task's result was verified: a badge, and which identities answered what (the node assignment). */
function Verification({ v }: { v: TaskVerification }) {
  const agreeing = v.replicas.filter((p) => p.agreed).length;
  const label =
    v.how === 'proven'
      ? "proof verified: Groth16, checked against the job's verification key"
      : v.how === 'quorum'
        ? `verified: ${agreeing} of ${v.replicas.length} identities agree`
        : v.how === 'inconsistent'
          ? 'not verified: replicas disagree'
          : `${v.how === 'unverified' ? 'unverified' : 'verified'}: ${HOW[v.how]}`;
  return (
    <div className="verification">
      <p>
        <span className={`badge badge-verify-${v.how}`} data-verification={v.how}>
          {label}
        </span>{' '}
        confidence {v.confidence.toFixed(4)}
        {v.spotCheck ? ' · spot check' : ''}
        {v.reverified ? ' · verified again (its first node was caught answering wrong)' : ''}
        {v.fingerprintClass ? ` · class ${v.fingerprintClass}` : ''}
      </p>
      <table className="replicas">
        <thead>
          <tr>
            <th>Identity</th>
            <th>Node</th>
            <th>Answer</th>
            <th>Weight</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {v.replicas.map((p) => (
            <tr key={p.identity} data-agreed={p.agreed === undefined ? '' : String(p.agreed)}>
              <td className="mono">{p.identity}</td>
              <td className="mono">{p.nodeId}</td>
              <td className="mono">{p.answer}</td>
              <td>{p.credibility.toFixed(3)}</td>
              <td>{p.agreed === undefined ? '' : p.agreed ? 'agreed' : 'disagreed'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="hint mono">record digest {v.digest}</p>
    </div>
  );
}

/** A data: URL of a JSON value, for a download link. */
const jsonHref = (value: unknown) =>
  `data:application/json;charset=utf-8,${encodeURIComponent(JSON.stringify(value, null, 2))}`;
