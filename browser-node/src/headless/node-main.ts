import { readFileSync } from 'node:fs';
import { availableParallelism, platform } from 'node:os';
import { parseArgs } from 'node:util';
import { linkNodeWithPrivateKey } from '../../../client/node-link.ts';
import { DEV_PRIVATE_KEYS } from '../../../client/sign-in.ts';
import { NodeOwnerLink, type NodeReputation } from '../../../protocol/index.ts';
import { ComputeNode, type NodeEvent } from '../core/compute-node.ts';
import { computeFingerprint } from '../core/fingerprint.ts';
import { loadOrCreateIdentity, type NodeIdentity } from '../core/identity.ts';
import { BoundedBlockstore } from '../core/p2p/bounded-blockstore.ts';
import { DataPlane } from '../core/p2p/data-plane.ts';
import { MeshPeer } from '../core/p2p/mesh-peer.ts';
import { parseSaboteur, SaboteurExecutor } from '../core/saboteur.ts';
import { verdictNews } from '../core/verdict-news.ts';
import { defaultKeyFile, FileKeyStore } from './file-key-store.ts';
import { headlessEngine } from './headless-engine.ts';
import { headlessTransports } from './p2p-host.ts';
import { ProcessExecutor } from './process-executor.ts';
import { ThreadExecutor } from './thread-executor.ts';

// The headless node itself. `cli.ts` runs it as a supervised child process (or, with
// --no-restart, imports it into its own process).

