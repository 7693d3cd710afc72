import { formatDuration, preview } from '../ui/format.ts';
import { ErrorBox, Loading } from '../ui/status.tsx';
import type { PreviewTask } from './run-preview.ts';

export type PreviewState =
  | { status: 'idle' }
  | { status: 'running' }
  | { status: 'done'; tasks: PreviewTask[] }
  | { status: 'error'; error: unknown };

/** Outputs, logs and errors of the preview run, one card per input. */
export function PreviewPanel({ state }: { state: PreviewState }) {
  if (state.status === 'idle') return null;
  return (
    <section className="panel preview" aria-label="Preview results" aria-live="polite">
      <h2>Preview</h2>
      {state.status === 'running' ? <Loading>Running in this tab…</Loading> : null}
      {state.status === 'error' ? <ErrorBox title="The preview could not run" error={state.error} /> : null}
      {state.status === 'done' ? (
        <ol className="preview-list">
          {state.tasks.map((t) => (
            <li key={t.index} className={`preview-task ${t.result.ok ? 'ok' : 'failed'}`}>
              <div className="preview-head">
                <span>
                  Input {t.index}: <code>{preview(t.input, 80)}</code>
                </span>
                <span className={`badge ${t.result.ok ? 'badge-ok' : 'badge-failed'}`}>
                  {t.result.ok ? 'ok' : t.result.error.kind}
                </span>
                <span className="muted">{formatDuration(t.result.durationMs)}</span>
              </div>
              {t.result.ok ? (
                <>
                  <span className="visually-hidden">Output:</span>
                  <pre className="output" data-testid={`preview-output-${t.index}`}>
                    {JSON.stringify(t.result.output, null, 2)}
                  </pre>
                </>
              ) : (
                <div className="task-error" role="alert">
                  <strong className="error-message">{t.result.error.message}</strong>
                  {t.result.error.stack ? <pre>{t.result.error.stack}</pre> : null}
                </div>
              )}
              {t.result.logs ? (
                <details open>
                  <summary>Logs</summary>
                  <pre className="logs">{t.result.logs}</pre>
                </details>
              ) : null}
            </li>
          ))}
        </ol>
      ) : null}
    </section>
  );
}
