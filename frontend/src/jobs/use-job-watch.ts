import { useEffect, useReducer, useState } from 'react';
import type { ConnectionState, MeshClient, WatchOptions } from '../../../client/index.ts';
import type { RoomToWatcher } from '../../../protocol/index.ts';
import { applyWatchMessage, emptyWatchState, type WatchState } from './watch-state.ts';

export type Connection = ConnectionState;

export interface JobWatch {
  watch: WatchState;
  connection: Connection;
  /** An error frame from the room (e.g. the job does not exist or is not ours). */
  error: string | undefined;
}

/** For tests: a WebSocket class, reconnect delays and pings (see the client's `WatchOptions`). */
export type UseJobWatchOptions = WatchOptions;

/**
 * The job's live event stream, from the client (`JobHandle.watch`): it reconnects with backoff
 * while the job runs, the snapshot opening each connection resyncs the view, and it stays closed
 * once the job is finished or the room refused us. This hook folds the messages into a
 * `WatchState` and follows the connection. Without a client (nobody signed in) nothing connects.
 */
export function useJobWatch(
  client: MeshClient | undefined,
  jobId: string,
  options: UseJobWatchOptions = {},
): JobWatch {
  const [watch, dispatch] = useReducer(
    (s: WatchState, msg: RoomToWatcher) => applyWatchMessage(s, msg, Date.now()),
    undefined,
    emptyWatchState,
  );
  const [connection, setConnection] = useState<Connection>('connecting');
  const [error, setError] = useState<string | undefined>();
  const { WebSocket: Ws, baseDelayMs, maxDelayMs, jitter, pingMs } = options;

  useEffect(() => {
    if (!client) return;
    const events = client.job(jobId).watch({ WebSocket: Ws, baseDelayMs, maxDelayMs, jitter, pingMs });
    // The stream connects asynchronously: listening right away misses nothing.
    events.onMessage(dispatch);
    events.onConnection((state) => {
      setConnection(state);
      setError(events.error?.message);
    });
    setConnection(events.connection);
    setError(undefined);
    return () => events.close();
  }, [client, jobId, Ws, baseDelayMs, maxDelayMs, jitter, pingMs]);

  return { watch, connection, error };
}
