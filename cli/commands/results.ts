import { commonHelp, intFlag, parseCommand } from '../args.ts';
import type { Command } from '../command.ts';
import { connect } from '../connect.ts';
import { ExitCode, exitCodesHelp } from '../exit-codes.ts';
import { MAX_FAILURES_SHOWN } from '../follow-job.ts';
import { printJson, ResultSink, write } from '../output.ts';
import { formatFailure, toResultRecord } from '../result-record.ts';

const help = `monadmesh results: a job's results as JSON lines, in input order

Usage: monadmesh results <job-id> [--out FILE] [--from N] [--verbose] [--json]

Waits for tasks that are still running. Lines are the same as \`monadmesh run\` prints:
  {"index":0,"output":…}   {"index":3,"error":{"kind","message","stack"},"logs":…}   {"index":5,"state":"cancelled"}
Failed tasks are also shown on stderr with their remote stack and logs.

  --out FILE    write the lines to FILE instead of stdout
  --from N      start at input index N (default 0)
  --verbose     add "verified" to each line: how the result was verified (quorum, trusted,
                credible, unverified, inconsistent), its confidence, every replica's identity,
                node and answer, whether it agreed, and the record's digest
${commonHelp}

With --json: one document {"id","state","total","counts","results":[…]} ("out" instead of "results" with --out).

Examples:
  monadmesh results 3f0c9a… > results.jsonl
  monadmesh results 3f0c9a… --from 500 | head

${exitCodesHelp}
`;

const options = {
  out: { type: 'string', short: 'o' },
  from: { type: 'string' },
  verbose: { type: 'boolean', short: 'v', default: false },
} as const;

export const results: Command = {
  name: 'results',
  summary: "print a job's results as JSON lines in input order (waits for running tasks)",
  help,
  async run(argv) {
    const { values, positionals } = parseCommand(argv, options, { min: 1, max: 1, names: 'the job id' });
    if (values.help) {
      await write(process.stdout, help);
      return ExitCode.ok;
    }
    const from = intFlag('from', values.from, 0, Number.MAX_SAFE_INTEGER);
    const { client } = connect(values);
    const job = client.job(positionals[0]!);
    // Fails fast (not found, forbidden) before the output file is created.
    const first = await job.status();
    if (first.state === 'running' && !values.json) {
      process.stderr.write(`job ${job.id} is still running; waiting for its results (Ctrl-C to stop)\n`);
    }
    const sink = await ResultSink.open(values.out, values.json);
    let failures = 0;
    try {
      for await (const r of job.results(from === undefined ? {} : { from })) {
        await sink.add(toResultRecord(r, values.verbose));
        if (r.state === 'failed' && !values.json && ++failures <= MAX_FAILURES_SHOWN) {
          process.stderr.write(`${formatFailure(r)}\n`);
        }
      }
      await sink.close();
      const final = first.state === 'running' ? await job.wait() : first;
      if (failures > MAX_FAILURES_SHOWN && !values.json) {
        process.stderr.write(
          `… and ${failures - MAX_FAILURES_SHOWN} more failed tasks (all are in the output)\n`,
        );
      }
      if (values.json) {
        await printJson({
          id: final.id,
          state: final.state,
          total: final.total,
          counts: final.counts,
          ...(sink.collected ? { results: sink.collected } : { out: sink.path }),
        });
      }
      return final.state === 'succeeded' ? ExitCode.ok : ExitCode.jobFailed;
    } finally {
      job.close();
    }
  },
};
