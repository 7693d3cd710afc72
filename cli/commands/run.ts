import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { commonHelp, intFlag, parseCommand } from '../args.ts';
import { usageError } from '../cli-error.ts';
import type { Command } from '../command.ts';
import { connect } from '../connect.ts';
import { ExitCode, exitCodesHelp } from '../exit-codes.ts';
import { followJob } from '../follow-job.ts';
import { readInputs } from '../inputs.ts';
import { printJson, ResultSink, write } from '../output.ts';
import { ProgressReporter } from '../progress-reporter.ts';
import type { RunningJob } from '../running-job.ts';
import { runtimeOfFile } from '../runtime-of-file.ts';

const help = `monadmesh run: run a function file over a list of inputs

Usage: monadmesh run <file.js|file.mjs|file.py|file.wasm> --inputs <SPEC> [options]

The file is an ES module whose default export is the function, called once per input.
The runtime comes from the extension: .js/.mjs (JavaScript), .py (Python), .wasm (WASI module).

Inputs (--inputs SPEC):
  range:A..B        the integers A to B-1 (range:A..=B includes B), e.g. range:0..1000
  FILE.jsonl        one JSON value per line
  FILE.json         one JSON array
  -                 read JSON lines (or one JSON array) from stdin

Output: one JSON line per task on stdout (or in --out FILE), in input order:
  {"index":0,"output":…}   {"index":3,"error":{"kind","message","stack"},"logs":…}   {"index":5,"state":"cancelled"}
Progress goes to stderr: a live bar on a terminal, a plain line every few seconds otherwise.
Failed tasks are shown on stderr with their error kind, remote stack and logs.

Options:
  --inputs SPEC     the inputs (required)
  --out FILE        write the result lines to FILE instead of stdout
  --unordered       results in the order tasks finish instead of input order
  --timeout MS      time limit per task, 10 to 300000 (default 30000)
  --memory MB       memory limit per task, 16 to 1024 (default 128)
  --attempts N      tries per task when its node fails, 1 to 10 (default 3)
  --label TEXT      a label shown in \`monadmesh jobs\`
  --redundancy N    run each task on N distinct wallets/identities, 1 to 5, and accept an answer
                    when N agree (1: one node's word)
  --trust P         target confidence of the adaptive policy, 0.9 to 0.9999 (default 0.98);
                    your own wallet's nodes are trusted with your jobs
  --dry-run         run locally in the same sandboxes, with the same limits; needs no API or key
  --threads N       --dry-run only: sandboxes at once (default: CPU count)
  --detach          submit, print the job id, and exit without waiting
${commonHelp}

With --json: no progress; one JSON document at the end:
  {"id","state","total","counts","elapsedMs","results":[…]}   ("out" instead of "results" with --out)

Ctrl-C cancels the job (and exits 130); a second Ctrl-C exits without waiting.

Examples:
  monadmesh run square.js --inputs range:0..1000
  monadmesh run score.mjs --inputs items.jsonl --out scores.jsonl --timeout 5000
  monadmesh run square.js --inputs range:0..10 --dry-run
  monadmesh run square.js --inputs data.json --json | jq '.results[].output'
  id=$(monadmesh run square.js --inputs range:0..100000 --detach); monadmesh status "$id"

${exitCodesHelp}
`;

const options = {
  inputs: { type: 'string' },
  out: { type: 'string', short: 'o' },
  unordered: { type: 'boolean', default: false },
  timeout: { type: 'string' },
  memory: { type: 'string' },
  attempts: { type: 'string' },
  label: { type: 'string' },
  redundancy: { type: 'string' },
  trust: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  threads: { type: 'string' },
  detach: { type: 'boolean', default: false },
} as const;

/** What `run` was asked to do, validated (everything that can be checked without reading files). */
export interface RunArgs {
  file: string;
  inputs: string;
  out: string | undefined;
  unordered: boolean;
  timeoutMs: number | undefined;
  memoryMb: number | undefined;
  maxAttempts: number | undefined;
  label: string | undefined;
  redundancy: number | undefined;
  trust: number | undefined;
  dryRun: boolean;
  threads: number | undefined;
  detach: boolean;
  json: boolean;
  api: string | undefined;
  key: string | undefined;
  help: boolean;
}

