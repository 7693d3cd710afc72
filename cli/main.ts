#!/usr/bin/env node
import { CliError, usageError } from './cli-error.ts';
import type { Command } from './command.ts';
import { cancel } from './commands/cancel.ts';
import { jobs } from './commands/jobs.ts';
import { login } from './commands/login.ts';
import { logs } from './commands/logs.ts';
import { node } from './commands/node.ts';
import { results } from './commands/results.ts';
import { run } from './commands/run.ts';
import { status } from './commands/status.ts';
import { verify } from './commands/verify.ts';
import { configPath } from './config.ts';
import { describeFailure, ExitCode, exitCodesHelp, type Failure } from './exit-codes.ts';
import { exit, write } from './output.ts';

const VERSION = '0.1.0';

export const commands: readonly Command[] = [login, run, jobs, status, results, cancel, logs, verify, node];

const usage = `monadmesh: run a JavaScript function over many inputs on a MonadMesh

Usage: monadmesh <command> [options]      monadmesh <command> --help

Commands:
${commands.map((c) => `  ${c.name.padEnd(9)}${c.summary}`).join('\n')}
  help     help for a command: monadmesh help run

Examples:
  monadmesh login --dev                                  # local API from \`npm run dev\`
  monadmesh run square.js --inputs range:0..1000         # results as JSON lines on stdout
  monadmesh run square.js --inputs items.jsonl --out results.jsonl
  monadmesh run square.js --inputs range:0..10 --dry-run # local sandboxes, nothing submitted
  monadmesh jobs && monadmesh status <id> && monadmesh logs <id> 3

Every command takes --json (machine-readable output only), --api URL and --key KEY.
Credentials: \`monadmesh login\` saves {api, key} to ${configPath().replace(process.env.HOME ?? '\u0000', '~')};
MONADMESH_API and MONADMESH_KEY (or --api/--key) override it.

${exitCodesHelp}
`;

/**
 * Run the command line; resolves with the exit code (errors are printed here, once), or undefined
 * when the command keeps running and exits by itself (`node`).
 */
export async function main(argv: string[]): Promise<number | undefined> {
  const json = argv.includes('--json');
  try {
    const [name, ...rest] = commandFirst(argv);
    if (name === undefined || name === '--help' || name === '-h') {
      await write(name === undefined ? process.stderr : process.stdout, usage);
      return name === undefined ? ExitCode.usage : ExitCode.ok;
    }
    if (name === '--version' || name === '-v') {
      await write(process.stdout, `${VERSION}\n`);
      return ExitCode.ok;
    }
    if (name === 'help') {
      const topic = rest[0];
      const command = commands.find((c) => c.name === topic);
      if (topic !== undefined && !command) throw usageError(`unknown command ${JSON.stringify(topic)}`);
      await write(process.stdout, command ? command.help : usage);
      return ExitCode.ok;
    }
    const command = commands.find((c) => c.name === name);
    if (!command) {
      throw usageError(
        name.startsWith('-')
          ? `expected a command before ${name}`
          : `unknown command ${JSON.stringify(name)}`,
      );
    }
    try {
      return await command.run(rest);
    } catch (error) {
      if (error instanceof CliError && error.showUsage) throw withUsage(error, command);
      throw error;
    }
  } catch (error) {
    const failure = describeFailure(error);
    if (json) {
      await write(
        process.stdout,
        `${JSON.stringify({ error: { code: failure.code, message: failure.message } })}\n`,
      );
    }
    let text = `monadmesh: ${failure.message}\n`;
    const hint = hintFor(failure, error);
    if (hint) text += `${hint}\n`;
    if (error instanceof CliError && error.showUsage) {
      text += `\n${(error as CliError & { usage?: string }).usage ?? briefUsage()}`;
    } else if (failure.code === 'unexpected' && error instanceof Error && error.stack) {
      text += `${error.stack}\n`;
    }
    process.stderr.write(text);
    return failure.exitCode;
  }
}

/** `monadmesh --json jobs` means `monadmesh jobs --json`: common flags may come before the command. */
export function commandFirst(argv: string[]): string[] {
  const first = argv[0];
  if (first === undefined || !first.startsWith('-') || ['--help', '-h', '--version', '-v'].includes(first)) {
    return argv;
  }
  const at = argv.findIndex((a) => a === 'help' || commands.some((c) => c.name === a));
  if (at === -1) return argv;
  return [argv[at]!, ...argv.slice(0, at), ...argv.slice(at + 1)];
}

/** What to try next, for failures that come from outside (the API, the network). */
function hintFor(failure: Failure, error: unknown): string | undefined {
  if (error instanceof CliError) return undefined;
  if (failure.exitCode === ExitCode.auth && failure.code !== 'forbidden') {
    return 'hint: log in again with `monadmesh login`, or check --key / MONADMESH_KEY';
  }
  if (failure.code === 'forbidden') return 'hint: this job belongs to another wallet';
  if (failure.code === 'unreachable')
    return 'hint: is the API running (`npm run dev`), and is --api / MONADMESH_API right?';
  return undefined;
}

/** The usage lines of a command's help (up to its first blank line after "Usage:"). */
function withUsage(error: CliError, command: Command): CliError {
  const lines = command.help.split('\n');
  const start = lines.findIndex((l) => l.startsWith('Usage:'));
  const usageLine = start === -1 ? '' : `${lines[start]}\n`;
  return Object.assign(error, {
    usage: `${usageLine}Run \`monadmesh ${command.name} --help\` for options and examples.\n`,
  });
}

function briefUsage(): string {
  return `${usage.split('\n\n')[1]}\n\nRun \`monadmesh --help\` for commands, options and examples.\n`;
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  if (code !== undefined) await exit(code);
}