const USAGE = `monadmesh-node: lend this machine's CPU to a MonadMesh API

Usage: npm run node -- [--api URL] [--capacity N] [--isolation process|thread] [--name NAME] [--key-file PATH] [--node-id ID]
                        [--listen HOST] [--p2p-port N] [--ws-port N] [--no-relay] [--cache-mb N]
                        [--cpu-share PERCENT] [--owner-link FILE | --dev-owner] [--verbose] [--no-restart]

  --api URL        API to join (default http://127.0.0.1:8787, or $MONADMESH_API)
  --capacity N     tasks run at once, one sandbox each (default: CPU count, ${availableParallelism()})
  --isolation KIND process (default on Linux): each sandbox is a child process under Node's permission
                   model with a heap limit and its resident memory watched, so no task can stop
                   the node or reach its key; thread: worker threads in the node's own process
                   (faster to start, weaker: V8's limits only; the default elsewhere)
  --name NAME      a name shown in the node list
  --key-file PATH  the node's Ed25519 key, created (mode 0600) on first start; it signs every
                   result (default $MONADMESH_NODE_KEY_FILE, or ~/.monadmesh/node-key). Two nodes
                   on one machine need two key files.
  --node-id ID     the id the hub knows the node by (default: the key's peer id)
  --listen HOST    interface the libp2p peer listens on (default 127.0.0.1; 0.0.0.0 for others to
                   reach it); code and inputs come from peers that hold them, then the API
  --p2p-port N     TCP port for node-to-node libp2p (default: any free port)
  --ws-port N      WebSocket port browsers reach this node's relay on (default: any free port)
  --no-relay       do not relay for browser nodes
  --allow-private-addresses
                   dial peers at loopback/private addresses (on by itself when --api is such an
                   address: local development or a LAN; off on a public network)
  --cache-mb N     block cache size in MB (default 512)
  --cpu-share P    use P% (5-100) of each thread's time: after a task a thread rests in
                   proportion (default 100)
  --owner-link FILE
                   a wallet's signed link for this node ({"message","signature"} JSON, made with
                   linkNodeWithPrivateKey or linkNodeWithEip1193 of the client library): the
                   node's accepted work counts for that wallet. Anonymous without.
  --dev-owner      link the node to the development wallet (anvil's first account, the one
                   \`npm run dev:key\` and \`monadmesh login --dev\` use), so it is trusted with
                   that wallet's jobs. Only with an API on this machine.
  --saboteur RATE[@N]
                   FOR TESTS OF VERIFICATION: return a wrong answer to this fraction (0-1) of
                   tasks; with @N, only after answering its first N tasks honestly (a sleeper
                   that earns trust first). Only with an API on this machine.
  --verbose        log every task, and where each blob's blocks came from
  --no-restart     run the node in this process, unsupervised. By default a small supervisor
                   process runs the node as its child and starts it again if it ever dies
                   (1 s, doubling to 30 s between tries), after ending what the dead node left
                   running; it stops only on Ctrl-C or SIGTERM, or when the node cannot start.
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
  // Off Linux there is no /proc to watch a process's memory by: threads bound ArrayBuffers there.
  const isolation = String(args.isolation ?? (platform() === 'linux' ? 'process' : 'thread'));
  if (isolation !== 'process' && isolation !== 'thread') {
    process.stderr.write(`--isolation must be process or thread, got ${args.isolation}\n`);
    process.exit(2);
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
  const keyFile = args['key-file'] ?? defaultKeyFile();
  let identity: NodeIdentity;
  try {
    identity = await loadOrCreateIdentity(new FileKeyStore(keyFile));
  } catch (err) {
    process.stderr.write(`monadmesh-node: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const nodeId = args['node-id'] ?? identity.peerId.toString();
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString()}] ${line}\n`);
  log(`peer id ${identity.peerId} (key ${keyFile})`);
  const cacheMb = Number(args['cache-mb'] ?? 512);
  if (!Number.isFinite(cacheMb) || cacheMb < 16) {
    process.stderr.write(`--cache-mb must be a number of at least 16, got ${args['cache-mb']}\n`);
    process.exit(2);
  }
  const cpuShare = Number(args['cpu-share'] ?? 100);
  if (!Number.isFinite(cpuShare) || cpuShare < 5 || cpuShare > 100) {
    process.stderr.write(`--cpu-share must be a percentage from 5 to 100, got ${args['cpu-share']}\n`);
    process.exit(2);
  }
  let owner: NodeOwnerLink | undefined;
  for (const flag of ['dev-owner', 'saboteur'] as const) {
    if (args[flag] !== undefined && args[flag] !== false && !isLoopbackUrl(api)) {
      process.stderr.write(`--${flag} is for development: only with an API on this machine, not ${api}\n`);
      process.exit(2);
    }
  }
  const saboteur = args.saboteur === undefined ? undefined : parseSaboteur(String(args.saboteur));
  if (args.saboteur !== undefined && !saboteur) {
    process.stderr.write(
      `--saboteur must be a fraction from 0 to 1, optionally @N (honest tasks first), got ${args.saboteur}\n`,
    );
    process.exit(2);
  }
  if (args['dev-owner'] && args['owner-link']) {
    process.stderr.write('give --owner-link or --dev-owner, not both\n');
    process.exit(2);
  }
  if (args['dev-owner']) {
    owner = await linkNodeWithPrivateKey({
      url: api,
      peerId: identity.peerId.toString(),
      privateKey: DEV_PRIVATE_KEYS[0]!,
    });
  }
  if (args['owner-link']) {
    try {
      owner = NodeOwnerLink.parse(JSON.parse(readFileSync(args['owner-link'], 'utf8')));
    } catch (err) {
      process.stderr.write(
        `--owner-link: ${args['owner-link']} is not a link file: ${(err as Error).message}\n`,
      );
      process.exit(2);
    }
  }
  const relay = !args['no-relay'];
  let dataPlane: DataPlane | undefined;
  const blockstore = new BoundedBlockstore({
    maxBytes: cacheMb * 1024 * 1024,
    onEvict: (cid) => dataPlane?.evicted(cid),
  });
  const peer = await MeshPeer.create({
    privateKey: identity.privateKey,
    host: headlessTransports({
      relay,
      allowPrivateAddresses: args['allow-private-addresses'] || isLocalUrl(api),
      ...(args.listen ? { host: args.listen } : {}),
      ...(args['p2p-port'] ? { tcpPort: Number(args['p2p-port']) } : {}),
      ...(args['ws-port'] ? { wsPort: Number(args['ws-port']) } : {}),
    }),
    blockstore,
    origin: api,
  });
  dataPlane = new DataPlane(peer, {
    ...(args.verbose
      ? {
          onFetched: ({ cid, stats, ms }) =>
            log(
              `blob ${cid}: ${stats.fromPeers} block(s) from peers, ${stats.fromOrigin} from the API, ${stats.local} cached (${ms.toFixed(0)} ms)`,
            ),
        }
      : {}),
  });
  log(`libp2p listening on ${peer.multiaddrs().join(' ')}${relay ? ' (relaying for browsers)' : ''}`);
  const sandboxes =
    isolation === 'thread'
      ? new ThreadExecutor({ threads: capacity })
      : new ProcessExecutor({ processes: capacity });
  log(
    sandboxes instanceof ProcessExecutor
      ? `sandboxes: ${capacity} child process(es) under Node's permission model; memory: ${sandboxes.memoryLimits}`
      : `sandboxes: ${capacity} worker thread(s) in this process (V8 heap limits; --isolation thread)`,
  );
  // Measured in a sandbox worker before joining, so the hub can group this node with its peers.
  const fingerprint = await computeFingerprint({ executor: sandboxes, engine: headlessEngine() });
  const executor = saboteur
    ? new SaboteurExecutor(
        sandboxes,
        saboteur.rate,
        identity.peerId.toString(),
        Math.random,
        saboteur.honestFirst,
      )
    : sandboxes;
  if (saboteur)
    log(
      `SABOTEUR: a wrong answer to ${saboteur.rate * 100}% of tasks${saboteur.honestFirst ? ` after the first ${saboteur.honestFirst}` : ''} (a test of verification)`,
    );
  log(`runtime class ${fingerprint.class} (node ${fingerprint.engine.version}, V8 ${fingerprint.engine.v8})`);
  /** The last standing heard, to tell the operator what verification changed. */
  let reputation: NodeReputation | undefined;
  const node = new ComputeNode({
    api,
    executor,
    nodeId,
    identity,
    dataPlane,
    relay,
    kind: 'headless',
    ...(args.name ? { name: args.name } : {}),
    version: '0.1.0',
    fingerprint,
    cpuShare: cpuShare / 100,
    ...(owner ? { owner } : {}),
    onEvent: (e: NodeEvent) => {
      switch (e.type) {
        case 'connected':
          log(
            `connected to ${api} as ${e.nodeId} (${capacity} sandbox ${isolation === 'thread' ? 'threads' : 'processes'})`,
          );
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
        case 'standing': {
          if (e.standing.ownerError) log(`wallet link refused: ${e.standing.ownerError}`);
          const news = verdictNews(reputation, e.standing.reputation);
          if (news) log(news);
          reputation = e.standing.reputation;
          break;
        }
      }
    },
  });
  node.start();
  log(`joining ${api} ...`);
  // Started: from here on, the supervisor (cli.ts) starts this process again if it dies.
  process.send?.({ type: 'up' });
  const stats = setInterval(() => {
    const s = node.stats;
    const r = node.standing?.reputation;
    log(
      `completed ${s.completed}, failed ${s.failed}, running ${node.running}, queued ${node.queued}` +
        (r ? `, reputation ${(r.score * 100).toFixed(0)}% (${r.accepted} accepted)` : '') +
        (node.standing?.owner ? `, working for ${node.standing.owner}` : ''),
    );
  }, 30_000);
  stats.unref();
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log(`${signal}: finishing running tasks (Ctrl-C again to quit now)`);
    await node.stop(10_000);
    await executor.close();
    await peer.stop().catch(() => {});
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // The supervisor is gone: someone killed it (as they would kill an unsupervised node), and
  // nothing would restart this node or forward a signal to it. The node ends at once, with its
  // sandboxes (its process group, of which it is the leader under the supervisor).
  process.on('disconnect', () => {
    try {
      process.kill(-process.pid, 'SIGKILL');
    } catch {
      process.exit(1);
    }
  });
}

/** An API on this machine. */
function isLoopbackUrl(api: string): boolean {
  const host = new URL(api).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** An API on loopback or a private network: a local or LAN mesh, whose peers have such addresses. */
function isLocalUrl(api: string): boolean {
  const host = new URL(api).hostname.replace(/^\[|\]$/g, '');
  return (
    host === 'localhost' ||
    host === '::1' ||
    /^127\./.test(host) ||
    /^10\./.test(host) ||
    /^192\.168\./.test(host) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(host)
  );
}

function parse() {
  return parseArgs({
    options: {
      api: { type: 'string' },
      capacity: { type: 'string' },
      isolation: { type: 'string' },
      name: { type: 'string' },
      'key-file': { type: 'string' },
      'node-id': { type: 'string' },
      listen: { type: 'string' },
      'p2p-port': { type: 'string' },
      'ws-port': { type: 'string' },
      'no-relay': { type: 'boolean', default: false },
      'allow-private-addresses': { type: 'boolean', default: false },
      'cache-mb': { type: 'string' },
      'cpu-share': { type: 'string' },
      'owner-link': { type: 'string' },
      'dev-owner': { type: 'boolean', default: false },
      saboteur: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      'no-restart': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }).values;
}

await main();
