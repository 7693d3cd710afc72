import { type ChildProcess, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, freemem } from 'node:os';
import { chunkBlob } from '../protocol/blob-dag.ts';
import { percentile, table, writeResult } from './report.ts';

// `npm run bench -- blobs`: one 64 MiB input distributed to N nodes (N = 2, 4, 8), through the
// mesh and from the origin alone. Each node is a MeshPeer (libp2p + Helia bitswap, the block cache
// and origin fallback the compute nodes use) in its own process (bench/blobs-peer.ts), so N nodes
// really run in parallel as far as the machine's cores allow. The origin is a local HTTP server
// serving `GET /api/v1/blobs/{cid}` block by block from memory (the blob chunked by `chunkBlob`,
// the layout nodes and the API use), counting what it sends. Variants, each from a cold start
// (empty caches, no connections between the nodes):
//   - origin only: every node fetches the blob with no peers and no providers;
//   - mesh: the nodes are connected to each other (headless nodes keep connections to up to 8
//     relays, and every headless node relays), and fetch with the providers the hub would name
//     (up to 4, holders first, then nodes still fetching), in two schedules:
//       - one holder: one node fetches it from the origin; then the others fetch it together,
//         the first node named as provider (nodes that get the job after the blob reached one);
//       - all at once: every node starts together, node i named nodes 0..i-1 as providers (the
//         hub names nodes leased the blob earlier while they fetch it; bitswap hands each block
//         on as it arrives);
//     at MeshPeer's grace (a block request waits 3 s for peers, then also asks the origin: what
//     nodes do today), and "one holder" also with a 60 s grace (peers deliver all they can);
//   - mesh over WebRTC: "one holder" with the nodes connected over /webrtc (node-datachannel), set
//     up through a circuit-relay-v2 relay (another node process) as tabs connect; 60 s grace, so
//     the time compares with TCP's. For N = 2 and 4 unless BENCH_BLOB_WEBRTC_NODES says otherwise
//     (at 8 it takes over a minute here); the connections are set up for every N all the same.
// Connections are made before the clock starts; their set-up is measured on its own: every WebRTC
// dial has a deadline and is retried on a clean slate when it hangs.
// Reported per N and variant: bytes the origin served, time until the first and all nodes have the
// blob whole (every node's bytes are hashed and checked), block bytes moved between nodes.
//
// Environment: BENCH_BLOB_MB (default 64), BENCH_BLOB_NODES (default 2,4,8), BENCH_BLOB_WEBRTC=0
// to skip WebRTC, BENCH_BLOB_TCP=0 to skip the rest, BENCH_BLOB_TIMEOUT_S (per distribution,
// default 120).

const MiB = 1024 * 1024;
const BLOB_MB = Number(process.env.BENCH_BLOB_MB ?? 64);
const WANTED_NODES = (process.env.BENCH_BLOB_NODES ?? '2,4,8')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n >= 2)
  .sort((a, b) => a - b);
const WEBRTC = process.env.BENCH_BLOB_WEBRTC !== '0';
/** N for which the blob is also distributed over WebRTC (all N still set up WebRTC connections). */
const WEBRTC_NODES = (process.env.BENCH_BLOB_WEBRTC_NODES ?? '2,4').split(',').map(Number);
const TCP = process.env.BENCH_BLOB_TCP !== '0';
const RUN_TIMEOUT_MS = Number(process.env.BENCH_BLOB_TIMEOUT_S ?? 120) * 1000;
const DIAL_TIMEOUT_MS = 5_000;
const DIAL_ATTEMPTS = 3;
const MIN_WEBRTC_DIALS = 24;
const CACHE_MB = Math.max(256, 2 * BLOB_MB + 64);
/** A grace long enough that nodes wait for their peers whatever the load (`undefined`: MeshPeer's). */
const PATIENT_GRACE_MS = 60_000;

// ---- the blob: deterministic bytes (xorshift32), chunked as nodes and the API chunk it

