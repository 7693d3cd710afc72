// Test fixtures for job event streams (client/client.test.ts and the web app's hook test); not
// part of the client's API.
import type { JobStatus, RoomToWatcher } from '../protocol/index.ts';

/** A WebSocket the test drives: it records every instance and lets the test open, feed and drop it. */
export class FakeSocket extends EventTarget {
  static instances: FakeSocket[] = [];
  readonly url: string;
  closed = false;
  constructor(url: string | URL) {
    super();
    this.url = String(url);
    FakeSocket.instances.push(this);
  }
  open() {
    this.dispatchEvent(new Event('open'));
  }
  /** A message from the room; a string goes as it is (to send frames that do not decode). */
  send(msg: RoomToWatcher | string) {
    this.dispatchEvent(
      new MessageEvent('message', { data: typeof msg === 'string' ? msg : JSON.stringify(msg) }),
    );
  }
  /** The connection drops (no close handshake). */
  drop() {
    this.dispatchEvent(new Event('close'));
  }
  close() {
    this.closed = true;
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
