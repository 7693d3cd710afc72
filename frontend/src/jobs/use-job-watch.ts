import { useEffect, useReducer, useState } from 'react';
import { RoomToWatcher } from '../../../protocol/index.ts';
import { applyWatchMessage, emptyWatchState, type WatchState } from './watch-state.ts';

export type Connection = 'connecting' | 'open' | 'reconnecting' | 'finished' | 'failed';

export interface JobWatch {
  watch: WatchState;
  connection: Connection;
  /** An error frame from the room (e.g. the job does not exist or is not ours). */
  error: string | undefined;
}

export interface UseJobWatchOptions {
  /** For tests: a WebSocket class. */
  WebSocket?: typeof WebSocket;
  /** First reconnect delay; doubles up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * The job's live event stream (`GET /api/v1/jobs/:id/events`), decoded with `RoomToWatcher`.
 * When the socket drops while the job runs it reconnects with exponential backoff; the snapshot
 * that opens each connection brings the view back in sync. Once the job is finished it stays
 * closed.
 */
export function useJobWatch(
  origin: string,
  jobId: string,
  token: string | undefined,
  options: UseJobWatchOptions = {},
): JobWatch {
  const [watch, dispatch] = useReducer(
    (s: WatchState, msg: RoomToWatcher) => applyWatchMessage(s, msg, Date.now()),
    undefined,
    emptyWatchState,
  );
  const [connection, setConnection] = useState<Connection>('connecting');
  const [error, setError] = useState<string | undefined>();
  const { WebSocket: Ws = WebSocket, baseDelayMs = 250, maxDelayMs = 5000 } = options;

  useEffect(() => {
    if (!token) return;
    let closed = false;
    let finished = false;
    let attempt = 0;
    let socket: WebSocket | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const connect = () => {
      const url = new URL(`/api/v1/jobs/${encodeURIComponent(jobId)}/events`, origin);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.searchParams.set('token', token);
      const ws = new Ws(url);
      socket = ws;
      ws.addEventListener('open', () => {
        if (!closed) setConnection('open');
      });
      ws.addEventListener('message', (e) => {
        if (closed) return;
        attempt = 0;
        let msg: RoomToWatcher;
        try {
          const parsed = RoomToWatcher.safeParse(JSON.parse(String(e.data)));
          if (!parsed.success) return;
          msg = parsed.data;
        } catch {
          return;
        }
        if (msg.type === 'error') {
          // The room refused us (unknown job, not ours): retrying would only repeat that.
          finished = true;
          setError(msg.message);
          setConnection('failed');
          ws.close(1000, 'refused');
          return;
        }
        dispatch(msg);
        const state =
          msg.type === 'job.snapshot' ? msg.job.state : msg.type === 'job.finished' ? msg.state : undefined;
        if (state !== undefined && state !== 'running') {
          finished = true;
          setConnection('finished');
          ws.close(1000, 'job finished');
        }
      });
      ws.addEventListener('close', () => {
        if (closed || finished || ws !== socket) return;
        const delay = Math.min(baseDelayMs * 2 ** attempt++, maxDelayMs);
        setConnection('reconnecting');
        timer = setTimeout(connect, delay);
      });
    };
    setConnection('connecting');
    setError(undefined);
    connect();
    return () => {
      closed = true;
      clearTimeout(timer);
      socket?.close(1000, 'page closed');
    };
  }, [origin, jobId, token, Ws, baseDelayMs, maxDelayMs]);

  return { watch, connection, error };
}
