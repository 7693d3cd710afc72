import type { FeedConnection } from './use-nodes-watch.ts';

/** "Live", "Connecting…", "Reconnecting…" or "Offline", announced politely when it changes. */
export function FeedState({ connection }: { connection: FeedConnection }) {
  const text = {
    open: 'Live',
    connecting: 'Connecting…',
    reconnecting: 'Reconnecting…',
    closed: 'Offline',
  }[connection];
  return (
    <span className={`feed-state ${connection}`} role="status" aria-live="polite" data-testid="feed-state">
      {text}
    </span>
  );
}
