import { useEffect, useReducer, useState } from 'react';
import { type WatchOptions, WatchSocket, type WatchSocketState } from '../../../client/index.ts';
import { HubToWatcher } from '../../../protocol/index.ts';
import { applyNodesMessage, emptyNodesState, type NodesState } from './nodes-state.ts';

/** Where the feed is: `connecting`, `open` (in sync), `reconnecting`, or `closed` if it cannot open. */
export type FeedConnection = WatchSocketState;

export interface NodesWatch {
  state: NodesState;
  connection: FeedConnection;
}

/** For tests: a WebSocket class, reconnect delays and the ping interval. */
export type UseNodesWatchOptions = WatchOptions;

/**
 * The connected nodes, live from `GET /api/v1/nodes/events` on `origin` (default this page's). The
 * client's `WatchSocket` keeps the feed open (backoff, pings) and every connection starts with a
 * snapshot that replaces what was known; this hook folds the frames into a `NodesState`.
 */
export function useNodesWatch(origin = location.origin, options: UseNodesWatchOptions = {}): NodesWatch {
  const [state, dispatch] = useReducer(
    (s: NodesState, msg: HubToWatcher) => applyNodesMessage(s, msg),
    undefined,
    emptyNodesState,
  );
  const [connection, setConnection] = useState<FeedConnection>('connecting');
  const { WebSocket: Ws, baseDelayMs, maxDelayMs, jitter, pingMs } = options;

  useEffect(() => {
    const feed = new WatchSocket({
      url: () => new URL('/api/v1/nodes/events', origin),
      schema: HubToWatcher,
      isSnapshot: (msg) => msg.type === 'nodes.snapshot',
      WebSocket: Ws,
      baseDelayMs,
      maxDelayMs,
      jitter,
      pingMs,
    });
    feed.onMessage(dispatch);
    feed.onState(setConnection);
    setConnection(feed.state);
    return () => feed.close();
  }, [origin, Ws, baseDelayMs, maxDelayMs, jitter, pingMs]);

  return { state, connection };
}
