import type { JobStatus } from '../../protocol/index.ts';
import { commonHelp, parseCommand } from '../args.ts';
import type { Command } from '../command.ts';
import { connect } from '../connect.ts';
import { ExitCode, exitCodesHelp } from '../exit-codes.ts';
import { printJson, write } from '../output.ts';
import { formatDuration } from '../progress-format.ts';
import { formatTime } from '../time-format.ts';

const help = `monadmesh status: a job's state, task counts, and why pending tasks wait

Usage: monadmesh status <job-id> [--json]

${commonHelp}

With --json: the API's JobStatus object
  {id, owner, state, runtime, label?, codeCid, total, counts, timeoutMs, maxAttempts, memoryMb,
   createdAt, finishedAt?, waiting?}.
The exit code is 0 whenever the status could be read, whatever the job's state.

Examples:
  monadmesh status 3f0c9a…
  monadmesh status 3f0c9a… --json | jq .counts

${exitCodesHelp}
`;

export const status: Command = {
  name: 'status',
  summary: "show a job's state, task counts and why pending tasks wait",
  help,
  async run(argv) {
    const { values, positionals } = parseCommand(argv, {}, { min: 1, max: 1, names: 'the job id' });
    if (values.help) {
      await write(process.stdout, help);
      return ExitCode.ok;
    }
    const { client } = connect(values);
    const s = await client.job(positionals[0]!).status();
    if (values.json) await printJson(s);
    else await write(process.stdout, formatStatus(s));
    return ExitCode.ok;
  },
};

/** `key  value` lines for people. */
export function formatStatus(s: JobStatus, now = Date.now()): string {
  const c = s.counts;
  const rows: [string, string][] = [
    ['job', `${s.id}${s.label ? `  (${s.label})` : ''}`],
    ['state', s.state],
    [
      'tasks',
      `${s.total}: ${c.succeeded} succeeded, ${c.failed} failed, ${c.leased} running, ${c.pending} pending, ${c.cancelled} cancelled`,
    ],
  ];
  if (s.waiting) rows.push(['waiting', s.waiting]);
  rows.push(
    ['runtime', `${s.runtime}, code ${s.codeCid}`],
    [
      'limits',
      `${formatDuration(s.timeoutMs / 1000)} per task, ${s.memoryMb} MB, ${s.maxAttempts} attempt${s.maxAttempts === 1 ? '' : 's'}`,
    ],
    ['created', formatTime(s.createdAt, now)],
  );
  if (s.finishedAt !== undefined) {
    rows.push([
      'finished',
      `${formatTime(s.finishedAt, now)}, took ${formatDuration((s.finishedAt - s.createdAt) / 1000)}`,
    ]);
  }
  return `${rows.map(([k, v]) => `${k.padEnd(9)}${v}`).join('\n')}\n`;
}
