import type { JsonValue, TaskResult } from '../../../protocol/index.ts';

/** One TaskResult per line, as the API's `?format=ndjson` gives them. */
export function toJsonLines(results: readonly TaskResult[]): string {
  return results.map((r) => JSON.stringify(r)).join('\n') + (results.length ? '\n' : '');
}

const isPlainObject = (v: unknown): v is Record<string, JsonValue> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 4180 quoting, plus a leading `'` on text that a spreadsheet would run as a formula. */
export function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  let text =
    typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * A CSV of the results: index, state, then the output (one column per top-level field when
 * every output is an object, else one `output` column; nested values as JSON), then the error
 * kind and message, attempts, node and duration.
 */
export function toCsv(results: readonly TaskResult[]): string {
  const outputs = results.filter((r) => r.output !== undefined).map((r) => r.output);
  const spread = outputs.length > 0 && outputs.every(isPlainObject);
  const fields = spread
    ? [...new Set(outputs.flatMap((o) => Object.keys(o as Record<string, JsonValue>)))]
    : [];
  const header = [
    'index',
    'state',
    ...(spread ? fields.map((f) => `output.${f}`) : ['output']),
    'error_kind',
    'error_message',
    'attempts',
    'node',
    'duration_ms',
  ];
  const lines = [header.map(csvCell).join(',')];
  for (const r of results) {
    const out = spread ? fields.map((f) => (isPlainObject(r.output) ? r.output[f] : undefined)) : [r.output];
    lines.push(
      [r.index, r.state, ...out, r.error?.kind, r.error?.message, r.attempts, r.nodeId, r.durationMs]
        .map(csvCell)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** Save text as a file through a temporary object URL. */
export function downloadText(text: string, fileName: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