function blobBytes(length: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(length);
  const words = new Uint32Array(out.buffer, 0, Math.floor(length / 4));
  let x = seed >>> 0;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  for (let i = words.length * 4; i < length; i++) out[i] = i & 0xff;
  return out;
}

const bytes = blobBytes(BLOB_MB * MiB);
const expectedSha = createHash('sha256').update(bytes).digest('hex');
const { root, blocks } = await chunkBlob(bytes);
const cid = root.toString();
const blockBytes = new Map(blocks.map((b) => [b.cid.toString(), b.bytes]));

// ---- the origin: GET /api/v1/blobs/{cid}, one block per request, counted

const served = { bytes: 0, requests: 0 };
const server = createServer((req, res) => {
  const key = /^\/api\/v1\/blobs\/([a-z0-9]+)$/.exec(req.url ?? '')?.[1];
  const block = key ? blockBytes.get(key) : undefined;
  if (!block) {
    res.writeHead(404).end();
    return;
  }
  served.bytes += block.byteLength;
  served.requests++;
  res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(block);
});
server.keepAliveTimeout = 30_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const originUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// ---- a node process, driven over IPC

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}
interface GetReply extends Reply {
  ms: number;
  size: number;
  sha256: string;
  stats: { fromPeers: number; fromOrigin: number; local: number };
}
interface DialAttempt {
  ms: number;
  ok: boolean;
  error?: string;
  transport?: string;
}
interface DialReply extends Reply {
  connected: boolean;
  attempts: DialAttempt[];
}
interface ConnsReply extends Reply {
  conns: { peerId: string; addr: string; limited: boolean }[];
  receivedBytes: number;
  receivedBlocks: number;
}

