import { HubToWatcher } from '../../../protocol/index.ts';

/** `connecting` (first time), `open`, or `reconnecting` after a drop (with backoff). */
export type FeedConnection = 'connecting' | 'open' | 'reconnecting';

export interface NodesFeedOptions {
  /** Base URL of the API (`http(s):` becomes `ws(s):`). */
  url: string;
  /** The WebSocket class (default the global one), e.g. a fake in tests. */
  WebSocket?: typeof WebSocket;
  /** First reconnect delay in ms (default 250); doubles per failed attempt up to `maxDelayMs`. */
  baseDelayMs?: number;
  /** Longest reconnect delay in ms (default 5000). */
  maxDelayMs?: number;
  /** A ping this often keeps idle proxies from closing the socket (default 30 s). */
  pingMs?: number;
}

/**
 * The node map's live feed, `GET /api/v1/nodes/events`, kept open: it reconnects with exponential
 * backoff (reset by any message), and the snapshot that opens every connection replaces what was
 * known, so nothing missed while away is lost. Frames are decoded with `HubToWatcher`; frames that
 * do not decode are dropped. The first connection opens on a later tick, so listeners added right
 * after construction miss nothing.
 *
 * @example
 * const feed = new NodesFeed({ url: location.origin });
 * feed.onMessage((msg) => console.log(msg.type));
 * // …later
 * feed.close();
 */
export class NodesFeed {
  readonly #o: NodesFeedOptions;
  #ws: WebSocket | undefined;
  #closed = false;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ping: ReturnType<typeof setInterval> | undefined;
  #connection: FeedConnection = 'connecting';
  readonly #messages = new Set<(msg: HubToWatcher) => void>();
  readonly #connections = new Set<(state: FeedConnection) => void>();

  constructor(options: NodesFeedOptions) {
    this.#o = options;
    this.#timer = setTimeout(() => this.#connect(), 0);
  }

  get connection(): FeedConnection {
    return this.#connection;
  }

  onMessage(listener: (msg: HubToWatcher) => void): () => void {
    this.#messages.add(listener);
    return () => this.#messages.delete(listener);
  }

  onConnection(listener: (state: FeedConnection) => void): () => void {
    this.#connections.add(listener);
    return () => this.#connections.delete(listener);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#ping);
    this.#ws?.close(1000, 'done');
  }

  #connect(): void {
    if (this.#closed) return;
    const Ws = this.#o.WebSocket ?? WebSocket;
    const url = new URL('/api/v1/nodes/events', this.#o.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new Ws(url);
    this.#ws = ws;
    ws.addEventListener('open', () => {
      if (ws !== this.#ws || this.#closed) return;
      this.#set('open');
      clearInterval(this.#ping);
      this.#ping = setInterval(() => ws.send('{"type":"ping"}'), this.#o.pingMs ?? 30_000);
    });
    ws.addEventListener('message', (e) => {
      if (ws !== this.#ws || this.#closed) return;
      this.#attempt = 0;
      let parsed: ReturnType<typeof HubToWatcher.safeParse> | undefined;
      try {
        parsed = HubToWatcher.safeParse(JSON.parse(String(e.data)));
      } catch {
        parsed = undefined;
      }
      if (parsed?.success) for (const l of [...this.#messages]) l(parsed.data);
    });
    ws.addEventListener('close', () => {
      if (ws !== this.#ws || this.#closed) return;
      clearInterval(this.#ping);
      const { baseDelayMs = 250, maxDelayMs = 5000 } = this.#o;
      const delay = Math.min(baseDelayMs * 2 ** this.#attempt++, maxDelayMs);
      this.#set('reconnecting');
      this.#timer = setTimeout(() => this.#connect(), delay);
    });
    ws.addEventListener('error', () => {
      // `close` follows and reconnects.
    });
  }

  #set(state: FeedConnection): void {
    if (this.#connection === state) return;
    this.#connection = state;
    for (const l of [...this.#connections]) l(state);
  }
}
