import { z } from 'zod';
import { ErrorCode } from './errors.ts';
import { JobState, JobStatus, TaskCounts, TaskError, TaskState } from './job.ts';

/** One change to one task, as broadcast to watchers. */
export const TaskUpdate = z.object({
  index: z.number().int(),
  state: TaskState,
  attempt: z.number().int(),
  nodeId: z.string().optional(),
  durationMs: z.number().optional(),
  error: TaskError.optional(),
  /** Set when a task goes back to pending: why. */
  reason: z.string().optional(),
});
export type TaskUpdate = z.infer<typeof TaskUpdate>;

/** Compact task state in a snapshot: `[index, state, attempts]`. */
export const TaskBrief = z.tuple([z.number().int(), TaskState, z.number().int()]);
export type TaskBrief = z.infer<typeof TaskBrief>;

/**
 * Messages a job room sends on `GET /api/v1/jobs/:id/events`. The first is always a snapshot:
 * the job's status and every task that has moved (`tasks`); a task it leaves out is pending with
 * no attempt yet, as every task starts.
 */
export const RoomToWatcher = z.discriminatedUnion('type', [
  z.object({ type: z.literal('job.snapshot'), job: JobStatus, tasks: z.array(TaskBrief) }),
  z.object({ type: z.literal('tasks.updated'), updates: z.array(TaskUpdate), counts: TaskCounts }),
  z.object({
    type: z.literal('job.finished'),
    state: JobState,
    counts: TaskCounts,
    finishedAt: z.number().int(),
  }),
  /** Answer to `{"type":"ping"}`. */
  z.object({ type: z.literal('pong') }),
  z.object({ type: z.literal('error'), code: ErrorCode, message: z.string() }),
]);
export type RoomToWatcher = z.infer<typeof RoomToWatcher>;

/** Watchers only ever send pings; anything else is answered with an error frame. */
export const WatcherToRoom = z.discriminatedUnion('type', [z.object({ type: z.literal('ping') })]);
export type WatcherToRoom = z.infer<typeof WatcherToRoom>;
