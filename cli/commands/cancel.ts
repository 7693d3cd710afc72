import { commonHelp, parseCommand } from '../args.ts';
import type { Command } from '../command.ts';
import { connect } from '../connect.ts';
import { ExitCode, exitCodesHelp } from '../exit-codes.ts';
import { printJson, write } from '../output.ts';

const help = `monadmesh cancel: cancel a running job

Usage: monadmesh cancel <job-id> [--json]

Pending tasks are dropped and running ones are revoked from their nodes; finished results stay.
Cancelling a job that already finished is refused (exit 2); cancelling it twice is fine.

${commonHelp}

With --json: the job's status after cancelling (as \`monadmesh status --json\`).

Examples:
  monadmesh cancel 3f0c9a…

${exitCodesHelp}
`;

export const cancel: Command = {
  name: 'cancel',
  summary: 'cancel a running job',
  help,
  async run(argv) {
    const { values, positionals } = parseCommand(argv, {}, { min: 1, max: 1, names: 'the job id' });
    if (values.help) {
      await write(process.stdout, help);
      return ExitCode.ok;
    }
    const { client } = connect(values);
    const s = await client.job(positionals[0]!).cancel();
    if (values.json) await printJson(s);
    else {
      const c = s.counts;
      await write(
        process.stdout,
        `cancelled job ${s.id}: ${c.cancelled} tasks cancelled; ${c.succeeded} succeeded and ${c.failed} failed before\n`,
      );
    }
    return ExitCode.ok;
  },
};
