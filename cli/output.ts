import { once } from 'node:events';
import { type FileHandle, open } from 'node:fs/promises';
import { usageError } from './cli-error.ts';
import type { ResultRecord } from './result-record.ts';

/** Write and wait for the stream to take more, so a large result set is never buffered whole. */
export async function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

/** `--json` output: one compact JSON document on stdout. */
export function printJson(value: unknown): Promise<void> {
  return write(process.stdout, `${JSON.stringify(value)}\n`);
}

/** Exit once stdout has taken everything written to it (a pipe may still be draining). */
export async function exit(code: number): Promise<never> {
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

/**
 * Where result records go: JSON lines on stdout or in `--out FILE`, or collected for one `--json`
 * document. The file is opened before anything is submitted, so a bad path costs nothing.
 */
export class ResultSink {
  readonly path: string | undefined;
  readonly collected: ResultRecord[] | undefined;
  readonly #file: FileHandle | undefined;
  readonly #stream: NodeJS.WritableStream | undefined;
  readonly #beforeStdout: (write: () => void) => void;
  count = 0;

  private constructor(
    path: string | undefined,
    file: FileHandle | undefined,
    collect: boolean,
    beforeStdout: (write: () => void) => void,
  ) {
    this.path = path;
    this.#file = file;
    this.#stream = file ? file.createWriteStream({ encoding: 'utf8' }) : collect ? undefined : process.stdout;
    this.collected = collect && !file ? [] : undefined;
    this.#beforeStdout = beforeStdout;
  }

  /**
   * @param out `--out FILE`, or undefined for stdout
   * @param collect keep the records for one JSON document instead of writing lines to stdout
   * @param beforeStdout wraps writes to stdout (the progress bar clears itself around them)
   */
  static async open(
    out: string | undefined,
    collect: boolean,
    beforeStdout: (write: () => void) => void = (w) => w(),
  ): Promise<ResultSink> {
    let file: FileHandle | undefined;
    if (out !== undefined) {
      try {
        file = await open(out, 'w');
      } catch (error) {
        throw usageError(
          `cannot write --out ${out}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        );
      }
    }
    return new ResultSink(out, file, collect, beforeStdout);
  }

  async add(record: ResultRecord): Promise<void> {
    this.count++;
    if (this.collected) {
      this.collected.push(record);
      return;
    }
    const line = `${JSON.stringify(record)}\n`;
    const stream = this.#stream!;
    if (stream === process.stdout) {
      let ok = true;
      this.#beforeStdout(() => {
        ok = stream.write(line);
      });
      if (!ok) await once(stream, 'drain');
    } else {
      await write(stream, line);
    }
  }

  async close(): Promise<void> {
    if (this.#file && this.#stream) {
      const finished = once(this.#stream, 'close');
      this.#stream.end();
      await finished;
    }
  }
}
