import type { z } from 'zod';
import { describeIssues } from '../protocol/index.ts';

/**
 * Where a watch socket is:
 * - `connecting`: opening its first connection;
 * - `open`: connected and in sync (the connection's snapshot has arrived; updates follow);
 * - `reconnecting`: the connection dropped (or went silent); a new one opens after a backoff;
 * - `closed`: for good, by `close()` or because `url()` failed (see `WatchSocket.error`).
 */
export type WatchSocketState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** How a watch socket connects and stays connected. */
export interface WatchOptions {
  /** The WebSocket class to use (default the global one), e.g. a fake in tests or `ws` in old hosts. */
  WebSocket?: typeof WebSocket;
  /** First reconnect delay in ms (default 250); it doubles per failed attempt up to `maxDelayMs`. */
  baseDelayMs?: number;
  /** Longest reconnect delay in ms (default 5000). */
  maxDelayMs?: number;
  /**
   * Share of each reconnect delay taken off at random, 0 to 1 (default 0.5; 0 for exact delays),
   * so that the many watchers a deploy drops at once do not all come back in the same instant.
   */
  jitter?: number;
  /**
   * A `{"type":"ping"}` this often keeps idle proxies from closing the socket (default 30 s; 0 for
   * none). The server answers every ping, so a connection that stays silent for a whole interval
   * is taken as dead and replaced: a half-open TCP connection may not report its end for minutes.
   */
  pingMs?: number;
}

export interface WatchSocketOptions<T> extends WatchOptions {
  /**
   * Where to connect, asked before each connection (so a token in it can be fresh); `http(s):`
   * becomes `ws(s):`. If it throws, the socket closes for good with `error` set: retrying would
   * only ask again for credentials that are not there.
   */
  url: () => string | URL | Promise<string | URL>;
  /** Decodes every frame; frames it refuses go to the `onBadFrame` listeners and nowhere else. */
  schema: z.ZodType<T>;
  /** True for the message that starts every connection and replaces what the watcher knew. */
  isSnapshot: (msg: T) => boolean;
}

/** What a message listener is told besides the message. */
export interface WatchMessageMeta {
  /**
   * True for the snapshot that starts a connection: it replaces everything known before (what
   * was missed while disconnected is in it), so state derived from earlier messages is stale.
   */
  resync: boolean;
}

/** A frame that was not JSON or did not match the schema; `cause` is the parse or schema error. */
export class BadFrameError extends Error {
  override readonly name = 'BadFrameError';
  /** The frame as received. */
  readonly data: unknown;
  constructor(message: string, data: unknown, cause: unknown) {
    super(message, { cause });
    this.data = data;
  }
}

/** The only frame watchers send. It matches the rooms' and the hub's auto-response byte for byte. */
const PING = '{"type":"ping"}';

/**
 * A WebSocket that watches a live feed (a job's events, the node map) and keeps watching across
 * disconnects: it reconnects with exponential backoff and jitter (reset by any frame), pings so
 * idle proxies keep it open, decodes every frame with `schema` (bad frames are reported to
 * `onBadFrame`, never thrown), and tells which message is the snapshot that starts each connection
 * so the watcher resyncs instead of missing what happened while it was away. Frames from a
 * connection it has given up on are ignored.
 *
 * The first connection opens asynchronously: listeners added right after construction miss
 * nothing. `close()` ends it for good.
 *
 * @example
 * const feed = new WatchSocket({
 *   url: () => new URL('/api/v1/nodes/events', origin),
 *   schema: HubToWatcher,
 *   isSnapshot: (msg) => msg.type === 'nodes.snapshot',
 * });
 * feed.onMessage((msg, { resync }) => (resync ? replace(msg) : apply(msg)));
 * feed.onState((state) => console.log(state));
 * // …later
 * feed.close();
 */
export class WatchSocket<T> {
  readonly #o: WatchSocketOptions<T>;
  #ws: WebSocket | undefined;
  #state: WatchSocketState = 'connecting';
  #error: unknown;
  #connects = 0;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ping: ReturnType<typeof setInterval> | undefined;
  /** No snapshot yet on the current connection. */
  #syncing = true;
  /** A frame arrived since the last ping. */
  #heard = false;
  readonly #messages = new Set<(msg: T, meta: WatchMessageMeta) => void>();
  readonly #states = new Set<(state: WatchSocketState) => void>();
  readonly #badFrames = new Set<(error: BadFrameError) => void>();

  constructor(options: WatchSocketOptions<T>) {
    this.#o = options;
    void this.#connect();
  }

