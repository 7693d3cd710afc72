import type { ErrorCode, TaskErrorKind } from '../protocol/index.ts';

/**
 * The API answered with an error (`code` from protocol/errors.ts), or could not be reached
 * (`code: 'unreachable'`, `status: 0`).
 *
 * @example
 * try { await client.job(id).status() } catch (e) { if (e instanceof MeshApiError && e.code === 'not_found') … }
 */
export class MeshApiError extends Error {
  override readonly name = 'MeshApiError';
  readonly code: ErrorCode | 'unreachable';
  readonly status: number;
  readonly details: unknown;
  constructor(
    code: ErrorCode | 'unreachable',
    status: number,
    message: string,
    options?: { details?: unknown; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = status;
    this.details = options?.details;
  }
}

/** A task of the job failed; carries the remote error's kind, its stack and the task's logs. */
export class TaskFailedError extends Error {
  override readonly name = 'TaskFailedError';
  readonly jobId: string;
  readonly index: number;
  readonly kind: TaskErrorKind;
  /** The stack as the node saw it, pointing at lines of the user's code. */
  readonly remoteStack: string | undefined;
  readonly logs: string | undefined;
  constructor(
    jobId: string,
    index: number,
    error: { kind: TaskErrorKind; message: string; stack?: string },
    logs?: string,
  ) {
    super(`task ${index} of job ${jobId} failed (${error.kind}): ${error.message}`);
    this.jobId = jobId;
    this.index = index;
    this.kind = error.kind;
    this.remoteStack = error.stack;
    this.logs = logs;
  }
}

/** The job was cancelled before this result existed. */
export class JobCancelledError extends Error {
  override readonly name = 'JobCancelledError';
  readonly jobId: string;
  readonly index: number;
  constructor(jobId: string, index: number) {
    super(`job ${jobId} was cancelled before task ${index} finished`);
    this.jobId = jobId;
    this.index = index;
  }
}
