#!/usr/bin/env node
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RestartPolicy } from './restart-policy.ts';

// `npm run node`, `monadmesh-node`, `monadmesh node`: the node's supervisor. It holds nothing of
// the node's (no key, no sockets, no sandboxes) and imports nothing heavy, so nothing a task does
// can reach it. It runs the node (node-main.ts) as its child, in a process group of its own
// with the node's sandbox processes, and when the node dies after it started, it kills what is
// left of that group (a sandbox stuck in a loop does not end with its node) and starts the node
// again. A node that fails to start (bad flags, an unreadable key) is not retried: its exit code
// is this process's. With --no-restart the node runs here, unsupervised.

const argv = process.argv.slice(2);
if (argv.includes('--no-restart') || argv.includes('--help') || argv.includes('-h')) {
  await import('./node-main.ts');
} else {
  supervise(argv);
}

function supervise(args: string[]): void {
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString()}] supervisor: ${line}\n`);
  const entry = fileURLToPath(new URL('./node-main.ts', import.meta.url));
  const policy = new RestartPolicy();
  let child: ReturnType<typeof fork> | undefined;
  let stopping: NodeJS.Signals | undefined;
  let timer: NodeJS.Timeout | undefined;

  const start = () => {
    timer = undefined;
    let up = false;
    const startedAt = Date.now();
    const node = fork(entry, args, {
      execPath: process.execPath,
      // Its own process group, which its sandbox processes join: one kill ends them all.
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child = node;
    node.on('message', (message: { type?: string }) => {
      if (message?.type === 'up' && !up) {
        up = true;
        log(`node process ${node.pid} started`);
      }
    });
    node.once('exit', (code, signal) => {
      child = undefined;
      killGroup(node.pid);
      if (stopping) process.exit(code ?? 0);
      if (!up) {
        // It never started (usage, key or port errors): starting it again would fail the same way.
        process.exit(code ?? 1);
      }
      const delayMs = policy.next(Date.now() - startedAt);
      log(
        `node process ${node.pid} died (${signal ?? `exit code ${code}`}); starting it again in ${delayMs / 1000} s`,
      );
      timer = setTimeout(start, delayMs);
    });
  };

  const onSignal = (signal: NodeJS.Signals) => {
    // A second Ctrl-C is passed on too: the node then quits without waiting for its tasks.
    stopping = signal;
    if (timer) {
      clearTimeout(timer);
      process.exit(0);
    }
    child?.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', () => onSignal('SIGTERM'));
  start();
}

/** Ends every process left in the dead node's group (its sandboxes). */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is empty already.
  }
}
