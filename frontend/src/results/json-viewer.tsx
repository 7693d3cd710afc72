import { useState } from 'react';

/** Children are collapsed beyond this depth at first; the user expands what they need. */
const OPEN_DEPTH = 2;
/** Entries shown per object or array before a "show more" button. */
const CHUNK = 100;

/**
 * A collapsible JSON tree built from native <details> elements, so expanding and collapsing
 * works with the keyboard (Tab to a summary, Enter or Space) and screen readers announce each
 * branch as expanded or collapsed, without an ARIA tree's extra keyboard contract.
 */
export function JsonViewer({ value, label }: { value: unknown; label: string }) {
  return (
    <section className="json-viewer mono" aria-label={label}>
      <JsonNode value={value} depth={0} name={undefined} />
    </section>
  );
}

function JsonNode({ value, depth, name }: { value: unknown; depth: number; name: string | undefined }) {
  const [shown, setShown] = useState(CHUNK);
  const key = name === undefined ? null : <span className="json-key">{name}: </span>;
  if (value === null || typeof value !== 'object') {
    return (
      <div className="json-leaf">
        {key}
        <span className={`json-${value === null ? 'null' : typeof value}`}>{JSON.stringify(value)}</span>
      </div>
    );
  }
  const isArray = Array.isArray(value);
  const entries = isArray ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  const summary = isArray ? `[${entries.length}]` : `{${entries.length}}`;
  return (
    <details className="json-branch" open={depth < OPEN_DEPTH}>
      <summary>
        {key}
        <span className="json-summary">{summary}</span>
      </summary>
      <div className="json-children">
        {entries.slice(0, shown).map(([k, v]) => (
          <JsonNode key={k} name={k} value={v} depth={depth + 1} />
        ))}
        {entries.length > shown ? (
          <button type="button" className="link" onClick={() => setShown(shown + CHUNK)}>
            Show {Math.min(CHUNK, entries.length - shown)} more of {entries.length - shown}
          </button>
        ) : null}
      </div>
    </details>
  );
}