  /** Where the socket is now. */
  get state(): WatchSocketState {
    return this.#state;
  }

  /** Why the socket closed by itself (what `url()` or the WebSocket constructor threw), if it did. */
  get error(): unknown {
    return this.#error;
  }

  /** Connections that reached `open` so far (1 + reconnects). */
  get connects(): number {
    return this.#connects;
  }

  /** Every decoded message in order, with whether it resyncs; returns the unsubscribe function. */
  onMessage(listener: (msg: T, meta: WatchMessageMeta) => void): () => void {
    this.#messages.add(listener);
    return () => this.#messages.delete(listener);
  }

  /** Each change of `state` (none for `close()`: the caller knows); returns the unsubscribe function. */
  onState(listener: (state: WatchSocketState) => void): () => void {
    this.#states.add(listener);
    return () => this.#states.delete(listener);
  }

  /** Each frame that did not decode (it is dropped); returns the unsubscribe function. */
  onBadFrame(listener: (error: BadFrameError) => void): () => void {
    this.#badFrames.add(listener);
    return () => this.#badFrames.delete(listener);
  }

  /** Close the connection and cancel any pending reconnect, for good. Listeners hear nothing more. */
  close(code = 1000, reason = 'done'): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#stop();
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.close(code, reason);
  }

  async #connect(): Promise<void> {
    let ws: WebSocket;
    try {
      const url = new URL(await this.#o.url());
      if (this.#state === 'closed') return;
      if (url.protocol === 'http:') url.protocol = 'ws:';
      if (url.protocol === 'https:') url.protocol = 'wss:';
      ws = new (this.#o.WebSocket ?? WebSocket)(url);
    } catch (err) {
      if (this.#state === 'closed') return;
      this.#error = err;
      this.#stop();
      this.#set('closed');
      return;
    }
    this.#ws = ws;
    this.#syncing = true;
    ws.addEventListener('open', () => {
      if (ws !== this.#ws) return;
      this.#heard = true;
      const { pingMs = 30_000 } = this.#o;
      if (pingMs > 0) this.#ping = setInterval(() => this.#keepAlive(ws), pingMs);
    });
    ws.addEventListener('message', (e) => {
      if (ws !== this.#ws) return;
      this.#heard = true;
      this.#attempt = 0;
      this.#receive(e.data);
    });
    ws.addEventListener('close', () => {
      if (ws === this.#ws) this.#retry();
    });
    ws.addEventListener('error', () => {
      // `close` follows and reconnects.
    });
  }

  #keepAlive(ws: WebSocket): void {
    if (!this.#heard) {
      // Not even a pong since the last ping: the connection is gone without saying so.
      this.#ws = undefined;
      ws.close(4000, 'silent');
      this.#retry();
      return;
    }
    this.#heard = false;
    ws.send(PING);
  }

  #receive(data: unknown): void {
    let json: unknown;
    try {
      json = JSON.parse(String(data));
    } catch (err) {
      this.#bad(new BadFrameError(`a frame that is not JSON: ${(err as Error).message}`, data, err));
      return;
    }
    const parsed = this.#o.schema.safeParse(json);
    if (!parsed.success) {
      const why = describeIssues(parsed.error).message;
      this.#bad(new BadFrameError(`a frame that does not match the schema: ${why}`, data, parsed.error));
      return;
    }
    const msg = parsed.data;
    const resync = this.#syncing && this.#o.isSnapshot(msg);
    if (resync) {
      this.#syncing = false;
      this.#connects++;
      this.#set('open');
    }
    for (const l of [...this.#messages]) {
      // A listener may close the socket (the job is finished): the others hear nothing more.
      if (this.#state === 'closed') return;
      l(msg, { resync });
    }
  }

  #bad(error: BadFrameError): void {
    for (const l of [...this.#badFrames]) l(error);
  }

  #retry(): void {
    this.#stop();
    this.#ws = undefined;
    const { baseDelayMs = 250, maxDelayMs = 5000, jitter = 0.5 } = this.#o;
    const full = Math.min(baseDelayMs * 2 ** this.#attempt++, maxDelayMs);
    const delay = full * (1 - Math.min(Math.max(jitter, 0), 1) * Math.random());
    this.#set('reconnecting');
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }

  #stop(): void {
    clearTimeout(this.#timer);
    clearInterval(this.#ping);
    this.#timer = undefined;
    this.#ping = undefined;
  }

  #set(state: WatchSocketState): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const l of [...this.#states]) l(state);
  }
}
