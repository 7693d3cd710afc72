#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { ComputeNode, type NodeEvent } from '../core/compute-node.ts';
import { computeFingerprint } from '../core/fingerprint.ts';
import { headlessEngine } from './headless-engine.ts';
import { ThreadExecutor } from './thread-executor.ts';

const USAGE = `monadmesh-node: lend this machine's CPU to a MonadMesh API

Usage: npm run node -- [--api URL] [--capacity N] [--name NAME] [--node-id ID] [--verbose]

  --api URL        API to join (default http://127.0.0.1:8787, or $MONADMESH_API)
  --capacity N     tasks run at once, one worker thread each (default: CPU count, ${availableParallelism()})
  --name NAME      a name shown in the node list
  --node-id ID     a stable id (default: random per start)
  --verbose        log every task
  --help           this text
`;

// Local-time Date methods inside the sandbox follow the process's time zone; pin it so every
// headless node formats dates the same way (Date.now() itself is already the task's clock).
process.env.TZ = 'UTC';

async function main(): Promise<void> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  const capacity = args.capacity === undefined ? availableParallelism() : Number(args.capacity);
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 256) {
    process.stderr.write(`--capacity must be an integer from 1 to 256, got ${args.capacity}\n`);
    process.exit(2);
  }
  const api = args.api ?? process.env.MONADMESH_API ?? 'http://127.0.0.1:8787';
  try {
    new URL(api);
  } catch {
    process.stderr.write(`--api must be a URL, got ${api}\n`);
    process.exit(2);
  }
  const nodeId = args['node-id'] ?? `headless-${randomBytes(6).toString('hex')}`;
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString()}] ${line}\n`);
  const executor = new ThreadExecutor({ threads: capacity });
  // Measured in a sandbox worker before joining, so the hub can group this node with its peers.
  const fingerprint = await computeFingerprint({ executor, engine: headlessEngine() });
  log(`runtime class ${fingerprint.class} (node ${fingerprint.engine.version}, V8 ${fingerprint.engine.v8})`);
  const node = new ComputeNode({
    api,
    executor,
    nodeId,
    kind: 'headless',
    ...(args.name ? { name: args.name } : {}),
    version: '0.1.0',
    fingerprint,
    onEvent: (e: NodeEvent) => {
      switch (e.type) {
        case 'connected':
          log(`connected to ${api} as ${e.nodeId} (${capacity} worker threads)`);
          break;
        case 'disconnected':
          log(`disconnected (${e.code}${e.reason ? ` ${e.reason}` : ''}); reconnecting in ${e.retryInMs} ms`);
          break;
        case 'task.finished':
          if (args.verbose || !e.result.ok) {
            const what = e.result.ok
              ? 'ok'
              : `${e.result.error.kind}: ${e.result.error.message.split('\n')[0]}`;
            log(
              `task ${e.task.jobId}#${e.task.index} attempt ${e.task.attempt}: ${what} (${e.result.durationMs.toFixed(1)} ms)`,
            );
          }
          break;
        case 'revoked':
          log(`${e.count} lease(s) revoked: ${e.reason}`);
          break;
        case 'ignored':
          log(`${e.count} result(s) not counted: ${[...new Set(e.reasons)].join('; ')}`);
          break;
        case 'hub.error':
          log(`hub error: ${e.message}`);
          break;
      }
    },
  });
  node.start();
  log(`joining ${api} ...`);
  const stats = setInterval(() => {
    const s = node.stats;
    log(`completed ${s.completed}, failed ${s.failed}, running ${node.running}, queued ${node.queued}`);
  }, 30_000);
  stats.unref();
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log(`${signal}: finishing running tasks (Ctrl-C again to quit now)`);
    await node.stop(10_000);
    await executor.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

function parse() {
  return parseArgs({
    options: {
      api: { type: 'string' },
      capacity: { type: 'string' },
      name: { type: 'string' },
      'node-id': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }).values;
}

await main();
