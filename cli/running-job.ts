import type { JobState, TaskCounts, TaskResult } from '../protocol/index.ts';
import type { ProgressSnapshot } from './progress-format.ts';

/** The part of a job's status that `run` prints at the end. */
export interface JobOutcome {
  id: string;
  state: JobState;
  total: number;
  counts: TaskCounts;
}

/**
 * What `run` follows: the client's JobHandle has this shape, and so does the local dry run, so
 * both print results, progress and failures through the same code.
 */
export interface RunningJob {
  readonly id: string;
  /** Current status; `waiting` says why pending tasks are not running. Absent for a dry run. */
  status?(): Promise<{ waiting?: string | undefined }>;
  /** When the job has finished, in any state. */
  wait(): Promise<JobOutcome>;
  cancel(): Promise<unknown>;
  /** Every task's result in input order, waiting for running tasks. */
  results(options?: { from?: number }): AsyncIterable<TaskResult>;
  /** Every task's result in the order tasks finish. */
  unordered(): AsyncIterable<TaskResult>;
  onProgress(listener: (p: ProgressSnapshot) => void): () => void;
  close(): void;
}
