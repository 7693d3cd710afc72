import type { JobSummary } from '../../protocol/index.ts';
import { commonHelp, intFlag, parseCommand } from '../args.ts';
import type { Command } from '../command.ts';
import { connect } from '../connect.ts';
import { ExitCode, exitCodesHelp } from '../exit-codes.ts';
import { printJson, write } from '../output.ts';
import { formatTime } from '../time-format.ts';

const help = `monadmesh jobs: list your jobs, newest first

Usage: monadmesh jobs [--limit N] [--json]

  --limit N     how many, 1 to 100 (default 20)
${commonHelp}

With --json: a JSON array of {id, runtime, label?, total, state, createdAt}.

Examples:
  monadmesh jobs
  monadmesh jobs --limit 5 --json | jq -r '.[] | select(.state == "failed") | .id'

${exitCodesHelp}
`;

export const jobs: Command = {
  name: 'jobs',
  summary: 'list your jobs, newest first',
  help,
  async run(argv) {
    const { values } = parseCommand(argv, { limit: { type: 'string' } }, { min: 0, max: 0, names: '' });
    if (values.help) {
      await write(process.stdout, help);
      return ExitCode.ok;
    }
    const limit = intFlag('limit', values.limit, 1, 100);
    const { client } = connect(values);
    const list = await client.jobs(limit === undefined ? {} : { limit });
    if (values.json) await printJson(list);
    else await write(process.stdout, formatJobsTable(list));
    return ExitCode.ok;
  },
};

/** Aligned columns: id, state, tasks, created, label. */
export function formatJobsTable(list: JobSummary[], now = Date.now()): string {
  if (list.length === 0) return 'no jobs yet (submit one with `monadmesh run`)\n';
  const rows = [
    ['ID', 'STATE', 'TASKS', 'CREATED', 'LABEL'],
    ...list.map((j) => [j.id, j.state, String(j.total), formatTime(j.createdAt, now), j.label ?? '']),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return `${rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
