import type { TaskCounts } from '../../../protocol/index.ts';
import { formatEta } from '../ui/format.ts';
import type { Connection } from './use-job-watch.ts';
import type { ProgressView } from './watch-state.ts';

const STATES: (keyof TaskCounts)[] = ['pending', 'leased', 'succeeded', 'failed', 'cancelled'];
const STATE_LABEL: Record<keyof TaskCounts, string> = {
  pending: 'Pending',
  leased: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

const CONNECTION_LABEL: Record<Connection, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  finished: 'Finished',
  failed: 'Not connected',
};

/** Progress bar, counts per state, throughput and ETA, from the live event stream. */
export function ProgressPanel({
  progress,
  counts,
  connection,
}: {
  progress: ProgressView;
  counts: TaskCounts;
  connection: Connection;
}) {
  const percent = Math.floor(progress.fraction * 100);
  return (
    <section className="panel progress-panel" aria-label="Progress">
      <div className="progress-head">
        <span className="progress-percent" data-testid="progress-percent">
          {percent}%
        </span>
        <span className="muted">
          {progress.finished.toLocaleString()} of {progress.total.toLocaleString()} tasks finished
        </span>
        <span className={`connection connection-${connection}`}>{CONNECTION_LABEL[connection]}</span>
      </div>
      <div
        className="progress-bar"
        role="progressbar"
        aria-label="Tasks finished"
        aria-valuemin={0}
        aria-valuemax={progress.total}
        aria-valuenow={progress.finished}
        aria-valuetext={`${percent}%`}
      >
        {STATES.filter((s) => s !== 'pending').map((s) => (
          <span
            key={s}
            className={`progress-seg seg-${s}`}
            style={{ width: `${progress.total ? (counts[s] / progress.total) * 100 : 0}%` }}
          />
        ))}
      </div>
      <dl className="counts">
        {STATES.map((s) => (
          <div key={s} className={`count count-${s}`}>
            <dt>{STATE_LABEL[s]}</dt>
            <dd data-testid={`count-${s}`}>{counts[s].toLocaleString()}</dd>
          </div>
        ))}
        <div className="count">
          <dt>Throughput</dt>
          <dd>{progress.tasksPerSecond > 0 ? `${progress.tasksPerSecond.toFixed(1)} tasks/s` : '–'}</dd>
        </div>
        <div className="count">
          <dt>ETA</dt>
          <dd>{formatEta(progress.etaSeconds)}</dd>
        </div>
      </dl>
    </section>
  );
}