class Peer {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  #next = 1;
  peerId = '';
  addrs: string[] = [];
  defaultGraceMs = Number.NaN;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (msg: Reply) => {
      const waiter = this.#pending.get(msg.id);
      if (!waiter) return;
      this.#pending.delete(msg.id);
      if (msg.ok) waiter.resolve(msg);
      else waiter.reject(new Error(msg.error));
    });
    child.on('exit', (code) => {
      for (const w of this.#pending.values()) w.reject(new Error(`node process exited (${code})`));
      this.#pending.clear();
    });
  }

  static async start(env: Record<string, string>): Promise<Peer> {
    const child = fork(new URL('./blobs-peer.ts', import.meta.url), [], {
      env: {
        ...process.env,
        BLOB_PEER_ORIGIN: originUrl,
        BLOB_PEER_CACHE_MB: String(CACHE_MB),
        ...env,
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const peer = new Peer(child);
    const ready = await new Promise<Reply>((resolve, reject) => {
      peer.#pending.set(0, { resolve, reject });
      setTimeout(() => reject(new Error('node process did not start in 60 s')), 60_000).unref();
    });
    peer.peerId = ready.peerId as string;
    peer.addrs = ready.addrs as string[];
    peer.defaultGraceMs = ready.defaultGraceMs as number;
    return peer;
  }

  call<T extends Reply>(op: string, body: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#child.send({ id, op, ...body });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.#child.once('exit', r));
    await this.call('stop', {}, 5_000).catch(() => {});
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (this.#child.exitCode === null) this.#child.kill('SIGKILL');
  }
}

// ---- connecting and distributing

type Transport = 'tcp' | 'webrtc';

/** Addresses of `peer` for `transport`: its loopback TCP listener, or its relayed /webrtc address. */
function addrsFor(peer: Peer, transport: Transport): string[] {
  const picked =
    transport === 'tcp'
      ? peer.addrs.filter((a) => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//.test(a))
      : peer.addrs.filter((a) => a.includes('/p2p-circuit/webrtc/'));
  if (!picked.length)
    throw new Error(`${peer.peerId} has no ${transport} address in ${peer.addrs.join(' ')}`);
  return picked;
}

interface DialRecord {
  transport: Transport;
  /** How many nodes were up in the group being connected. */
  nodes: number;
  connected: boolean;
  attempts: DialAttempt[];
  /** From the first attempt to the connection, retries included. */
  totalMs: number;
}

/** Connect every pair, one dial at a time (set-up times are not muddled by each other). */
async function connectAll(peers: Peer[], transport: Transport): Promise<DialRecord[]> {
  const records: DialRecord[] = [];
  for (let i = 0; i < peers.length; i++) {
    for (let j = i + 1; j < peers.length; j++)
      records.push(await dial(peers[i]!, peers[j]!, transport, peers.length));
  }
  const failed = records.filter((r) => !r.connected).length;
  if (failed) throw new Error(`${failed} of ${records.length} ${transport} connections could not be made`);
  return records;
}

async function dial(from: Peer, to: Peer, transport: Transport, nodes: number): Promise<DialRecord> {
  const r = await from.call<DialReply>(
    'dial',
    {
      peerId: to.peerId,
      addrs: addrsFor(to, transport),
      timeoutMs: DIAL_TIMEOUT_MS,
      attempts: DIAL_ATTEMPTS,
      webrtc: transport === 'webrtc',
    },
    DIAL_TIMEOUT_MS * DIAL_ATTEMPTS + 10_000,
  );
  return {
    transport,
    nodes,
    connected: r.connected,
    attempts: r.attempts,
    totalMs: r.attempts.reduce((n, a) => n + a.ms, 0),
  };
}

type Mode = 'origin' | 'holder' | 'together';
/** Providers the hub names per blob in a lease (durable-objects/peer-registry.ts). */
const PROVIDERS_PER_BLOB = 4;

interface Run {
  nodes: number;
  variant: string;
  transport: Transport | 'none';
  /** How long a block request waited for peers before it also asked the origin. */
  graceMs: number | null;
  ok: boolean;
  error?: string;
  originBytes: number;
  originRequests: number;
  peerBytes: number;
  firstMs: number;
  allMs: number;
  perNode: { ms: number; fromPeers: number; fromOrigin: number }[];
  connections?: Record<string, number>;
}

const VARIANTS: Record<Mode, string> = {
  origin: 'origin only',
  holder: 'mesh, one holder',
  together: 'mesh, all at once',
};

async function distribute(
  peers: Peer[],
  mode: Mode,
  transport: Transport | 'none',
  graceMs?: number,
): Promise<Run> {
  served.bytes = 0;
  served.requests = 0;
  const seed = peers[0]!;
  const t0 = performance.now();
  const done: number[] = [];
  const get = async (peer: Peer, providers: string[]) => {
    const r = await peer.call<GetReply>(
      'get',
      { cid, providers, ...(graceMs !== undefined ? { graceMs } : {}) },
      RUN_TIMEOUT_MS,
    );
    if (r.size !== bytes.byteLength || r.sha256 !== expectedSha)
      throw new Error(`node ${peer.peerId} got ${r.size} bytes with the wrong hash`);
    done.push(performance.now() - t0);
    return r;
  };
  const run: Run = {
    nodes: peers.length,
    variant: VARIANTS[mode],
    transport,
    graceMs: mode === 'origin' ? null : (graceMs ?? seed.defaultGraceMs),
    ok: false,
    originBytes: 0,
    originRequests: 0,
    peerBytes: 0,
    firstMs: Number.NaN,
    allMs: Number.NaN,
    perNode: [],
  };
  try {
    let results: GetReply[];
    if (mode === 'origin') results = await Promise.all(peers.map((p) => get(p, [])));
    else if (mode === 'holder') {
      // The hub knows no holder yet: one node gets it from the origin and announces it; the
      // others then get a lease with that holder as provider.
      const first = await get(seed, []);
      results = [first, ...(await Promise.all(peers.slice(1).map((p) => get(p, [seed.peerId]))))];
    } else {
      results = await Promise.all(
        peers.map((p, i) =>
          get(
            p,
            peers.slice(0, Math.min(i, PROVIDERS_PER_BLOB)).map((q) => q.peerId),
          ),
        ),
      );
    }
    run.allMs = performance.now() - t0;
    run.firstMs = Math.min(...done);
    run.ok = true;
    run.perNode = results.map((r) => ({
      ms: r.ms,
      fromPeers: r.stats.fromPeers,
      fromOrigin: r.stats.fromOrigin,
    }));
  } catch (error) {
    run.error = (error as Error).message;
  }
  run.originBytes = served.bytes;
  run.originRequests = served.requests;
  const conns = await Promise.all(peers.map((p) => p.call<ConnsReply>('conns').catch(() => undefined)));
  run.peerBytes = conns.reduce((n, c) => n + (c?.receivedBytes ?? 0), 0);
  // Which connections the nodes had between them (the relay's are not counted): the data must
  // have gone the way the variant says.
  const ids = new Set(peers.map((p) => p.peerId));
  const kinds: Record<string, number> = {};
  for (const c of conns) {
    for (const conn of c?.conns ?? []) {
      if (!ids.has(conn.peerId)) continue;
      const kind = conn.addr.includes('/webrtc')
        ? 'webrtc'
        : conn.limited
          ? 'relayed (limited, signalling only)'
          : conn.addr.includes('p2p-circuit')
            ? 'relayed'
            : 'tcp';
      kinds[kind] = (kinds[kind] ?? 0) + 1;
    }
  }
  run.connections = kinds;
  const wrong =
    transport === 'none'
      ? Object.keys(kinds).length > 0 || run.peerBytes > 0
      : transport === 'webrtc'
        ? Boolean(kinds.tcp || kinds.relayed)
        : Boolean(kinds.webrtc || kinds.relayed);
  if (wrong && run.ok) {
    run.ok = false;
    run.error = `connections between nodes other than ${transport}: ${JSON.stringify(kinds)}`;
  }
  const state = run.ok
    ? `${(run.originBytes / MiB).toFixed(0)} MiB from the origin, all in ${run.allMs.toFixed(0)} ms`
    : `FAILED: ${run.error}`;
  const how = run.graceMs === null ? '' : ` [${transport}, grace ${run.graceMs / 1000} s]`;
  process.stderr.write(`  N=${peers.length} ${run.variant}${how}: ${state}\n`);
  return run;
}

async function reset(peers: Peer[], keep: string[] = []): Promise<void> {
  await Promise.all(peers.map((p) => p.call('reset', { keep }, 20_000)));
}

// ---- the runs

const cores = availableParallelism();
// Each node holds the blob about three times over at its peak (cache, assembled bytes, buffers).
const perNodeBytes = 3 * BLOB_MB * MiB + 200 * MiB;
const budget = freemem() * 0.8;
const nodesList = WANTED_NODES.filter((n) => (n + (WEBRTC ? 1 : 0)) * perNodeBytes < budget);
const skipped = WANTED_NODES.filter((n) => !nodesList.includes(n)).map(
  (n) =>
    `N=${n}: needs about ${((n * perNodeBytes) / 2 ** 30).toFixed(1)} GiB, ${(budget / 2 ** 30).toFixed(1)} GiB free`,
);
const maxNodes = Math.max(0, ...nodesList);
if (!maxNodes)
  throw new Error(`not enough memory for any of N = ${WANTED_NODES.join(', ')}: ${skipped.join('; ')}`);

process.stderr.write(
  `blobs: ${BLOB_MB} MiB (${blocks.length} blocks, root ${cid}) to N = ${nodesList.join(', ')} node processes on ${cores} cores\n`,
);
const started = performance.now();
const runs: Run[] = [];
const tcpDials: DialRecord[] = [];
const webrtcDials: DialRecord[] = [];

// TCP: one process per node, reused across N (reset to empty caches and no connections between runs).
if (TCP) {
  const peers = await Promise.all(Array.from({ length: maxNodes }, () => Peer.start({})));
  try {
    for (const n of nodesList) {
      const group = peers.slice(0, n);
      runs.push(await distribute(group, 'origin', 'none'));
      await reset(group);
      const meshRuns: [Mode, number | undefined][] = [
        ['holder', undefined],
        ['holder', PATIENT_GRACE_MS],
        ['together', undefined],
      ];
      for (const [mode, grace] of meshRuns) {
        tcpDials.push(...(await connectAll(group, 'tcp')));
        runs.push(await distribute(group, mode, 'tcp', grace));
        await reset(group);
      }
    }
  } finally {
    await Promise.all(peers.map((p) => p.stop()));
  }
}

// WebRTC: a relay node, and node processes that reserve a slot on it (their /webrtc address).
const webrtcNotes: string[] = [];
if (WEBRTC) {
  const relay = await Peer.start({ BLOB_PEER_ROLE: 'relay' });
  const relayTcp = addrsFor(relay, 'tcp')[0]!;
  const peers = await Promise.all(
    Array.from({ length: maxNodes }, () => Peer.start({ BLOB_PEER_RELAY: relayTcp })),
  );
  let reserved = true;
  try {
    await Promise.all(
      peers.map(async (p) => {
        p.addrs = (await p.call<Reply & { addrs: string[] }>('addrs', { webrtc: true }, 20_000)).addrs;
      }),
    );
  } catch (error) {
    // Reported, not fatal: the TCP rows above stand on their own.
    reserved = false;
    webrtcNotes.push(`WebRTC skipped: ${(error as Error).message}`);
    process.stderr.write(`  WebRTC skipped: ${(error as Error).message}\n`);
  }
  try {
    for (const n of reserved ? nodesList : []) {
      const group = peers.slice(0, n);
      try {
        webrtcDials.push(...(await connectAll(group, 'webrtc')));
        if (WEBRTC_NODES.includes(n))
          runs.push(await distribute(group, 'holder', 'webrtc', PATIENT_GRACE_MS));
      } catch (error) {
        webrtcNotes.push(`N=${n} over WebRTC: ${(error as Error).message}`);
        process.stderr.write(`  N=${n} mesh over WebRTC FAILED: ${(error as Error).message}\n`);
      }
      await reset(group, [relay.peerId]);
    }
    // More set-up samples when the runs above made few connections.
    const group = peers.slice(0, maxNodes);
    for (let k = 0; reserved && webrtcDials.length < MIN_WEBRTC_DIALS; k++) {
      const i = k % group.length;
      const j = (i + 1 + Math.floor(k / group.length)) % group.length;
      if (i !== j) webrtcDials.push(await dial(group[i]!, group[j]!, 'webrtc', group.length));
      await reset(group, [relay.peerId]);
    }
  } finally {
    await Promise.all([...peers, relay].map((p) => p.stop()));
  }
}
server.close();

// ---- report

function setupStats(records: DialRecord[]) {
  const attempts = records.flatMap((r) => r.attempts);
  const okMs = attempts.filter((a) => a.ok).map((a) => a.ms);
  const totals = records.filter((r) => r.connected).map((r) => r.totalMs);
  return {
    connections: records.length,
    failed: records.filter((r) => !r.connected).length,
    attempts: attempts.length,
    hungAttempts: attempts.filter((a) => !a.ok && /Abort|Timeout/i.test(a.error ?? '')).length,
    otherFailedAttempts: attempts.filter((a) => !a.ok && !/Abort|Timeout/i.test(a.error ?? '')).length,
    attemptTimeoutMs: DIAL_TIMEOUT_MS,
    p50Ms: percentile(okMs, 50),
    p99Ms: percentile(okMs, 99),
    maxMs: okMs.length ? Math.max(...okMs) : Number.NaN,
    withRetriesP50Ms: percentile(totals, 50),
    withRetriesP99Ms: percentile(totals, 99),
    errors: attempts.filter((a) => !a.ok).map((a) => a.error),
  };
}

const originOnly = new Map(runs.filter((r) => r.variant === VARIANTS.origin).map((r) => [r.nodes, r]));
const rows = runs.map((r) => {
  const base = originOnly.get(r.nodes);
  const ok = r.ok && base?.ok;
  return {
    N: r.nodes,
    variant: r.variant,
    links: r.transport === 'none' ? '-' : r.transport,
    'grace s': r.graceMs === null ? '-' : r.graceMs / 1000,
    'origin MiB': r.originBytes / MiB,
    'origin ×blob': r.originBytes / (BLOB_MB * MiB),
    'peer MiB moved': r.peerBytes / MiB,
    'first has it ms': r.ok ? Math.round(r.firstMs) : 'failed',
    'all have it ms': r.ok ? Math.round(r.allMs) : 'failed',
    'time vs origin only': ok ? r.allMs / base!.allMs : '-',
  };
});
const setup = { tcp: setupStats(tcpDials), webrtc: WEBRTC ? setupStats(webrtcDials) : undefined };
const notes = [
  'Origin and nodes all run on this one machine over loopback: no bandwidth cap, no added latency; ' +
    'the origin is a local Node HTTP server, not R2 behind the Worker.',
  `Every node is its own process; ${maxNodes} node processes (plus the origin, and a relay for WebRTC) share ${cores} cores, so the larger N are CPU-bound.`,
  'Connections between nodes are made before the clock starts; their set-up is reported separately.',
  'peer MiB moved: block bytes the nodes received from each other over bitswap, duplicates included (bitswap ' +
    'asks every connected peer for a block, so two holders may both send it; the least it can be is (N-1) × blob).',
  'mesh, one holder: one node fetches from the origin, then the others fetch together with it named as provider. ' +
    'mesh, all at once: all start together, each naming the nodes that started before it (up to 4) as providers, ' +
    'as the hub names nodes that are fetching a blob.',
  'grace: how long peers may go without delivering a block before a waiting block request also asks the ' +
    "origin (MeshPeer's default is 3 s); the 60 s rows show what the mesh delivers when nodes wait for it.",
  ...(WEBRTC && nodesList.some((n) => !WEBRTC_NODES.includes(n))
    ? [
        `Over WebRTC the blob was distributed for N = ${nodesList.filter((n) => WEBRTC_NODES.includes(n)).join(', ') || 'none'} ` +
          '(BENCH_BLOB_WEBRTC_NODES); connections were set up for every N.',
      ]
    : []),
  ...webrtcNotes,
  ...skipped.map((s) => `skipped ${s}`),
];

process.stdout.write(`\n${table(rows)}\n\n`);
const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');
process.stdout.write(
  `TCP connection set-up (noise + yamux, loopback), ${setup.tcp.connections} dials: p50 ${fmt(setup.tcp.p50Ms)} ms, p99 ${fmt(setup.tcp.p99Ms)} ms\n`,
);
if (setup.webrtc) {
  const w = setup.webrtc;
  process.stdout.write(
    `WebRTC connection set-up (through a relay, loopback), ${w.connections} connections, ${w.attempts} attempts: ` +
      `p50 ${fmt(w.p50Ms)} ms, p99 ${fmt(w.p99Ms)} ms, max ${fmt(w.maxMs)} ms; ${w.hungAttempts} attempts hung ` +
      `(abandoned after ${DIAL_TIMEOUT_MS} ms and retried), ${w.otherFailedAttempts} failed otherwise, ${w.failed} connections never made; ` +
      `with retries p50 ${fmt(w.withRetriesP50Ms)} ms, p99 ${fmt(w.withRetriesP99Ms)} ms\n`,
  );
}
for (const note of notes) process.stdout.write(`note: ${note}\n`);
const path = writeResult('blobs', {
  blob: { mib: BLOB_MB, root: cid, blocks: blocks.length, sha256: expectedSha },
  nodes: nodesList,
  cores,
  wallMs: Math.round(performance.now() - started),
  rows,
  runs,
  setup,
  dials: {
    tcp: tcpDials.map((d) => ({
      nodes: d.nodes,
      attemptsMs: d.attempts.map((a) => (a.ok ? Math.round(a.ms) : a.error)),
    })),
    webrtc: webrtcDials.map((d) => ({
      nodes: d.nodes,
      attemptsMs: d.attempts.map((a) => (a.ok ? Math.round(a.ms) : a.error)),
    })),
  },
  notes,
});
process.stdout.write(`wrote ${path}\n`);
if (runs.some((r) => !r.ok)) process.exitCode = 1;
