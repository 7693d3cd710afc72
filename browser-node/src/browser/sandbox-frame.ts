import {
  FRAME_BEAT_MS,
  FrameConnect,
  type FrameResult,
  type FrameToPage,
  PageToFrame,
} from '../../../protocol/sandbox-frame.ts';
import { WebWorkerExecutor } from './web-worker-executor.ts';

/**
 * The sandbox frame's side (`frontend/sandbox.html`): waits for a tab's `FrameConnect`, then runs
 * a `WebWorkerExecutor` of its own for that tab over the port it was given, beating every
 * `FRAME_BEAT_MS` so the tab knows it lives. It holds nothing of the tab's (no key, no socket, no
 * storage): a site that embeds it only gets a pool of sandboxes on its visitor's own CPU, which it
 * could start itself. One tab per frame; later connects are ignored.
 */
export function serveSandboxFrame(): void {
  let connected = false;
  addEventListener('message', (event: MessageEvent) => {
    if (connected || event.source !== parent) return;
    const connect = FrameConnect.safeParse(event.data);
    const port = event.ports[0];
    if (!connect.success || !port) return;
    connected = true;
    serve(connect.data, port);
  });
}

function serve(options: FrameConnect, port: MessagePort): void {
  const post = (message: FrameToPage) => port.postMessage(message);
  setInterval(() => post({ type: 'beat' }), FRAME_BEAT_MS);
  post({ type: 'beat' });
  const executor = new WebWorkerExecutor({
    workers: options.workers,
    prewarm: options.prewarm,
    ...(options.warmMemoryMb !== undefined ? { warmMemoryMb: options.warmMemoryMb } : {}),
  });
  const running = new Map<number, AbortController>();
  port.onmessage = async (event: MessageEvent) => {
    const decoded = PageToFrame.safeParse(event.data);
    if (!decoded.success) return; // only the tab holds the port: nothing else can send here
    const message = decoded.data;
    if (message.type === 'abort') {
      running.get(message.id)?.abort();
      return;
    }
    const abort = new AbortController();
    running.set(message.id, abort);
    const { id, inputJson, type: _, jobId, ...request } = message;
    const result = await executor.run(
      { ...request, input: JSON.parse(inputJson), ...(jobId !== undefined ? { jobId } : {}) },
      abort.signal,
    );
    running.delete(id);
    const base = { type: 'result' as const, id, logs: result.logs, durationMs: result.durationMs };
    const reply: FrameResult = result.ok
      ? { ...base, ok: true, outputJson: JSON.stringify(result.output) }
      : { ...base, ok: false, error: result.error };
    post(reply);
  };
  post({ type: 'ready', runtimes: [...executor.runtimes], capacity: executor.capacity });
}
