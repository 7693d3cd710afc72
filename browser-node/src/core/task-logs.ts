import { limits } from '../../../protocol/limits.ts';
import { utf8Length } from '../../../protocol/utf8.ts';

export { utf8Length };

/**
 * A task's logs, shared by every runtime (the JS console, WASI stderr): at most
 * `limits.maxLogBytes` of UTF-8, counted as written so that a flood costs little, and mirrored into
 * a `LogMirror` when the host gave one, so logs survive a worker that had to be killed.
 */

/** Room kept for the truncation marker, so the final text never exceeds the limit. */
const MARKER_ROOM = 64;

/** Where a task's accepted log bytes are mirrored as they are written (see `LogMirror`). */
export interface LogSink {
  reset(): void;
  write(text: string, offset: number): void;
  setDropped(bytes: number): void;
}

let fallbackSink: (() => LogSink) | undefined;

/**
 * Mirror the logs of tasks that come without a shared mirror into `sink` (a sandbox process, which
 * shares no memory with the node, streams them to it; see `process-executor.ts`).
 */
export function mirrorLogsTo(sink: () => LogSink): void {
  fallbackSink = sink;
}

/** The sink of a task's logs: its shared mirror when the host gave one, else the process's own. */
export function logSinkFor(shared: SharedArrayBuffer | undefined): LogSink | undefined {
  return shared ? new LogMirror(shared) : fallbackSink?.();
}

export class LogBuffer {
  readonly #chunks: string[] = [];
  #bytes = 0;
  #dropped = 0;
  readonly #mirror: LogSink | undefined;

  constructor(mirror?: LogSink) {
    this.#mirror = mirror;
    mirror?.reset();
  }

  /** One console call: its parts are joined by spaces and end with a line break. */
  appendLine(parts: string[]): void {
    if (this.#bytes >= limits.maxLogBytes) {
      // Full: only count, without building the line (a flood then costs a scan per part).
      let size = parts.length; // the separators and the line break
      for (const part of parts) size += utf8Length(part);
      this.#dropped += size;
      this.#mirror?.setDropped(this.#dropped);
      return;
    }
    this.append(`${parts.join(' ')}\n`);
  }

  append(text: string): void {
    const room = limits.maxLogBytes - this.#bytes;
    const size = utf8Length(text);
    if (size <= room) {
      this.#accept(text, size);
      return;
    }
    if (room > 0) {
      const head = cutToBytes(text, room);
      const headSize = utf8Length(head);
      this.#accept(head, headSize);
      this.#dropped += size - headSize;
    } else {
      this.#dropped += size;
    }
    this.#mirror?.setDropped(this.#dropped);
  }

  text(): string {
    return finalizeLogs(this.#chunks.join(''), this.#dropped);
  }

  #accept(text: string, size: number): void {
    this.#chunks.push(text);
    this.#mirror?.write(text, this.#bytes);
    this.#bytes += size;
  }
}

/** The logs as reported: the accepted text, cut to leave room for a `…[truncated N bytes]` marker. */
function finalizeLogs(accepted: string, droppedBytes: number): string {
  if (droppedBytes === 0) return accepted;
  const kept = cutToBytes(accepted, limits.maxLogBytes - MARKER_ROOM);
  const cut = utf8Length(accepted) - utf8Length(kept) + droppedBytes;
  return `${kept}${kept.endsWith('\n') || kept === '' ? '' : '\n'}…[truncated ${cut} bytes]`;
}

const MIRROR_HEADER_BYTES = 16;

/**
 * A task's accepted log bytes, mirrored into a SharedArrayBuffer as they are written, so the host
 * can report them even when it had to terminate the worker. Layout: two float64 (accepted bytes,
 * dropped bytes), then the UTF-8 text. Only the worker's host code holds it, never the task.
 */
export class LogMirror implements LogSink {
  readonly #header: Float64Array;
  readonly #bytes: Uint8Array;
  readonly #encoder = new TextEncoder();

  constructor(buffer: SharedArrayBuffer | ArrayBuffer) {
    if (buffer.byteLength < MIRROR_HEADER_BYTES + limits.maxLogBytes)
      throw new RangeError('log mirror too small');
    this.#header = new Float64Array(buffer, 0, 2);
    this.#bytes = new Uint8Array(buffer, MIRROR_HEADER_BYTES, limits.maxLogBytes);
  }

  /** A buffer of the right size for `new LogMirror`. */
  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(LogMirror.bytes());
  }

  /** The size of a mirror's buffer. */
  static bytes(): number {
    return MIRROR_HEADER_BYTES + limits.maxLogBytes;
  }

  /** What a (possibly dead) worker had written: the logs as `finalizeLogs` reports them. */
  static read(buffer: SharedArrayBuffer | ArrayBuffer): string {
    const [accepted = 0, dropped = 0] = new Float64Array(buffer, 0, 2);
    const length = Math.min(accepted, limits.maxLogBytes);
    // TextDecoder cannot decode a view of shared memory; copy it first.
    const bytes = new Uint8Array(buffer, MIRROR_HEADER_BYTES, length).slice();
    return finalizeLogs(new TextDecoder().decode(bytes), dropped);
  }

  reset(): void {
    this.#header[0] = 0;
    this.#header[1] = 0;
  }

  write(text: string, offset: number): void {
    // Browsers refuse `encodeInto` a view of shared memory: encode, then copy. `text` is what the
    // LogBuffer accepted, so it fits; a cut would only drop the tail of what is mirrored.
    const encoded = this.#encoder.encode(text).subarray(0, Math.max(0, this.#bytes.length - offset));
    this.#bytes.set(encoded, offset);
    this.#header[0] = offset + encoded.length;
  }

  setDropped(bytes: number): void {
    this.#header[1] = bytes;
  }
}

/** The longest prefix of `text` that fits in `maxBytes` of UTF-8, never splitting a pair. */
function cutToBytes(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text;
  let bytes = 0;
  let i = 0;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    let size = code < 0x80 ? 1 : code < 0x800 ? 2 : 3;
    let width = 1;
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        size = 4;
        width = 2;
      }
    }
    if (bytes + size > maxBytes) break;
    bytes += size;
    i += width;
  }
  return text.slice(0, i);
}
