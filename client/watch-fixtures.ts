// Test fixtures for watch sockets (client/watch-socket.test.ts, client/client.test.ts and the web
// app's hook tests); not part of the client's API.
import type { HubToWatcher, JobStatus, RoomToWatcher } from '../protocol/index.ts';

/**
 * A WebSocket the test drives: it records every instance and what the client sends, and lets the
 * test open it, deliver frames from the server and drop it.
 */
export class FakeSocket extends EventTarget {
  static instances: FakeSocket[] = [];
  readonly url: string;
  /** Frames the client sent (pings). */
  readonly sent: string[] = [];
  closed = false;
  /** The code the client closed with. */
  closeCode: number | undefined;
  constructor(url: string | URL) {
    super();
    this.url = String(url);
    FakeSocket.instances.push(this);
  }
  open() {
    this.dispatchEvent(new Event('open'));
  }
  /** A frame from the server; a string goes as it is (to send frames that do not decode). */
  deliver(msg: RoomToWatcher | HubToWatcher | string) {
    this.dispatchEvent(
      new MessageEvent('message', { data: typeof msg === 'string' ? msg : JSON.stringify(msg) }),
    );
  }
  /** The connection drops (no close handshake). */
  drop() {
    this.dispatchEvent(new Event('close'));
  }
  send(data: string) {
    this.sent.push(data);
  }
  close(code?: number) {
    this.closed = true;
    this.closeCode = code;
  }
}

/** `FakeSocket` typed as the WebSocket class options take. */
export const FakeWebSocket = FakeSocket as unknown as typeof WebSocket;

/** A running job of three pending Python tasks, with `over` applied. */
export const jobStatus = (over: Partial<JobStatus> = {}): JobStatus => ({
  id: 'job-1',
  owner: '0xabc',
  state: 'running',
  runtime: 'python',
  codeCid: 'bafkreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe',
  total: 3,
  counts: { pending: 3, leased: 0, succeeded: 0, failed: 0, cancelled: 0 },
  timeoutMs: 30_000,
  maxAttempts: 3,
  memoryMb: 128,
  createdAt: 0,
  ...over,
});
