import type { Command } from '../command.ts';
import { DEFAULT_API, readConfig } from '../config.ts';
import { write } from '../output.ts';

const header = `monadmesh node: lend this machine's CPU to a MonadMesh API (a headless compute node)

Usage: monadmesh node [--api URL] [--capacity N] [--name NAME] [--key-file PATH] [--node-id ID] [--verbose]

The options are the headless node's (below). Without --api or $MONADMESH_API, the node joins
the API saved by \`monadmesh login\` (or ${DEFAULT_API}). It needs no key. Ctrl-C lets running
tasks finish first; a second Ctrl-C quits at once.

`;

export const node: Command = {
  name: 'node',
  summary: 'start a headless compute node on this machine (runs until Ctrl-C)',
  help: header,
  async run(argv) {
    const args = argv.map((a) => (a === '-h' ? '--help' : a));
    if (args.includes('--help')) await write(process.stdout, header);
    const hasApi = args.some((a) => a === '--api' || a.startsWith('--api='));
    if (!hasApi && !process.env.MONADMESH_API) {
      const saved = readConfig();
      if (saved) args.push('--api', saved.api);
    }
    // The node's own CLI parses process.argv and owns the process from here (signals, exit code);
    // importing it rather than spawning it keeps one process, so Ctrl-C reaches it exactly once.
    process.argv.splice(2, process.argv.length - 2, ...args);
    await import('../../browser-node/src/headless/cli.ts');
    return undefined;
  },
};
