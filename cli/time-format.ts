import { formatDuration } from './progress-format.ts';

/** `2025-11-24 03:00:12 UTC (5m 02s ago)`: absolute for logs, relative for people. */
export function formatTime(ms: number, now = Date.now()): string {
  const iso = new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  const ago = (now - ms) / 1000;
  return ago >= 0 ? `${iso} (${formatDuration(ago)} ago)` : iso;
}
