import type { TaskResult } from '../../protocol/index.ts';
import { commonHelp, intFlag, parseCommand } from '../args.ts';
import { CliError } from '../cli-error.ts';
import type { Command } from '../command.ts';
import { connect } from '../connect.ts';
import { ExitCode, exitCodesHelp } from '../exit-codes.ts';
import { printJson, write } from '../output.ts';
import { formatTaskLogs } from '../result-record.ts';

const help = `monadmesh logs: console output and errors of a job's tasks

Usage: monadmesh logs <job-id> [task-index] [--json]

With a task index: that task's logs, error kind, message and remote stack (waits for it to finish).
Without: every task that logged something or failed, in input order (waits for the job).

${commonHelp}

With --json: the task's result {index, state, attempts, error?, logs?, nodeId?, durationMs?},
or {"id","tasks":[…]} for the whole job.

Examples:
  monadmesh logs 3f0c9a… 17
  monadmesh logs 3f0c9a… --json | jq -r '.tasks[] | select(.error) | .index'

${exitCodesHelp}
`;

export const logs: Command = {
  name: 'logs',
  summary: 'show logs and errors of one task, or of every task that has some',
  help,
  async run(argv) {
    const { values, positionals } = parseCommand(argv, {}, { min: 1, max: 2, names: 'the job id' });
    if (values.help) {
      await write(process.stdout, help);
      return ExitCode.ok;
    }
    const index = intFlag('task', positionals[1], 0, Number.MAX_SAFE_INTEGER);
    const { client } = connect(values);
    const job = client.job(positionals[0]!);
    try {
      const status = await job.status();
      if (index !== undefined && index >= status.total) {
        throw new CliError(
          'not_found',
          `job ${job.id} has ${status.total} tasks (0 to ${status.total - 1}); there is no task ${index}`,
          ExitCode.usage,
        );
      }
      if (status.state === 'running' && !values.json) {
        process.stderr.write(
          `job ${job.id} is still running; waiting for ${index === undefined ? 'it' : `task ${index}`}\n`,
        );
      }
      if (index !== undefined) {
        const task = await firstOf(job.results({ from: index }));
        if (!task) throw new CliError('not_found', `job ${job.id} has no task ${index}`, ExitCode.usage);
        if (values.json) await printJson(task);
        else await write(process.stdout, `${formatTaskLogs(task)}\n`);
        return ExitCode.ok;
      }
      const tasks: TaskResult[] = [];
      let shown = 0;
      for await (const r of job.results()) {
        if (!r.logs && !r.error) continue;
        shown++;
        if (values.json) tasks.push(r);
        else await write(process.stdout, `${formatTaskLogs(r)}\n`);
      }
      if (values.json) await printJson({ id: job.id, tasks });
      else if (shown === 0) process.stderr.write(`no task of job ${job.id} logged anything or failed\n`);
      return ExitCode.ok;
    } finally {
      job.close();
    }
  },
};

async function firstOf<T>(iterable: AsyncIterable<T>): Promise<T | undefined> {
  for await (const item of iterable) return item;
  return undefined;
}
