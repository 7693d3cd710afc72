import type { TaskResult } from '../protocol/index.ts';
import { describeFailure, ExitCode } from './exit-codes.ts';
import { exit, printJson, type ResultSink } from './output.ts';
import { formatSummary } from './progress-format.ts';
import type { ProgressReporter } from './progress-reporter.ts';
import { formatFailure, toResultRecord } from './result-record.ts';
import type { RunningJob } from './running-job.ts';

/** Failed tasks shown in full on stderr; the rest are counted (all of them are in the output). */
export const MAX_FAILURES_SHOWN = 10;

export interface FollowOptions {
  reporter: ProgressReporter;
  sink: ResultSink;
  json: boolean;
  unordered: boolean;
  total: number;
  /** `performance.now()` when the job was submitted. */
  started: number;
  dryRun: boolean;
  /** Ask the API why tasks wait after this long without a finished task, ms. Default 5000. */
  stallMs?: number;
}

/**
 * Follow a job to its end: progress on stderr, every result into the sink as it becomes
 * available (input order unless `unordered`), failed tasks with their remote stack and logs on
 * stderr, then a summary. Resolves with the exit code: 0 when every task succeeded, else 1.
 * The first Ctrl-C cancels the job and exits 130; a second one exits at once.
 */
export async function followJob(job: RunningJob, o: FollowOptions): Promise<number> {
  const { reporter, sink } = o;
  let interrupted = false;
  const onInterrupt = () => {
    if (interrupted) {
      reporter.stop();
      process.exit(ExitCode.interrupted);
    }
    interrupted = true;
    reporter.message(
      o.dryRun
        ? 'Ctrl-C: stopping the dry run (Ctrl-C again to quit at once)'
        : `Ctrl-C: cancelling job ${job.id} (Ctrl-C again to quit without waiting)`,
    );
    job
      .cancel()
      .then(
        () => {
          reporter.message(o.dryRun ? 'dry run stopped' : `cancelled job ${job.id}`);
          return 'interrupted; the job was cancelled';
        },
        (error: unknown) => {
          const why = describeFailure(error).message;
          reporter.message(`could not cancel job ${job.id}: ${why}`);
          return `interrupted; cancelling the job failed: ${why}`;
        },
      )
      .then(async (message) => {
        reporter.stop();
        job.close();
        if (o.json) await printJson({ id: job.id, error: { code: 'interrupted', message } });
        await exit(ExitCode.interrupted);
      });
  };
  // Only Ctrl-C cancels: SIGTERM/SIGHUP end the CLI and leave the job running (see `monadmesh cancel`).
  process.on('SIGINT', onInterrupt);

  reporter.update({
    state: 'running',
    total: o.total,
    counts: { pending: o.total, leased: 0, succeeded: 0, failed: 0, cancelled: 0 },
    tasksPerSecond: 0,
  });
  let finishedSoFar = 0;
  const stopProgress = job.onProgress((p) => {
    finishedSoFar = p.counts.succeeded + p.counts.failed + p.counts.cancelled;
    reporter.update(p);
  });
  const stopWaiting = explainStalls(job, reporter, () => finishedSoFar, o.stallMs ?? 5000);
  let failures = 0;
  try {
    const results: AsyncIterable<TaskResult> = o.unordered ? job.unordered() : job.results();
    for await (const r of results) {
      if (interrupted) break;
      await sink.add(toResultRecord(r));
      if (r.state === 'failed') {
        failures++;
        if (failures <= MAX_FAILURES_SHOWN) reporter.message(formatFailure(r));
      }
    }
    if (interrupted) return await new Promise<never>(() => {}); // the interrupt handler exits
    const outcome = await job.wait();
    stopProgress();
    await sink.close();
    const elapsedSeconds = (performance.now() - o.started) / 1000;
    if (failures > MAX_FAILURES_SHOWN) {
      reporter.message(
        `… and ${failures - MAX_FAILURES_SHOWN} more failed tasks` +
          (o.dryRun
            ? ' (all are in the output)'
            : ` (all are in the output; see \`monadmesh logs ${job.id}\`)`),
      );
    }
    reporter.finish(
      formatSummary(outcome, elapsedSeconds, o.dryRun ? 'dry run, nothing was submitted' : undefined),
    );
    if (o.json) {
      await printJson({
        id: outcome.id,
        ...(o.dryRun ? { dryRun: true } : {}),
        state: outcome.state,
        total: outcome.total,
        counts: outcome.counts,
        elapsedMs: Math.round(elapsedSeconds * 1000),
        ...(sink.collected ? { results: sink.collected } : { out: sink.path }),
      });
    }
    return outcome.state === 'succeeded' ? ExitCode.ok : ExitCode.jobFailed;
  } finally {
    stopWaiting();
    stopProgress();
    reporter.stop();
    job.close();
    process.off('SIGINT', onInterrupt);
  }
}

/**
 * When nothing finishes for `stallMs`, ask the API why pending tasks wait ("no compute node is
 * connected", "no node supports python") and say so once per new reason: a job never sits at 0 %
 * without a word. Returns the function that stops it.
 */
function explainStalls(
  job: RunningJob,
  reporter: ProgressReporter,
  finished: () => number,
  stallMs: number,
): () => void {
  if (!job.status) return () => {};
  let lastFinished = finished();
  let lastReason: string | undefined;
  let asking = false;
  const timer = setInterval(() => {
    const now = finished();
    if (now !== lastFinished || asking) {
      lastFinished = now;
      return;
    }
    asking = true;
    job.status!()
      .then(
        (s) => {
          if (s.waiting && s.waiting !== lastReason) reporter.message(`waiting: ${s.waiting}`);
          lastReason = s.waiting;
        },
        () => {}, // the results stream reports a lost API
      )
      .finally(() => {
        asking = false;
      });
  }, stallMs);
  timer.unref();
  return () => clearInterval(timer);
}
