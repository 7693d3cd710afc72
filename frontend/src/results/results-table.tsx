import type { TaskResult } from '../../../protocol/index.ts';
import { formatDuration, preview } from '../ui/format.ts';

/**
 * The line of an error message that says what happened: a Python traceback ends with it
 * (`ValueError: …`), most other messages are one line anyway. The task panel shows it all.
 */
export function headline(message: string): string {
  const lines = message.split('\n').filter((l) => l.trim());
  return /^Traceback|^\s*File "/.test(message) ? (lines.at(-1) ?? message).trim() : (lines[0] ?? message);
}

/** One page of results: index, state, output (or error), node, attempts, duration. */
export function ResultsTable({
  results,
  onOpen,
}: {
  results: readonly TaskResult[];
  onOpen(index: number): void;
}) {
  return (
    <div className="table-wrap">
      <table className="data-table results-table">
        <caption className="visually-hidden">Results in input order</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">State</th>
            <th scope="col">Output or error</th>
            <th scope="col">Node</th>
            <th scope="col">Attempts</th>
            <th scope="col">Duration</th>
          </tr>
        </thead>
        <tbody>
          {results.map((r) => (
            <tr key={r.index}>
              <td>
                <button
                  type="button"
                  className="link"
                  onClick={() => onOpen(r.index)}
                  aria-label={`Open task ${r.index}`}
                >
                  {r.index}
                </button>
              </td>
              <td>
                <span className={`badge badge-${r.state}`}>{r.state === 'leased' ? 'running' : r.state}</span>
              </td>
              <td className="mono cell-output">
                {r.error ? (
                  <span className="error-text" title={r.error.message}>
                    {r.error.kind}: {headline(r.error.message)}
                  </span>
                ) : r.state === 'pending' && r.waiting ? (
                  <span className="muted">waiting: {r.waiting}</span>
                ) : (
                  preview(r.output)
                )}
              </td>
              <td className="mono">{r.nodeId ?? '–'}</td>
              <td>{r.attempts}</td>
              <td>{formatDuration(r.durationMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
