import { useEffect, useReducer, useState } from 'react';
import type { HubToWatcher } from '../../../protocol/index.ts';
import { type FeedConnection, NodesFeed, type NodesFeedOptions } from './nodes-feed.ts';
import { applyNodesMessage, emptyNodesState, type NodesState } from './nodes-state.ts';

export interface NodesWatch {
  state: NodesState;
  connection: FeedConnection;
}

/** For tests: a WebSocket class and reconnect delays. */
export type UseNodesWatchOptions = Omit<NodesFeedOptions, 'url'>;

/** The connected nodes, live from `GET /api/v1/nodes/events` on `origin` (default this page's). */
export function useNodesWatch(origin = location.origin, options: UseNodesWatchOptions = {}): NodesWatch {
  const [state, dispatch] = useReducer(
    (s: NodesState, msg: HubToWatcher) => applyNodesMessage(s, msg),
    undefined,
    emptyNodesState,
  );
  const [connection, setConnection] = useState<FeedConnection>('connecting');
  const { WebSocket: Ws, baseDelayMs, maxDelayMs, pingMs } = options;

  useEffect(() => {
    const feed = new NodesFeed({
      url: origin,
      ...(Ws ? { WebSocket: Ws } : {}),
      ...(baseDelayMs !== undefined ? { baseDelayMs } : {}),
      ...(maxDelayMs !== undefined ? { maxDelayMs } : {}),
      ...(pingMs !== undefined ? { pingMs } : {}),
    });
    feed.onMessage(dispatch);
    feed.onConnection(setConnection);
    setConnection(feed.connection);
    return () => feed.close();
  }, [origin, Ws, baseDelayMs, maxDelayMs, pingMs]);

  return { state, connection };
}
