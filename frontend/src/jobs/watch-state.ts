import type {
  JobState,
  JobStatus,
  RoomToWatcher,
  TaskCounts,
  TaskError,
  TaskState,
} from '../../../protocol/index.ts';

/** What the job page knows about one task from the event stream. */
export interface TaskView {
  state: TaskState;
  attempts: number;
  nodeId?: string;
  durationMs?: number;
  error?: TaskError;
  /** Why a task went back to pending. */
  reason?: string;
}

/** The job as its watcher sees it, rebuilt from every snapshot and patched by updates. */
export interface WatchState {
  job: JobStatus | undefined;
  state: JobState | undefined;
  counts: TaskCounts | undefined;
  tasks: TaskView[];
  /** (time, finished tasks) over the last few seconds, for throughput and ETA. */
  samples: { at: number; finished: number }[];
  /** Bumped on every applied message: components re-render on it. */
  version: number;
}

export const emptyWatchState = (): WatchState => ({
  job: undefined,
  state: undefined,
  counts: undefined,
  tasks: [],
  samples: [],
  version: 0,
});

const finishedOf = (c: TaskCounts) => c.succeeded + c.failed + c.cancelled;
const SAMPLE_WINDOW_MS = 5000;

function sample(samples: WatchState['samples'], at: number, counts: TaskCounts) {
  const next = [...samples, { at, finished: finishedOf(counts) }];
  while (next.length > 2 && at - next[0]!.at > SAMPLE_WINDOW_MS) next.shift();
  return next;
}

/** Apply one message from the job's WebSocket. `now` is passed in so tests control time. */
export function applyWatchMessage(s: WatchState, msg: RoomToWatcher, now: number): WatchState {
  switch (msg.type) {
    case 'job.snapshot': {
      // A snapshot starts every connection, so a reconnect resynchronises everything; details
      // (node, duration, error) seen earlier are kept for tasks whose attempt did not change.
      const tasks: TaskView[] = new Array(msg.job.total);
      for (let i = 0; i < msg.job.total; i++) tasks[i] = { state: 'pending', attempts: 0 };
      for (const [index, state, attempts] of msg.tasks) {
        const old = s.tasks[index];
        tasks[index] = old && old.attempts === attempts && old.state === state ? old : { state, attempts };
      }
      return {
        job: msg.job,
        state: msg.job.state,
        counts: msg.job.counts,
        tasks,
        samples: sample(s.samples, now, msg.job.counts),
        version: s.version + 1,
      };
    }
    case 'tasks.updated': {
      const tasks = s.tasks.slice();
      for (const u of msg.updates) {
        const view: TaskView = { state: u.state, attempts: u.attempt };
        if (u.nodeId !== undefined) view.nodeId = u.nodeId;
        if (u.durationMs !== undefined) view.durationMs = u.durationMs;
        if (u.error !== undefined) view.error = u.error;
        if (u.reason !== undefined) view.reason = u.reason;
        tasks[u.index] = view;
      }
      return {
        ...s,
        tasks,
        counts: msg.counts,
        samples: sample(s.samples, now, msg.counts),
        version: s.version + 1,
      };
    }
    case 'job.finished':
      return {
        ...s,
        state: msg.state,
        counts: msg.counts,
        job: s.job ? { ...s.job, state: msg.state, counts: msg.counts, finishedAt: msg.finishedAt } : s.job,
        samples: sample(s.samples, now, msg.counts),
        version: s.version + 1,
      };
    default:
      return s;
  }
}

export interface ProgressView {
  total: number;
  finished: number;
  fraction: number;
  tasksPerSecond: number;
  etaSeconds: number | undefined;
}

/** Progress, throughput over the last seconds, and the ETA at that rate. */
export function progressOf(s: WatchState): ProgressView | undefined {
  if (!s.counts || !s.job) return undefined;
  const total = s.job.total;
  const finished = finishedOf(s.counts);
  const first = s.samples[0];
  const last = s.samples[s.samples.length - 1];
  const seconds = first && last ? (last.at - first.at) / 1000 : 0;
  const tasksPerSecond = first && last && seconds > 0.2 ? (last.finished - first.finished) / seconds : 0;
  const etaSeconds =
    s.state === 'running' && tasksPerSecond > 0 ? (total - finished) / tasksPerSecond : undefined;
  return { total, finished, fraction: total > 0 ? finished / total : 1, tasksPerSecond, etaSeconds };
}
