import { writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { SandboxToHost } from '../../../protocol/sandbox.ts';
import type { WorkerPort } from '../core/sandbox-worker-loop.ts';
import { mirrorLogsTo } from '../core/task-logs.ts';

/** Marks a line of a sandbox process's stderr as a log-mirror record (see `process-executor.ts`). */
export const LOG_RECORD = '\u001eMMLOG';

/**
 * The sandbox's end of its channel to the node, whichever way the node started it: a worker
 * thread (`ThreadExecutor`) or a child process with an IPC channel (`ProcessExecutor`). A child
 * process whose node went away exits.
 */
export function hostPort(): WorkerPort {
  const port = parentPort;
  if (port) {
    return {
      post: (message) => port.postMessage(message),
      onMessage: (listener) => port.on('message', listener),
    };
  }
  const send = process.send?.bind(process);
  if (!send) throw new Error('a sandbox runs as a worker thread or as a child process with an IPC channel');
  process.on('disconnect', () => process.exit(0));
  // Ctrl-C reaches the whole process group: the node decides when its sandboxes end.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  // No memory is shared with the node: a task's logs are mirrored to it as they are written, by
  // synchronous writes to stderr, so that they reach it even from a task it must kill.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const record = (entry: unknown[]) => {
    const bytes = Buffer.from(`${LOG_RECORD}${JSON.stringify(entry)}\n`);
    // The pipe is non-blocking: when it is full, wait for the node to drain it (briefly).
    for (let at = 0, tries = 0; at < bytes.length && tries < 2000; ) {
      try {
        at += writeSync(2, bytes, at);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        tries++;
        Atomics.wait(pause, 0, 0, 1);
      }
    }
  };
  // Dropped bytes are counted on every console call past the limit (a flood): the count is sent
  // at most every 50 ms, so a killed flooding task's marker may be a little behind.
  let droppedAt = 0;
  mirrorLogsTo(() => ({
    reset: () => {
      droppedAt = 0;
      record(['r']);
    },
    write: (text, offset) => record(['w', offset, text]),
    setDropped: (bytes) => {
      const now = performance.now();
      if (now - droppedAt < 50) return;
      droppedAt = now;
      record(['d', bytes]);
    },
  }));
  return {
    post: (message: SandboxToHost) => void send(message),
    onMessage: (listener) => process.on('message', listener),
  };
}
