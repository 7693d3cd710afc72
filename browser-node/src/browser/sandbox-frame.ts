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
  const fail = (id: number, message: string) =>
    post({ type: 'result', id, ok: false, error: { kind: 'node_error', message }, logs: '', durationMs: 0 });
  port.onmessage = async (event: MessageEvent) => {
    const decoded = PageToFrame.safeParse(event.data);
    if (!decoded.success) {
      // Only the tab holds the port, so this is a bug on its side: answer what can be answered.
      const id = (event.data as { id?: unknown } | null)?.id;
      if (typeof id === 'number' && Number.isInteger(id) && id >= 0) {
        fail(id, `the sandbox frame could not read the task: ${decoded.error.message.slice(0, 300)}`);
      }
      return;
    }
    const message = decoded.data;
    if (message.type === 'abort') {
      running.get(message.id)?.abort();
      return;
    }
    const abort = new AbortController();
    running.set(message.id, abort);
    const { id, inputJson, type: _, jobId, ...request } = message;
    try {
      const result = await executor.run(
        { ...request, input: JSON.parse(inputJson), ...(jobId !== undefined ? { jobId } : {}) },
        abort.signal,
      );
      const base = { type: 'result' as const, id, logs: result.logs, durationMs: result.durationMs };
      const reply: FrameResult = result.ok
        ? {
            ...base,
            ok: true,
            outputJson: JSON.stringify(result.output),
            ...(result.proof ? { proof: result.proof } : {}),
          }
        : { ...base, ok: false, error: result.error };
      post(reply);
    } catch (error) {
      fail(id, `the sandbox frame failed: ${String(error).slice(0, 300)}`);
    } finally {
      running.delete(id);
    }
  };
  post({ type: 'ready', runtimes: [...executor.runtimes], capacity: executor.capacity });
}
