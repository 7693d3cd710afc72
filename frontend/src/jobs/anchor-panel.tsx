import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useConnection } from 'wagmi';
import {
  type AnchorReport,
  type Eip1193Provider,
  type MeshClient,
  verifyAnchor,
} from '../../../client/index.ts';
import type { JobState } from '../../../protocol/index.ts';
import type { AppConfig } from '../api/app-config.ts';
import { walletReader } from '../chain/wallet-chain.ts';
import { formatTime } from '../ui/format.ts';
import { describeError } from '../ui/status.tsx';

const short = (hex: string) => `${hex.slice(0, 10)}…${hex.slice(-8)}`;

/**
 * A finished job's on-chain anchor: where it waits, or its batch root, transaction (linked to the
 * explorer) and block; and "verify in your browser", which checks the proof (and the selected
 * task's) against the chain through the connected wallet's provider, not through our API. For a
 * task of a proven (circom) job it also has the registry check the task's Groth16 proof
 * (`verifyProof`, an `eth_call` through the wallet: no transaction, no gas paid).
 */
export function AnchorPanel({
  client,
  jobId,
  state,
  task,
  config,
  proven = false,
}: {
  client: MeshClient;
  jobId: string;
  state: JobState;
  /** The selected task, whose leaf is verified with the job's. */
  task: number | undefined;
  config: AppConfig;
  /** A proven (circom) job: a task's check includes its proof, on-chain. */
  proven?: boolean;
}) {
  const connection = useConnection();
  const [report, setReport] = useState<{ task: number | undefined; report: AnchorReport } | undefined>();
  const [verifying, setVerifying] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const finished = state !== 'running';
  const proof = useQuery({
    queryKey: ['proof', jobId],
    queryFn: () => client.job(jobId).proof(),
    enabled: finished,
    refetchInterval: (q) => (q.state.data?.anchored ? false : 5000),
  });

  const verify = async () => {
    setVerifying(true);
    setError(undefined);
    setReport(undefined);
    try {
      const connector = connection.connector;
      if (!connector) throw new Error('connect your wallet first: the check reads the chain through it');
      const provider = (await connector.getProvider()) as Eip1193Provider;
      const job = client.job(jobId);
      const p = await job.proof(task === undefined ? {} : { task });
      if (!p.anchored) throw new Error(p.message);
      const result =
        task === undefined ? undefined : (await job.resultsPage({ cursor: task, limit: 1 })).results[0];
      const status = await job.status();
      // The manifest is checked against the code CID the anchored job leaf commits, so it may come from anywhere.
      const manifest =
        result && status.runtime === 'circom'
          ? new Uint8Array(await (await fetch(`${client.url}/api/v1/blobs/${status.codeCid}`)).arrayBuffer())
          : undefined;
      const r = await verifyAnchor({
        proof: p,
        status,
        ...(manifest ? { manifest } : {}),
        ...(result ? { result } : {}),
        ...(task === undefined ? {} : { task }),
        client: walletReader(provider, config),
        ...(config.registry ? { registry: config.registry as `0x${string}` } : {}),
      });
      setReport({ task, report: r });
    } catch (e) {
      setError(describeError(e));
    } finally {
      setVerifying(false);
    }
  };

  let body: React.ReactNode;
  if (!finished) {
    body = <p className="muted">The job is anchored on-chain once it finishes.</p>;
  } else if (proof.isError) {
    body = <p className="field-error">{describeError(proof.error)}</p>;
  } else if (!proof.data) {
    body = <p className="muted">Loading the anchor…</p>;
  } else if (!proof.data.anchored) {
    body = (
      <p className="muted" data-testid="anchor-state">
        Not anchored yet: {proof.data.message}
        {proof.data.expectedBy ? ` (expected by ${formatTime(proof.data.expectedBy)})` : ''}.
      </p>
    );
  } else {
    const p = proof.data;
    body = (
      <>
        <dl className="anchor-facts" data-testid="anchor-state">
          <dt>Anchored</dt>
          <dd>
            {formatTime(p.batch.anchoredAt)} on {p.chain.name} (chain {p.chain.id}), block{' '}
            {p.batch.blockNumber}
          </dd>
          <dt>Transaction</dt>
          <dd>
            {p.batch.txUrl ? (
              <a href={p.batch.txUrl} target="_blank" rel="noreferrer">
                {short(p.batch.txHash)}
              </a>
            ) : (
              <code title={p.batch.txHash}>{short(p.batch.txHash)}</code>
            )}
          </dd>
          <dt>Batch root</dt>
          <dd>
            <code title={p.batch.root}>{short(p.batch.root)}</code> (leaf {p.job.index + 1} of {p.batch.size})
          </dd>
          <dt>Spec hash</dt>
          <dd>
            <code title={p.job.leaf.specHash}>{short(p.job.leaf.specHash)}</code>
          </dd>
          <dt>Registry</dt>
          <dd>
            <code>{p.chain.registry}</code>
          </dd>
        </dl>
        <button type="button" onClick={verify} disabled={verifying}>
          {verifying
            ? 'Verifying…'
            : task === undefined
              ? 'Verify in your browser'
              : proven
                ? `Verify task ${task} and its proof in your browser`
                : `Verify task ${task} in your browser`}
        </button>
        <p className="hint">
          Recomputes every hash here and asks the chain through your wallet whether the registry holds this
          root.
          {proven
            ? ' For a selected task, the registry also checks its zero-knowledge proof (a free call, no transaction).'
            : ''}
        </p>
      </>
    );
  }
  return (
    <section className="panel anchor" aria-labelledby="anchor-heading">
      <h2 id="anchor-heading">On-chain anchor</h2>
      {body}
      {error ? (
        <p className="field-error" role="alert">
          {error}
        </p>
      ) : null}
      {report ? (
        <div role="status" data-testid="anchor-report">
          <p>
            <strong>{report.report.ok ? 'Verified' : 'Not verified'}</strong>
            {report.task === undefined ? '' : ` (task ${report.task})`}:{' '}
            {report.report.checks.filter((c) => c.ok).length} of {report.report.checks.length} checks passed
            {report.report.specRegisteredAt
              ? `; the spec hash was registered by the owner in block ${report.report.specRegisteredAt}`
              : ''}
            .
          </p>
          <ul className="anchor-checks">
            {report.report.checks.map((c) => (
              <li key={c.name} className={c.ok ? 'ok' : 'failed'}>
                {c.ok ? '✓' : '✗'} {c.name}: {c.detail}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </section>
  );
}