/** Parse and validate `run`'s arguments; throws a usage error (exit 2) for any mistake. */
export function parseRunArgs(argv: string[]): RunArgs {
  const { values, positionals } = parseCommand(argv, options, { min: 1, max: 1, names: 'the function file' });
  const base = { json: values.json, api: values.api, key: values.key, help: values.help };
  if (values.help) return { ...base, file: '', inputs: '' } as RunArgs;
  if (values.inputs === undefined) throw usageError('missing --inputs (e.g. --inputs range:0..100)');
  if (values.detach && values['dry-run']) throw usageError('--detach and --dry-run do not go together');
  if (values.detach && values.out !== undefined) {
    throw usageError('--detach does not wait for results; use `monadmesh results <id> --out FILE` later');
  }
  if (values.threads !== undefined && !values['dry-run']) throw usageError('--threads is for --dry-run only');
  if (values.label !== undefined && values.label.length > 200) throw usageError('--label is longer than 200');
  const trust = values.trust === undefined ? undefined : Number(values.trust);
  if (trust !== undefined && !(trust >= 0.9 && trust <= 0.9999)) {
    throw usageError(`--trust must be a number from 0.9 to 0.9999, got ${values.trust}`);
  }
  return {
    ...base,
    file: positionals[0]!,
    inputs: values.inputs,
    out: values.out,
    unordered: values.unordered,
    timeoutMs: intFlag('timeout', values.timeout, 10, 300_000),
    memoryMb: intFlag('memory', values.memory, 16, 1024),
    maxAttempts: intFlag('attempts', values.attempts, 1, 10),
    label: values.label,
    redundancy: intFlag('redundancy', values.redundancy, 1, 5),
    trust,
    dryRun: values['dry-run'],
    threads: intFlag('threads', values.threads, 1, 256),
    detach: values.detach,
  };
}

export const run: Command = {
  name: 'run',
  summary: 'run a function file over inputs and print the results (or --dry-run it locally)',
  help,
  async run(argv) {
    const args = parseRunArgs(argv);
    if (args.help) {
      await write(process.stdout, help);
      return ExitCode.ok;
    }
    const runtime = runtimeOfFile(args.file);
    let source: string | Uint8Array;
    try {
      // A WebAssembly module is bytes (uploaded as a blob by the client); JS is source text.
      source =
        runtime === 'wasm' ? new Uint8Array(await readFile(args.file)) : await readFile(args.file, 'utf8');
    } catch (error) {
      throw usageError(`cannot read ${args.file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    const inputs = await readInputs(args.inputs);
    // Credentials before anything else is set up, so a missing key fails fast with exit 3.
    const api = args.dryRun ? undefined : connect(args);

    const mode = args.json ? 'off' : process.stderr.isTTY ? 'tty' : 'plain';
    const reporter = new ProgressReporter({
      mode,
      stream: process.stderr,
      sharesTerminal: Boolean(process.stdout.isTTY && process.stderr.isTTY),
    });
    const sink = args.detach
      ? undefined
      : await ResultSink.open(args.out, args.json, (w) => reporter.around(w));
    const limits = { timeoutMs: args.timeoutMs, memoryMb: args.memoryMb, maxAttempts: args.maxAttempts };

    const started = performance.now();
    let job: RunningJob;
    if (api) {
      job = await api.client.map(source, inputs, {
        runtime,
        ...definedOnly(limits),
        ...definedOnly({ redundancy: args.redundancy, trust: args.trust }),
        ...(args.label === undefined ? {} : { label: args.label }),
      });
      if (args.detach) {
        if (args.json) await printJson({ id: job.id, state: 'running', total: inputs.length });
        else {
          await write(process.stdout, `${job.id}\n`);
          process.stderr.write(
            `submitted ${inputs.length} tasks; follow with \`monadmesh status ${job.id}\` or \`monadmesh results ${job.id}\`\n`,
          );
        }
        return ExitCode.ok;
      }
      reporter.message(
        `job ${job.id}: ${inputs.length} tasks (${runtime}, ${basename(args.file)}) on ${api.connection.api}`,
      );
    } else {
      const { startDryRun } = await import('../dry-run.ts');
      job = await startDryRun({
        runtime,
        source,
        inputs,
        ...limits,
        label: args.label,
        threads: args.threads,
      });
      reporter.message(
        `dry run: ${inputs.length} tasks (${runtime}, ${basename(args.file)}) in local sandboxes`,
      );
    }
    return followJob(job, {
      reporter,
      sink: sink!,
      json: args.json,
      unordered: args.unordered,
      total: inputs.length,
      started,
      dryRun: args.dryRun,
    });
  },
};

function definedOnly<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}
