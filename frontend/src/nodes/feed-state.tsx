import type { FeedConnection } from './nodes-feed.ts';

/** "Live", "Connecting…" or "Reconnecting…", announced politely when it changes. */
export function FeedState({ connection }: { connection: FeedConnection }) {
  const text = { open: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…' }[connection];
  return (
    <span className={`feed-state ${connection}`} role="status" aria-live="polite" data-testid="feed-state">
      {text}
    </span>
  );
}
