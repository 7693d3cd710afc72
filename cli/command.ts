/**
 * One `monadmesh <name>` command. `run` resolves with the exit code, or with undefined when the
 * command has handed the process to something long-running that exits by itself (`node`);
 * failures throw.
 */
export interface Command {
  name: string;
  /** One line for the tool's help. */
  summary: string;
  /** The full `--help` text: usage, options, examples. */
  help: string;
  run(argv: string[]): Promise<number | undefined>;
}
