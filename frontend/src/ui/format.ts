/** `0x1234…abcd`. */
export const shortAddress = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`;

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '–';
  return formatDuration(seconds * 1000);
}

export const formatTime = (ms: number) => new Date(ms).toLocaleString();

/** One-line JSON for table cells, cut to `max` characters. */
export function preview(value: unknown, max = 120): string {
  const text = value === undefined ? '' : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
