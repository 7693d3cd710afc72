import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { Session } from 'node:inspector/promises';
import { SourceMap } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createApiKey, DEV_PRIVATE_KEYS } from '../client/sign-in.ts';
import { RoomToWatcher } from '../protocol/index.ts';
import { type ApiServer, type Proc, ROOT, startApi, startProcess } from '../scripts/local-mesh.ts';
import { NoopNode } from './noop-node.ts';
import { percentile, table } from './report.ts';

// Where the dispatch path spends its time: CPU profiles of workerd (the Worker and every Durable
// Object share one isolate under `wrangler dev`), of this process (the no-op node, or the
// submitter and watcher in the mesh variant) and of a real headless node, with the CPU time of
// every process involved and the latency phases of one-input jobs. Not a benchmark (bench/run.ts
// lists it among its helpers); run it directly:
//
//   node_modules/.bin/node bench/profile-dispatch.ts [--variant control|mesh] [--tasks 10000]
//     [--latency-jobs 40] [--interval 100] [--top 40] [--warmup 500] [--watcher] [--owner] [--no-profile]
//     [--extra-isolates core:entry] [--out /tmp/dir]
//   node_modules/.bin/node bench/profile-dispatch.ts --analyze /tmp/dir   (summaries of a saved run again)
//
// --observability starts wrangler with its local trace collector on (X_LOCAL_OBSERVABILITY=true;
// wrangler's default, but scripts/local-mesh.ts turns it off): every request, RPC and WebSocket
// message becomes tail events stored in SQLite, which cost the control plane about half of
// workerd's CPU here.
//
// --perf also samples the workerd runtime process (and in mesh the first node, started with
// --perf-basic-prof so that its JavaScript has names) with Linux `perf record` over the big job:
// the native side V8's profiler does not see (SQLite, BoringSSL, zlib, KJ/Cap'n Proto, V8's
// serializer and GC, the kernel). Best with --no-profile, so that the two profilers do not meet.
//
// control: `wrangler dev` and a no-op node in this process that answers every lease at once with
//          signed results (bench/dispatch.ts `runControlPlane`, but holding its credit all along).
// mesh:    `wrangler dev` and two real headless nodes (browser-node/src/headless/cli.ts); the
//          latency jobs run on two `--verbose` nodes (their log says when each task finished),
//          the big job on two fresh quiet ones, the first with `--cpu-prof`.
// The big job is what the profilers see. Profiles (.cpuprofile, open them in Chrome DevTools or
// speedscope) and summary.txt / summary.json go to --out (default /tmp/monadmesh-profile-<time>).
// --no-profile runs the same workload without profilers (their overhead, by comparison).

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    variant: { type: 'string', default: 'control' },
    tasks: { type: 'string', default: '10000' },
    'latency-jobs': { type: 'string', default: '40' },
    interval: { type: 'string', default: '100' },
    top: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '500' },
    watcher: { type: 'boolean' },
    /** The no-op node is linked to the submitting wallet (its word is taken), not anonymous. */
    owner: { type: 'boolean' },
    'no-profile': { type: 'boolean', default: false },
    'extra-isolates': { type: 'string', default: '' },
    out: { type: 'string' },
    analyze: { type: 'string' },
    perf: { type: 'boolean', default: false },
    observability: { type: 'boolean', default: false },
  },
});
const VARIANT = args.variant as 'control' | 'mesh';
if (VARIANT !== 'control' && VARIANT !== 'mesh')
  throw new Error(`--variant is control or mesh, not ${VARIANT}`);
const TASKS = Number(args.tasks);
const LATENCY_JOBS = Number(args['latency-jobs']);
const INTERVAL_US = Number(args.interval);
const TOP = Number(args.top);
const WARMUP = Number(args.warmup);
const PROFILE = !args['no-profile'];
/** Open a watcher on the big job (bench/dispatch.ts does in the mesh variant, not in control). */
const WATCH_BIG = args.watcher ?? VARIANT === 'mesh';
const EXTRA_ISOLATES = args['extra-isolates'].split(',').filter(Boolean);
const THREADS = availableParallelism();
const SOURCE = 'export default (x) => x * 2';
const OUT =
  args.out ??
  join(tmpdir(), `monadmesh-profile-${VARIANT}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
mkdirSync(OUT, { recursive: true });

const report: string[] = [];
const json: Record<string, unknown> = {
  variant: VARIANT,
  tasks: TASKS,
  threads: THREADS,
  intervalUs: INTERVAL_US,
};
const say = (line = '') => {
  report.push(line);
  process.stdout.write(`${line}\n`);
};
const note = (line: string) => process.stderr.write(`[profile] ${line}\n`);
const now = () => performance.now();
/** CLOCK_MONOTONIC in µs: the clock of V8's profile timestamps in any process on this machine. */
const monoUs = () => Number(process.hrtime.bigint() / 1000n);
/** A wall-clock time (ms since the epoch, e.g. from a node's log) on this process's performance.now() scale. */
const fromEpoch = (ms: number) => ms - performance.timeOrigin;

// ---- processes and their CPU time ------------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

function statFields(path: string): string[] | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    const close = text.lastIndexOf(')');
    return [text.slice(text.indexOf('(') + 1, close), ...text.slice(close + 2).split(' ')];
  } catch {
    return undefined;
  }
}
/** [comm, state, ppid, ...]; utime and stime are fields 14 and 15 of stat(5), here indices 12 and 13. */
const ticksOf = (f: string[]) => Number(f[12]) + Number(f[13]);
const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
};

function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = statFields(`/proc/${d}/stat`);
    if (f) parent.set(Number(d), Number(f[2]));
  }
  const out: number[] = [];
  let frontier = [root];
  while (frontier.length) {
    const next = [...parent].filter(([, pp]) => frontier.includes(pp)).map(([p]) => p);
    out.push(...next);
    frontier = next;
  }
  return out;
}

function labelOf(pid: number): string {
  const cmd = cmdline(pid);
  if (cmd.includes('workerd'))
    return cmd.includes('--inspector-addr') ? 'workerd (runtime: Worker + DOs)' : 'workerd (wrangler proxy)';
  if (cmd.includes('esbuild')) return 'esbuild (wrangler)';
  if (cmd.includes('wrangler-dist/cli.js')) return 'wrangler (node)';
  if (cmd.includes('wrangler.js')) return 'wrangler launcher (node)';
  return cmd.slice(0, 60);
}

interface CpuSnapshot {
  at: number;
  procs: Map<string, { pid: number; ticks: number; threads: Map<number, { comm: string; ticks: number }> }>;
  self: NodeJS.CpuUsage;
}

function cpuSnapshot(pids: Map<number, string>): CpuSnapshot {
  const procs: CpuSnapshot['procs'] = new Map();
  for (const [pid, label] of pids) {
    const f = statFields(`/proc/${pid}/stat`);
    if (!f) continue;
    const threads = new Map<number, { comm: string; ticks: number }>();
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const t = statFields(`/proc/${pid}/task/${tid}/stat`);
        if (t) threads.set(Number(tid), { comm: t[0]!, ticks: ticksOf(t) });
      }
    } catch {
      // gone
    }
    procs.set(label, { pid, ticks: ticksOf(f), threads });
  }
  return { at: now(), procs, self: process.cpuUsage() };
}

interface CpuRow {
  process: string;
  'cpu ms': number;
  /** µs per task of the big job, or ms per one-input job. */
  'µs/task': number;
  '% of wall': number;
  'busiest threads (ms)': string;
}

function cpuDelta(
  a: CpuSnapshot,
  b: CpuSnapshot,
  per = { unit: 'task', n: TASKS },
): { wallMs: number; rows: CpuRow[]; totalMs: number } {
  const perUnit = (ms: number) => (per.unit === 'task' ? (ms * 1000) / per.n : ms / per.n);
  const wallMs = b.at - a.at;
  const rows: CpuRow[] = [];
  const tickMs = 1000 / CLK_TCK;
  for (const [label, end] of b.procs) {
    const start = a.procs.get(label);
    const ms = (end.ticks - (start?.ticks ?? 0)) * tickMs;
    const byComm = new Map<string, number>();
    for (const [tid, t] of end.threads) {
      const d = (t.ticks - (start?.threads.get(tid)?.ticks ?? 0)) * tickMs;
      if (d > 0) byComm.set(t.comm, (byComm.get(t.comm) ?? 0) + d);
    }
    const threads = [...byComm]
      .sort((x, y) => y[1] - x[1])
      .slice(0, 4)
      .map(([c, d]) => `${c} ${d.toFixed(0)}`)
      .join(', ');
    rows.push({
      process: label,
      'cpu ms': ms,
      'µs/task': perUnit(ms),
      '% of wall': (ms / wallMs) * 100,
      'busiest threads (ms)': threads,
    });
  }
  const selfMs = (b.self.user - a.self.user + b.self.system - a.self.system) / 1000;
  rows.push({
    process:
      VARIANT === 'control' ? 'this process (no-op node, submitter)' : 'this process (submitter, watcher)',
    'cpu ms': selfMs,
    'µs/task': perUnit(selfMs),
    '% of wall': (selfMs / wallMs) * 100,
    'busiest threads (ms)': '',
  });
  rows.sort((x, y) => y['cpu ms'] - x['cpu ms']);
  const totalMs = rows.reduce((s, r) => s + r['cpu ms'], 0);
  rows.push({
    process: 'total',
    'cpu ms': totalMs,
    'µs/task': perUnit(totalMs),
    '% of wall': (totalMs / wallMs) * 100,
    'busiest threads (ms)': `${THREADS} cores = ${THREADS * 100}%`,
  });
  if (per.unit !== 'task')
    for (const r of rows as unknown as Record<string, unknown>[]) {
      const { process, 'cpu ms': ms, 'µs/task': v, ...rest } = r;
      for (const k of Object.keys(r)) delete r[k];
      Object.assign(r, { process, 'cpu ms': ms, [`ms/${per.unit}`]: v, ...rest });
    }
  return { wallMs, rows, totalMs };
}

// ---- Chrome DevTools Protocol ---------------------------------------------------------------------

/**
 * One CDP session over a WebSocket. workerd (directly, and through wrangler's inspector proxy)
 * answers some commands with `{id, method, params}` where the protocol says `{id, result}`; both
 * count as the answer. Wrangler's proxy wants an Origin header. Keep one session per wrangler run:
 * after a session closes, the proxy stops relaying a new one's commands.
 */
class Cdp {
  #ws: WebSocket;
  #id = 0;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.addEventListener('message', (e) => {
      const msg = JSON.parse(String(e.data)) as {
        id?: number;
        result?: unknown;
        params?: unknown;
        error?: { message: string };
      };
      if (msg.id === undefined) return;
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`CDP: ${msg.error.message}`));
      else p.resolve(msg.result ?? msg.params ?? {});
    });
    ws.addEventListener('close', () => {
      for (const p of this.#pending.values()) p.reject(new Error('CDP socket closed'));
      this.#pending.clear();
    });
  }
  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url, { headers: { origin: 'http://localhost' } } as never);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error(`cannot open the inspector at ${url}`)));
    });
    return new Cdp(ws);
  }
  send<T>(method: string, params: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
    const id = ++this.#id;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`CDP ${method}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }
  close() {
    this.#ws.close();
  }
}

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
    /** Self samples per source line of the function (1-based lines), over the whole profile. */
    positionTicks?: { line: number; ticks: number }[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface Profiler {
  name: string;
  start(): Promise<void>;
  stop(): Promise<CpuProfile>;
}

function cdpProfiler(name: string, cdp: Cdp): Profiler {
  return {
    name,
    async start() {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: INTERVAL_US });
      await cdp.send('Profiler.start');
    },
    async stop() {
      const { profile } = await cdp.send<{ profile: CpuProfile }>('Profiler.stop');
      await cdp.send('Profiler.disable').catch(() => {});
      return profile;
    },
  };
}

function selfProfiler(): Profiler {
  const session = new Session();
  session.connect();
  return {
    name: 'this process',
    async start() {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: INTERVAL_US });
      await session.post('Profiler.start');
    },
    async stop() {
      const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
      await session.post('Profiler.disable');
      session.disconnect();
      return profile;
    },
  };
}

/** Listening TCP ports of a process (its socket inodes matched against /proc/net/tcp). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1));
    } catch {
      // closed meanwhile
    }
  }
  return readFileSync(`/proc/${pid}/net/tcp`, 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[3] === '0A' && inodes.has(f[9]!))
    .map((f) => Number.parseInt(f[1]!.split(':')[1]!, 16));
}

/** The user Worker's isolate through wrangler's inspector proxy (workerd takes one session per isolate, and wrangler holds it). */
async function workerInspector(api: ApiServer): Promise<Cdp> {
  const spawnargs = api.proc.child.spawnargs;
  const port = spawnargs[spawnargs.indexOf('--inspector-port') + 1];
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  if (!targets[0]) throw new Error(`no inspector target on wrangler's inspector port ${port}`);
  return Cdp.connect(targets[0].webSocketDebuggerUrl);
}

/** Other isolates of the runtime workerd (miniflare's entry worker, R2...), straight from workerd's own inspector. */
async function extraInspectors(runtimePid: number, ids: string[]): Promise<{ id: string; cdp: Cdp }[]> {
  if (!ids.length) return [];
  for (const port of listeningPorts(runtimePid)) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(1000) });
      const list = (await res.json()) as { id: string; webSocketDebuggerUrl: string }[];
      if (!Array.isArray(list)) continue;
      const out: { id: string; cdp: Cdp }[] = [];
      for (const id of ids) {
        const t = list.find((x) => x.id === id);
        if (!t) throw new Error(`workerd has no isolate ${id}; it has ${list.map((x) => x.id).join(', ')}`);
        out.push({ id, cdp: await Cdp.connect(t.webSocketDebuggerUrl) });
      }
      return out;
    } catch (err) {
      if ((err as Error).message.startsWith('workerd has no')) throw err;
    }
  }
  throw new Error('did not find workerd inspector port');
}

// ---- profile summaries ----------------------------------------------------------------------------

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/**
 * Rewrites a workerd profile in place so that it names our sources instead of wrangler's bundle
 * (`index.js`, mapped with its source map under .wrangler/tmp, which wrangler deletes when it
 * exits): call frames and their line ticks. The saved .cpuprofile then opens in DevTools with
 * the right files.
 */
function mapBundledProfile(profile: CpuProfile): void {
  const dir = join(ROOT, '.wrangler/tmp');
  if (!existsSync(dir)) return;
  const maps = readdirSync(dir)
    .filter((d) => d.startsWith('dev-') && existsSync(join(dir, d, 'index.js.map')))
    .map((d) => join(dir, d, 'index.js.map'))
    .sort((x, y) => statSync(y).mtimeMs - statSync(x).mtimeMs);
  if (!maps[0]) return;
  const mapDir = dirname(maps[0]);
  const map = new SourceMap(JSON.parse(readFileSync(maps[0], 'utf8')));
  const bundleLines = readFileSync(join(mapDir, 'index.js'), 'utf8').split('\n');
  const find = (line: number, col: number) => {
    const e = map.findEntry(line, col) as {
      originalSource?: string;
      originalLine?: number;
      originalColumn?: number;
    };
    if (!e?.originalSource) return undefined;
    const file = e.originalSource.startsWith('file://')
      ? new URL(e.originalSource).pathname
      : resolve(mapDir, e.originalSource);
    return { url: `file://${file}`, line: e.originalLine ?? 0, column: e.originalColumn ?? 0 };
  };
  for (const n of profile.nodes) {
    if (n.callFrame.url !== 'index.js') continue;
    const m = find(n.callFrame.lineNumber, n.callFrame.columnNumber);
    if (!m) continue;
    // positionTicks give bundle lines only: take the first statement on each line.
    n.positionTicks = n.positionTicks?.map(({ line, ticks }) => {
      const col = Math.max(0, (bundleLines[line - 1] ?? '').search(/\S/));
      const t = find(line - 1, col);
      return { line: t && t.url === m.url ? t.line + 1 : line, ticks };
    });
    n.callFrame = { ...n.callFrame, url: m.url, lineNumber: m.line, columnNumber: m.column };
  }
}

function groupOf(file: string, fn: string): string {
  if (!file) return SPECIAL.has(fn) ? fn : `(native) ${fn || '(anonymous)'}`;
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = file.slice(nm + 'node_modules/'.length).split('/');
    return `node_modules/${parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  if (file.startsWith('node:')) return file.split('/').slice(0, 2).join('/');
  const rel = relative(ROOT, file);
  return rel.startsWith('..') ? file : rel;
}

interface Summary {
  name: string;
  /** What the µs/… columns divide by: the big job's tasks, or the one-input jobs. */
  per: { unit: string; n: number };
  /** Time covered by the samples in the window, ms: sampled + gaps. */
  totalMs: number;
  /** Sum of the sample weights (each sample counts until the next one, at most `capUs`), ms. */
  sampledMs: number;
  /** Time between samples beyond `capUs`: the isolate was not sampled (see `summarize`), ms. */
  gapMs: number;
  capUs: number;
  idleMs: number;
  programMs: number;
  gcMs: number;
  /** JavaScript and the natives it called (sampled, not idle, program or GC), ms. */
  jsMs: number;
  samples: number;
  top: { function: string; where: string; ms: number; pct: number; usPerTask: number }[];
  groups: { group: string; ms: number; pct: number; usPerTask: number }[];
  inclusive: { function: string; where: string; ms: number; usPerTask: number }[];
  /** For the top natives (no source: SQLite `exec`, WebCrypto `verify`, socket `send`...): who called them. */
  callers: { native: string; ms: number; callers: { caller: string; ms: number }[] }[];
  /** For the top functions with source: their hottest lines (line ticks of the whole profile, weighted like the function). */
  hotLines: { function: string; lines: { where: string; ms: number }[] }[];
}

/**
 * Self time per function and per package / source file, inclusive time of our own functions,
 * callers of natives and hot lines. `window` (CLOCK_MONOTONIC µs, V8's clock for profile
 * timestamps in any process here) keeps only the samples taken in it.
 *
 * Weights: a sample counts until the next one, but at most 4× the median interval. workerd's
 * profiler takes a sample every ~0.2 ms while the isolate runs, and none while the thread is
 * outside it (the runtime's C++: sockets, RPC plumbing, storage commits; other isolates; idle),
 * so some intervals are tens of ms long; charging those to whatever ran last would blame a
 * random function. That time is reported as gaps instead, and the process CPU table says how
 * much CPU the thread used in all.
 */
function summarize(
  name: string,
  profiles: CpuProfile[],
  options: { window?: [number, number]; per?: { unit: string; n: number } } = {},
): Summary {
  const per = options.per ?? { unit: 'task', n: TASKS };
  const self = new Map<string, { fn: string; where: string; group: string; us: number }>();
  const incl = new Map<string, { fn: string; where: string; us: number }>();
  const callers = new Map<string, Map<string, number>>();
  const lines = new Map<string, Map<string, number>>();
  let sampled = 0;
  let gaps = 0;
  let samples = 0;
  let capUs = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const keyOf = new Map<number, { key: string; fn: string; where: string; group: string; own: boolean }>();
    const describe = (id: number) => {
      let d = keyOf.get(id);
      if (d) return d;
      const cf = byId.get(id)!.callFrame;
      const fn = cf.functionName || '(anonymous)';
      const file = cf.url.startsWith('file://') ? decodeURIComponent(new URL(cf.url).pathname) : cf.url;
      const group = groupOf(file, cf.functionName);
      const rel = file.startsWith('/') ? relative(ROOT, file) : '..';
      const shown = !file
        ? ''
        : group.startsWith('node_modules/')
          ? file.slice(file.lastIndexOf('node_modules/'))
          : rel.startsWith('..')
            ? file
            : rel;
      const where = shown ? `${shown}:${cf.lineNumber + 1}` : '';
      d = {
        key: `${fn} ${where}`,
        fn,
        where,
        group,
        own: !rel.startsWith('..') && !group.startsWith('node_modules/'),
      };
      keyOf.set(id, d);
      return d;
    };
    let t = profile.startTime;
    const times = profile.timeDeltas.map((dt) => (t += dt));
    const raw = times.map((at, i) => Math.max(0, (times[i + 1] ?? profile.endTime) - at));
    const sorted = [...raw].sort((x, y) => x - y);
    const cap = 4 * (sorted[Math.floor(sorted.length / 2)] ?? 250);
    capUs = Math.max(capUs, cap);
    const weight = (i: number) => Math.min(raw[i]!, cap);
    // Line ticks of each function, weighted with the function's own (whole-profile) sample weight.
    const nodeWeight = new Map<number, number>();
    for (const [i, id] of profile.samples.entries())
      nodeWeight.set(id, (nodeWeight.get(id) ?? 0) + weight(i));
    for (const n of profile.nodes) {
      if (!n.positionTicks?.length) continue;
      const d = describe(n.id);
      if (!d.where) continue;
      const m = lines.get(d.key) ?? new Map<string, number>();
      const sumTicks = n.positionTicks.reduce((a, x) => a + x.ticks, 0);
      const perTick = (nodeWeight.get(n.id) ?? 0) / Math.max(1, sumTicks);
      for (const { line, ticks } of n.positionTicks) {
        const where = `${d.where.replace(/:\d+$/, '')}:${line}`;
        m.set(where, (m.get(where) ?? 0) + ticks * perTick);
      }
      lines.set(d.key, m);
    }
    for (let i = 0; i < profile.samples.length; i++) {
      const at = times[i]!;
      if (options.window && (at < options.window[0] || at > options.window[1])) continue;
      const dt = weight(i);
      gaps += raw[i]! - dt;
      const id = profile.samples[i]!;
      const d = describe(id);
      sampled += dt;
      samples++;
      const s = self.get(d.key) ?? { fn: d.fn, where: d.where, group: d.group, us: 0 };
      s.us += dt;
      self.set(d.key, s);
      if (!d.where) {
        // A native frame: charge its caller (the nearest frame with source).
        let p = parent.get(id);
        while (p !== undefined && !describe(p).where && !SPECIAL.has(describe(p).fn)) p = parent.get(p);
        const c = p === undefined ? '(none)' : describe(p).key;
        const m = callers.get(d.key) ?? new Map<string, number>();
        m.set(c, (m.get(c) ?? 0) + dt);
        callers.set(d.key, m);
      }
      const seen = new Set<string>();
      for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
        const a = describe(n);
        if (!a.own || seen.has(a.key)) continue;
        seen.add(a.key);
        const e = incl.get(a.key) ?? { fn: a.fn, where: a.where, us: 0 };
        e.us += dt;
        incl.set(a.key, e);
      }
    }
  }
  const ms = (us: number) => us / 1000;
  const get = (k: string) => ms(self.get(`${k} `)?.us ?? 0);
  const groups = new Map<string, number>();
  for (const x of self.values()) groups.set(x.group, (groups.get(x.group) ?? 0) + x.us);
  const topSelf = [...self.entries()].filter(([, x]) => x.fn !== '(idle)').sort((x, y) => y[1].us - x[1].us);
  const idleMs = get('(idle)');
  const programMs = get('(program)');
  const gcMs = get('(garbage collector)');
  const busyUs = sampled - idleMs * 1000;
  const pct = (us: number) => (busyUs > 0 ? (us / busyUs) * 100 : 0);
  return {
    name,
    per,
    totalMs: ms(sampled + gaps),
    sampledMs: ms(sampled),
    gapMs: ms(gaps),
    capUs,
    idleMs,
    programMs,
    gcMs,
    jsMs: ms(sampled) - idleMs - programMs - gcMs,
    samples,
    top: topSelf.slice(0, TOP).map(([, x]) => ({
      function: x.fn,
      where: x.where,
      ms: ms(x.us),
      pct: pct(x.us),
      usPerTask: x.us / per.n,
    })),
    groups: [...groups]
      .filter(([g]) => g !== '(idle)')
      .sort((x, y) => y[1] - x[1])
      .slice(0, 30)
      .map(([group, us]) => ({ group, ms: ms(us), pct: pct(us), usPerTask: us / per.n })),
    inclusive: [...incl.values()]
      .sort((x, y) => y.us - x.us)
      .slice(0, 30)
      .map((e) => ({ function: e.fn, where: e.where, ms: ms(e.us), usPerTask: e.us / per.n })),
    callers: topSelf
      .filter(([k, x]) => !x.where && !SPECIAL.has(x.fn) && callers.has(k))
      .slice(0, 8)
      .map(([k, x]) => ({
        native: x.fn,
        ms: ms(x.us),
        callers: [...callers.get(k)!]
          .sort((p, q) => q[1] - p[1])
          .slice(0, 5)
          .map(([caller, us]) => ({ caller, ms: ms(us) })),
      })),
    hotLines: topSelf
      .filter(([k, x]) => x.where && lines.has(k))
      .slice(0, 12)
      .map(([k, x]) => ({
        function: `${x.fn} ${x.where}`,
        lines: [...lines.get(k)!]
          .sort((p, q) => q[1] - p[1])
          .slice(0, 4)
          .map(([where, us]) => ({ where, ms: ms(us) })),
      })),
  };
}

function printSummary(s: Summary, brief = false) {
  const busy = s.sampledMs - s.idleMs;
  const fmt = (us: number) => (s.per.unit === 'task' ? us.toFixed(1) : (us / 1000).toFixed(2));
  const uu = s.per.unit === 'task' ? 'µs/task' : `ms/${s.per.unit}`;
  say(
    `\n=== ${s.name}: ${s.samples} samples over ${s.totalMs.toFixed(0)} ms; sampled and not idle ${busy.toFixed(0)} ms (${fmt((busy * 1000) / s.per.n)} ${uu} over ${s.per.n} ${s.per.unit}s) ===`,
  );
  say(
    `    JS + natives ${s.jsMs.toFixed(0)} ms, (program) ${s.programMs.toFixed(0)} ms, (garbage collector) ${s.gcMs.toFixed(0)} ms, (idle) ${s.idleMs.toFixed(0)} ms;` +
      ` not sampled (gaps beyond ${(s.capUs / 1000).toFixed(2)} ms between samples) ${s.gapMs.toFixed(0)} ms. % below are of the sampled non-idle time`,
  );
  if (!brief) {
    say(`\n  top ${TOP} functions by self time:`);
    say(
      table(
        s.top.map((r) => ({
          'self ms': r.ms,
          '%': r.pct,
          [uu]: Number(fmt(r.usPerTask)),
          function: r.function,
          where: r.where,
        })),
      ),
    );
  }
  say(`\n  self time by package / source file:`);
  say(
    table(
      s.groups
        .slice(0, brief ? 15 : 30)
        .map((g) => ({ 'self ms': g.ms, '%': g.pct, [uu]: Number(fmt(g.usPerTask)), group: g.group })),
    ),
  );
  say(`\n  natives (no source) by caller, self ms:`);
  for (const c of s.callers.slice(0, brief ? 5 : 8))
    say(
      `    ${c.native} ${c.ms.toFixed(1)} ms: ${c.callers.map((x) => `${x.caller} ${x.ms.toFixed(1)}`).join('; ')}`,
    );
  if (!brief) {
    say(`\n  hottest lines of the top functions (self ms):`);
    for (const h of s.hotLines)
      say(`    ${h.function}: ${h.lines.map((l) => `${l.where} ${l.ms.toFixed(1)}`).join('; ')}`);
  }
  say(`\n  inclusive time of our own functions (repo files, callees included):`);
  say(
    table(
      s.inclusive.slice(0, brief ? 20 : 30).map((r) => ({
        'incl ms': r.ms,
        [uu]: Number(fmt(r.usPerTask)),
        function: r.function,
        where: r.where,
      })),
    ),
  );
}

function phaseTable(name: string, phases: Record<string, number[]>) {
  const rows = Object.entries(phases)
    .filter(([, v]) => v.length)
    .map(([phase, v]) => ({
      phase,
      n: v.length,
      'p50 ms': percentile(v, 50),
      'p90 ms': percentile(v, 90),
      'min ms': Math.min(...v),
      'max ms': Math.max(...v),
    }));
  say(`\n${name}`);
  say(table(rows));
  json[name] = Object.fromEntries(rows.map((r) => [r.phase, r]));
}

// ---- Linux perf (native code) ----------------------------------------------------------------------

/** Families of native symbols, first match wins. */
const NATIVE_FAMILIES: [RegExp, string][] = [
  [/^json|^jsonb/, "SQLite JSON functions (wrangler's local observability collector)"],
  [/TraceId|tracing::|TailStream|Tail(Event|Worker)/, 'workerd tracing (tail events)'],
  [/sqlite3|Sqlite|sqlite|walChecksum/, 'SQLite (+ workerd SqliteDatabase)'],
  [/ED25519|ed25519|x25519_|fiat_25519|ge_|fe_mul|fe_sq|sc_reduce|sc_muladd/, 'Ed25519 (BoringSSL)'],
  [/SHA256|sha256|SHA512|sha512_block|sha256_block/, 'SHA-2 (BoringSSL)'],
  [
    /deflate|inflate|longest_match|adler32|crc32|compress_block|zlib|_tr_/,
    'zlib (WebSocket permessage-deflate)',
  ],
  [/ValueSerializer|ValueDeserializer|Serializ/, 'V8 serializer (structured clone, RPC, attachments)'],
  [/JsonStringifier|JsonParser|Json/, 'V8 JSON'],
  [/Scavenge|MarkCompact|Heap::|Sweeper|Marking|GC|Evacuat|Concurrent/, 'V8 GC'],
  [/Builtins_|Runtime_|v8::internal::/, 'V8 builtins/runtime'],
  [/^v8::|v8::/, 'V8 API'],
  [/capnp::|kj::/, "KJ / Cap'n Proto (event loop, RPC, I/O)"],
  [/workerd::|jsg::/, 'workerd runtime'],
  [
    /memcpy|memmove|memset|malloc|free|operator new|operator delete|tcache|_int_|strlen|memcmp|TCMalloc/,
    'memory (tcmalloc malloc/free, libc memcpy)',
  ],
];

interface PerfSession {
  stop(): Promise<string | undefined>;
}

function startPerf(pid: number, file: string): PerfSession | undefined {
  try {
    execFileSync('perf', ['--version']);
  } catch {
    note('perf is not installed: --perf ignored');
    return undefined;
  }
  const proc = startProcess('perf', ['record', '-F', '1999', '-q', '-p', String(pid), '-o', file]);
  return {
    async stop() {
      await proc.stop('SIGINT');
      return existsSync(file) ? file : undefined;
    },
  };
}

/** A JavaScript function named by --perf-basic-prof (`JS:*name file:line:col`): by package / file, like the V8 summaries. */
function jsFamily(sym: string): string {
  const file = /\s(file:\/\/\S+|node:\S+|\/\S+)/.exec(sym)?.[1];
  if (!file) return 'JS (builtins, anonymous)';
  const path = file.startsWith('file://') ? file.slice(7) : file;
  return `JS ${groupOf(path.replace(/:\d+(:\d+)?$/, ''), '')}`;
}

/** Top symbols (self), totals per family and per thread of a perf.data file. */
function perfReport(
  name: string,
  file: string,
  perUs: { unit: string; n: number },
  cpuMs: number | undefined,
) {
  let text: string;
  try {
    text = execFileSync(
      'perf',
      [
        'report',
        '-i',
        file,
        '--no-children',
        '--sort',
        'comm,dso,sym',
        '--stdio',
        '-q',
        '-t',
        '|',
        '--percent-limit',
        '0',
      ],
      { maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] },
    ).toString();
  } catch (err) {
    say(`\n(perf report failed for ${file}: ${(err as Error).message})`);
    return undefined;
  }
  const rows = text
    .split('\n')
    .map((l) => l.split('|').map((f) => f.trim()))
    .filter((f) => f.length >= 4 && /^[\d.]+%$/.test(f[0]!))
    .map((f) => {
      const sym = f.slice(3).join('|');
      return {
        pct: Number.parseFloat(f[0]!),
        comm: f[1]!,
        dso: f[2]!,
        kernel: sym.startsWith('[k]'),
        sym: sym.replace(/^\[.\]\s*/, ''),
      };
    });
  const family = (r: { dso: string; kernel: boolean; sym: string }) => {
    if (r.kernel) return 'kernel (syscalls, network, scheduler)';
    if (r.dso.startsWith('perf-') || r.dso.startsWith('[JIT]') || r.dso === '[unknown]')
      return /^0x[0-9a-f]+$/.test(r.sym) ? 'JIT code (JavaScript, unnamed)' : jsFamily(r.sym);
    for (const [re, fam] of NATIVE_FAMILIES) if (re.test(r.sym)) return fam;
    return `other (${r.dso})`;
  };
  const sum = (key: (r: (typeof rows)[number]) => string, of = rows) => {
    const m = new Map<string, number>();
    for (const r of of) m.set(key(r), (m.get(key(r)) ?? 0) + r.pct);
    return [...m].sort((x, y) => y[1] - x[1]);
  };
  const fam = sum(family);
  const listed = rows.reduce((x, r) => x + r.pct, 0);
  if (listed < 99.5) fam.push(['(not listed by perf report)', 100 - listed]);
  const threads = sum((r) => r.comm);
  const scale = (pct: number) => (cpuMs === undefined ? Number.NaN : (pct / 100) * cpuMs);
  const per = (pct: number) => (perUs.unit === 'task' ? (scale(pct) * 1000) / perUs.n : scale(pct) / perUs.n);
  const uu = perUs.unit === 'task' ? `µs/task (${perUs.n})` : `ms/${perUs.unit}`;
  say(
    `\n=== perf (native view) of ${name}: shares of its samples${cpuMs === undefined ? '' : `, scaled to its ${cpuMs.toFixed(0)} ms of CPU`} ===`,
  );
  say('\n  by family of symbols:');
  say(table(fam.map(([family, pct]) => ({ '%': pct, 'cpu ms': scale(pct), [uu]: per(pct), family }))));
  say('\n  by thread:');
  say(table(threads.map(([thread, pct]) => ({ '%': pct, 'cpu ms': scale(pct), [uu]: per(pct), thread }))));
  say(`\n  top ${TOP} symbols:`);
  say(
    table(
      rows.slice(0, TOP).map((r) => ({
        '%': r.pct,
        [uu]: per(r.pct),
        thread: r.comm,
        family: family(r).slice(0, 36),
        symbol: r.sym.slice(0, 100),
      })),
    ),
  );
  const perThread: Record<string, { families: [string, number][]; top: { pct: number; sym: string }[] }> = {};
  if (threads.length > 1) {
    for (const [thread] of threads.slice(0, 3)) {
      const mine = rows.filter((r) => r.comm === thread);
      perThread[thread] = {
        families: sum(family, mine),
        top: mine.slice(0, 15).map((r) => ({ pct: r.pct, sym: r.sym })),
      };
      say(`\n  thread ${thread}: by family, then its top symbols:`);
      say(
        table(
          sum(family, mine)
            .slice(0, 12)
            .map(([family, pct]) => ({ '%': pct, [uu]: per(pct), family })),
        ),
      );
      say(
        table(
          mine.slice(0, 15).map((r) => ({
            '%': r.pct,
            [uu]: per(r.pct),
            family: family(r).slice(0, 36),
            symbol: r.sym.slice(0, 100),
          })),
        ),
      );
    }
  }
  return {
    families: Object.fromEntries(fam),
    threads: Object.fromEntries(threads),
    top: rows.slice(0, TOP),
    perThread,
  };
}

// ---- real nodes (mesh variant) ----------------------------------------------------------------------

interface NodeProc extends Proc {
  keyDir: string;
}

/** scripts/local-mesh.ts `startNode`, with Node flags of our own (e.g. `--cpu-prof`). */
async function startNodeWith(
  api: string,
  capacity: number,
  nodeArgs: string[],
  extra: string[] = [],
): Promise<NodeProc> {
  const keyDir = mkdtempSync(join(tmpdir(), 'monadmesh-node-'));
  const proc = startProcess(process.execPath, [
    ...nodeArgs,
    join(ROOT, 'browser-node/src/headless/cli.ts'),
    '--api',
    api,
    '--key-file',
    join(keyDir, 'node-key'),
    '--capacity',
    String(capacity),
    // Linked to the development wallet, as `npm run dev`'s node and the bench's are: the owner's
    // jobs then take its word. Anonymous, every answer waits for a second identity's.
    '--dev-owner',
    ...extra,
  ]);
  try {
    await proc.waitFor(/connected to /, 60_000);
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
  return { ...proc, keyDir };
}

async function stopNode(n: NodeProc) {
  // SIGTERM: the CLI finishes, closes its executor and exits, and --cpu-prof writes its profiles.
  await n.stop();
  rmSync(n.keyDir, { recursive: true, force: true });
}

// ---- jobs -------------------------------------------------------------------------------------------

async function submit(api: string, key: string, inputs: number[]) {
  const t0 = now();
  const mono0 = monoUs();
  const body = JSON.stringify({ runtime: 'js', source: SOURCE, inputs });
  const tBody = now();
  const res = await fetch(`${api}/api/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body,
  });
  if (res.status !== 201) throw new Error(`submit failed: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  return { id, t0, t201: now(), mono0, mono201: monoUs(), stringifyMs: tBody - t0, bodyBytes: body.length };
}

/**
 * A watcher as bench/dispatch.ts opens one: when it opened, saw its snapshot, a first lease, a
 * first success, the end. It also counts the room's `tasks.updated` frames: one per `lease` and
 * one per `report` call while it watches, so they count the room's RPCs and their batch sizes.
 */
function watch(api: string, key: string, id: string) {
  const opened = now();
  const ws = new WebSocket(`${api.replace('http', 'ws')}/api/v1/jobs/${id}/events?token=${key}`);
  const times = { opened, snapshot: 0, snapshotBytes: 0, firstLeased: 0, firstSucceeded: 0, done: 0 };
  const frames = { leaseFrames: 0, leasedUpdates: 0, reportFrames: 0, succeededUpdates: 0, bytes: 0 };
  const byNode = new Map<string, number>();
  const done = new Promise<typeof times>((resolve, reject) => {
    ws.addEventListener('message', (e) => {
      const text = String(e.data);
      const msg = RoomToWatcher.parse(JSON.parse(text));
      const t = now();
      frames.bytes += text.length;
      if (msg.type === 'job.snapshot') {
        times.snapshot ||= t;
        times.snapshotBytes ||= text.length;
        if (msg.job.counts.leased + msg.job.counts.succeeded > 0) times.firstLeased ||= t;
        if (msg.job.counts.succeeded > 0) times.firstSucceeded ||= t;
      }
      if (msg.type === 'tasks.updated') {
        const leased = msg.updates.filter((u) => u.state === 'leased');
        const succeeded = msg.updates.filter((u) => u.state === 'succeeded');
        if (leased.length) {
          times.firstLeased ||= t;
          frames.leaseFrames++;
          frames.leasedUpdates += leased.length;
        }
        if (succeeded.length) {
          times.firstSucceeded ||= t;
          frames.reportFrames++;
          frames.succeededUpdates += succeeded.length;
          for (const u of succeeded) if (u.nodeId) byNode.set(u.nodeId, (byNode.get(u.nodeId) ?? 0) + 1);
        }
      }
      if (msg.type === 'job.finished' || (msg.type === 'job.snapshot' && msg.job.state !== 'running')) {
        times.firstSucceeded ||= t;
        times.done = t;
        ws.close();
        resolve(times);
      }
    });
    ws.addEventListener('error', () => reject(new Error('watcher failed')));
  });
  return { times, frames, byNode, done };
}

// ---- main -------------------------------------------------------------------------------------------

if (args.analyze) {
  // The summaries of a saved run, again (e.g. after changing --top): profiles are saved already
  // mapped to our sources, and summary.json keeps the windows.
  const dir = args.analyze;
  const saved = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
    windows?: Record<string, [number, number]>;
    tasks: number;
    latencyJobs?: number;
    node0Tasks?: number;
  };
  const load = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile;
  const jobs = saved.latencyJobs ?? LATENCY_JOBS;
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith('.cpuprofile'))
    .sort()) {
    const latency = f.startsWith('latency-');
    printSummary(
      summarize(
        f,
        [load(f)],
        latency ? { per: { unit: 'job', n: jobs } } : { per: { unit: 'task', n: saved.tasks } },
      ),
      latency,
    );
    if (f === 'workerd.cpuprofile' && saved.windows?.post)
      printSummary(
        summarize(`${f}, only while POST /jobs was in flight`, [load(f)], {
          window: saved.windows.post,
          per: { unit: 'job', n: 1 },
        }),
        true,
      );
  }
  const nodeDir = join(dir, 'node-0');
  if (existsSync(nodeDir) && saved.windows?.job) {
    const main = readdirSync(nodeDir).filter((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0');
    if (main.length)
      printSummary(
        summarize(
          'real node 0: main thread',
          main.map((f) => JSON.parse(readFileSync(join(nodeDir, f), 'utf8')) as CpuProfile),
          { window: saved.windows.job, per: { unit: 'task', n: saved.node0Tasks ?? saved.tasks } },
        ),
      );
  }
  process.exit(0);
}

if (args.observability) process.env.X_LOCAL_OBSERVABILITY = 'true';
json.localObservability = process.env.X_LOCAL_OBSERVABILITY ?? 'off (scripts/local-mesh.ts)';
note(
  `variant ${VARIANT}, ${TASKS} tasks, ${LATENCY_JOBS} latency jobs, sampling every ${INTERVAL_US} µs, output in ${OUT}`,
);
const api = await startApi();
const nodes: NodeProc[] = [];
let noop: NoopNode | undefined;
let workerCdp: Cdp | undefined;
const extras: { id: string; cdp: Cdp }[] = [];
const cleanup = async () => {
  noop?.close();
  workerCdp?.close();
  for (const e of extras) e.cdp.close();
  await Promise.all(nodes.splice(0).map((n) => stopNode(n).catch(() => {})));
  await api.stop();
};
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

const saveProfile = (name: string, profile: CpuProfile) =>
  writeFileSync(join(OUT, `${name}.cpuprofile`), JSON.stringify(profile));

try {
  const wranglerPid = api.proc.child.pid!;
  const pids = new Map<number, string>();
  const refreshPids = () => {
    for (const pid of [wranglerPid, ...descendants(wranglerPid)])
      if (!pids.has(pid)) pids.set(pid, labelOf(pid));
  };
  refreshPids();
  const runtimePid = [...pids].find(([, l]) => l.startsWith('workerd (runtime'))?.[0];
  note(`processes: ${[...pids].map(([p, l]) => `${p} ${l}`).join('; ')}`);
  json.processes = Object.fromEntries([...pids].map(([p, l]) => [l, p]));
  if (PROFILE) {
    workerCdp = await workerInspector(api);
    if (runtimePid) extras.push(...(await extraInspectors(runtimePid, EXTRA_ISOLATES)));
  }
  const workerProfiler = () => cdpProfiler('workerd: Worker + Durable Objects isolate', workerCdp!);

  const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
  const perNode = Math.max(1, Math.floor(THREADS / 2));
  const latency: Record<string, number[]> = {};
  const add = (phase: string, v: number) => {
    if (!Number.isFinite(v)) return;
    latency[phase] ??= [];
    latency[phase].push(v);
  };

  // ---- latency of one-input jobs (profiled on its own: workerd, and the --extra-isolates) ----
  const peerOf = new Map<string, string>();
  let latencyProfilers: Profiler[] = [];
  let latencyCpu0: CpuSnapshot | undefined;
  const startLatencyProfile = async () => {
    latencyCpu0 = cpuSnapshot(pids);
    if (!PROFILE) return;
    latencyProfilers = [
      workerProfiler(),
      ...extras.map((e) => cdpProfiler(`workerd isolate ${e.id}`, e.cdp)),
    ];
    for (const p of latencyProfilers) await p.start();
  };
  const stopLatencyProfile = async () => {
    const cpu = cpuDelta(latencyCpu0!, cpuSnapshot(pids), { unit: 'job', n: LATENCY_JOBS });
    say(
      `\n  CPU time per process over the ${LATENCY_JOBS} one-input jobs (${cpu.wallMs.toFixed(0)} ms wall):`,
    );
    say(table(cpu.rows as unknown as Record<string, string | number>[]));
    json.latencyCpu = cpu;
    const summaries: Summary[] = [];
    for (const p of latencyProfilers) {
      const profile = await p.stop();
      mapBundledProfile(profile);
      saveProfile(
        `latency-${p.name.startsWith('workerd: ') ? 'workerd' : p.name.replace(/[^a-z0-9]+/gi, '-')}`,
        profile,
      );
      summaries.push(
        summarize(`${p.name}, during the ${LATENCY_JOBS} one-input jobs`, [profile], {
          per: { unit: 'job', n: LATENCY_JOBS },
        }),
      );
    }
    for (const sm of summaries) printSummary(sm, true);
    json.latencyProfiles = summaries;
  };

  if (VARIANT === 'control') {
    noop = await NoopNode.connect(api.url, {
      credit: 1024,
      capacity: THREADS,
      ...(args.owner ? { ownerKey: DEV_PRIVATE_KEYS[0] } : {}),
    });
    if (WARMUP) {
      const w = await submit(
        api.url,
        key,
        Array.from({ length: WARMUP }, (_, i) => i),
      );
      await noop.acceptedAtLeast(WARMUP);
      note(`warm-up job of ${WARMUP} tasks: ${(now() - w.t0).toFixed(0)} ms`);
    }
    await startLatencyProfile();
    for (let i = 0; i < LATENCY_JOBS; i++) {
      const before = noop.frames.accepted;
      const s = await submit(api.url, key, [i]);
      const w = watch(api.url, key, s.id);
      const times = await w.done;
      await noop.acceptedAtLeast(before + 1);
      const lease = noop.firstLease.get(s.id)!;
      const sent = noop.resultSent.get(s.id)!;
      const acked = noop.acked.get(s.id)!;
      add('submit → 201 (POST /jobs round trip)', s.t201 - s.t0);
      add('submit → task.leased seen by the node', lease - s.t0);
      add('201 → task.leased (negative: leased before the 201 arrived)', lease - s.t201);
      add('task.leased → task.results sent (decode, sign, encode)', sent - lease);
      add('task.results sent → results.ack', acked - sent);
      add('submit → results.ack', acked - s.t0);
      add('201 → watcher snapshot (watcher connect)', times.snapshot - s.t201);
      add('submit → result visible to the watcher', times.firstSucceeded - s.t0);
    }
    phaseTable(`latency phases of ${LATENCY_JOBS} one-input jobs (control: no-op node)`, latency);
    await stopLatencyProfile();
  } else {
    for (let i = 0; i < 2; i++) nodes.push(await startNodeWith(api.url, perNode, [], ['--verbose']));
    const finishedAt = (id: string) => {
      // `[ISO time] task <jobId>#0 attempt 1: ok (0.1 ms)` from whichever node ran it.
      for (const n of nodes) {
        const m = new RegExp(`\\[([^\\]]+)\\] task ${id}#0 attempt \\d+: `).exec(n.output());
        if (m) return fromEpoch(Date.parse(m[1]!));
      }
      return Number.NaN;
    };
    const warm = await submit(
      api.url,
      key,
      Array.from({ length: 200 }, (_, i) => i),
    );
    await watch(api.url, key, warm.id).done;
    for (const [i, n] of nodes.entries()) pids.set(n.child.pid!, `node ${i} (--verbose)`);
    await startLatencyProfile();
    for (let i = 0; i < LATENCY_JOBS; i++) {
      const s = await submit(api.url, key, [i]);
      const w = watch(api.url, key, s.id);
      const times = await w.done;
      await new Promise((r) => setTimeout(r, 5)); // let the log line arrive
      const fin = finishedAt(s.id);
      add('submit → 201 (POST /jobs round trip)', s.t201 - s.t0);
      add('submit → task finished and signed on a node (its log, ms resolution)', fin - s.t0);
      add('201 → task finished on a node (negative: before the 201 arrived)', fin - s.t201);
      add('201 → watcher snapshot (watcher connect)', times.snapshot - s.t201);
      add('task finished on node → result visible to the watcher', times.firstSucceeded - fin);
      add('submit → result visible to the watcher', times.firstSucceeded - s.t0);
    }
    phaseTable(`latency phases of ${LATENCY_JOBS} one-input jobs (mesh: 2 real nodes)`, latency);
    await stopLatencyProfile();
    await Promise.all(nodes.splice(0).map((n) => stopNode(n)));
    for (const [p, l] of [...pids]) if (l.startsWith('node ')) pids.delete(p);
    // Fresh, quiet nodes for the big job; the first one profiled.
    const profDir = join(OUT, 'node-0');
    nodes.push(
      await startNodeWith(api.url, perNode, [
        ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-interval=${INTERVAL_US}`] : []),
        ...(args.perf ? ['--perf-basic-prof-only-functions'] : []),
      ]),
    );
    nodes.push(await startNodeWith(api.url, perNode, []));
    nodes.forEach((n, i) => {
      const m = /peer id (\S+)/.exec(n.output());
      if (m) peerOf.set(m[1]!, `node ${i}`);
    });
    const warm2 = await submit(
      api.url,
      key,
      Array.from({ length: 200 }, (_, i) => i),
    );
    await watch(api.url, key, warm2.id).done;
    for (const p of [...pids.keys()]) if (!existsSync(`/proc/${p}`)) pids.delete(p);
  }
  for (const [i, n] of nodes.entries())
    pids.set(n.child.pid!, `node ${i}${i === 0 && VARIANT === 'mesh' && PROFILE ? ' (--cpu-prof)' : ''}`);
  refreshPids();

  // ---- the big job, profiled ----
  const inputs = Array.from({ length: TASKS }, (_, i) => i);
  const profilers: Profiler[] = [];
  if (PROFILE) {
    profilers.push(workerProfiler());
    profilers.push(selfProfiler());
    for (const p of profilers) await p.start();
    note(`profilers started: ${profilers.map((p) => p.name).join(', ')}`);
  }
  const perfs: { name: string; pid: number; session: PerfSession }[] = [];
  if (args.perf) {
    const targets: [string, number | undefined][] = [['workerd runtime (Worker + DOs)', runtimePid]];
    if (VARIANT === 'mesh') targets.push(['real node 0 (all threads)', nodes[0]?.child.pid]);
    for (const [name, pid] of targets) {
      if (!pid) continue;
      const session = startPerf(
        pid,
        join(OUT, `${name.split(' ')[0]}${name.includes('node') ? '-0' : ''}.perf.data`),
      );
      if (session) perfs.push({ name, pid, session });
    }
    await new Promise((r) => setTimeout(r, 300)); // perf attaches
  }
  const cpu0 = cpuSnapshot(pids);
  const mono0 = monoUs();
  // Counted before the submit: the first lease can arrive (and be answered) before the 201 does.
  const controlStart = noop ? { before: noop.frames.accepted, framesBefore: { ...noop.frames } } : undefined;
  const s = await submit(api.url, key, inputs);
  note(`submitted job ${s.id}: 201 after ${(s.t201 - s.t0).toFixed(0)} ms`);
  let w: ReturnType<typeof watch> | undefined;
  if (WATCH_BIG) w = watch(api.url, key, s.id);
  let doneAt: number;
  if (VARIANT === 'control') {
    const { before, framesBefore } = controlStart!;
    // Every result accepted; or the job ended another way (results ignored, leases expired: the
    // no-op node sends no heartbeats, so a job slower than the lease TTL loses leases).
    let ended = false;
    const poll = setInterval(async () => {
      const st = (await (
        await fetch(`${api.url}/api/v1/jobs/${s.id}`, { headers: { authorization: `Bearer ${key}` } })
      ).json()) as {
        state: string;
        counts: Record<string, number>;
      };
      note(
        `job ${st.state}: ${JSON.stringify(st.counts)}; no-op node: ${noop!.frames.accepted - before} accepted, ${noop!.frames.ignored - framesBefore.ignored} ignored`,
      );
      if (st.state !== 'running') setTimeout(() => (ended = true), 3000);
    }, 5000);
    await Promise.race([
      noop!.acceptedAtLeast(before + TASKS),
      new Promise<void>((r) => {
        const t = setInterval(() => {
          if (!ended) return;
          clearInterval(t);
          r();
        }, 100);
      }),
    ]);
    clearInterval(poll);
    doneAt = noop!.lastAckAt;
    if (w) await w.done;
    json.noopFrames = {
      leased: noop!.frames.leased - framesBefore.leased,
      tasks: noop!.frames.tasks - framesBefore.tasks,
      results: noop!.frames.results - framesBefore.results,
      ignored: noop!.frames.ignored - framesBefore.ignored,
    };
  } else {
    await w!.done;
    doneAt = now();
  }
  const mono1 = monoUs();
  const cpu1 = cpuSnapshot(pids);
  const perfFiles = await Promise.all(perfs.map(async (p) => ({ ...p, file: await p.session.stop() })));
  note(`job done after ${(doneAt - s.t0).toFixed(0)} ms; stopping the profilers`);
  const profiles: { name: string; profile: CpuProfile }[] = [];
  for (const p of profilers) profiles.push({ name: p.name, profile: await p.stop() });
  note('profiles collected');

  const wall = doneAt - s.t0;
  json.latencyJobs = LATENCY_JOBS;
  json.windows = { post: [s.mono0, s.mono201], job: [mono0, mono1] };
  say(
    `\n=== the ${TASKS}-input job (${VARIANT}${PROFILE ? ', profiled' : ', no profilers'}${WATCH_BIG ? ', with a watcher' : ''}) ===`,
  );
  const big: Record<string, number> = {
    'tasks/s': TASKS / (wall / 1000),
    'wall ms (submit → all results)': wall,
    'JSON.stringify of the body ms': s.stringifyMs,
    'body bytes': s.bodyBytes,
    'POST /jobs round trip ms': s.t201 - s.t0,
  };
  if (VARIANT === 'control') {
    const lease = noop!.firstLease.get(s.id)!;
    big['submit → first task.leased ms'] = lease - s.t0;
    big['201 → first task.leased ms'] = lease - s.t201;
    const f = json.noopFrames as { leased: number; tasks: number; results: number };
    big['task.leased frames'] = f.leased;
    big['tasks per task.leased frame'] = f.tasks / Math.max(1, f.leased);
    big['task.results frames'] = f.results;
  }
  if (w) {
    big['201 → watcher snapshot ms'] = w.times.snapshot - s.t201;
    big['watcher snapshot bytes'] = w.times.snapshotBytes;
    big['submit → first success seen by the watcher ms'] = w.times.firstSucceeded - s.t0;
    big['submit → job.finished seen by the watcher ms'] = w.times.done - s.t0;
    big['watcher: lease batches seen (room.lease calls)'] = w.frames.leaseFrames;
    big['watcher: tasks per lease batch'] = w.frames.leasedUpdates / Math.max(1, w.frames.leaseFrames);
    big['watcher: result batches seen (room.report calls)'] = w.frames.reportFrames;
    big['watcher: results per report batch'] = w.frames.succeededUpdates / Math.max(1, w.frames.reportFrames);
    big['watcher: bytes received'] = w.frames.bytes;
    for (const [peer, n] of w.byNode) big[`watcher: results of ${peerOf.get(peer) ?? peer.slice(0, 16)}`] = n;
  }
  for (const [k, v] of Object.entries(big))
    say(`  ${k.padEnd(50)} ${Number.isInteger(v) ? v : v.toFixed(1)}`);
  json.bigJob = big;

  const cpu = cpuDelta(cpu0, cpu1);
  say(
    `\n  CPU time per process over the job (${cpu.wallMs.toFixed(0)} ms wall, /proc ticks of ${(1000 / CLK_TCK).toFixed(0)} ms):`,
  );
  say(table(cpu.rows as unknown as Record<string, string | number>[]));
  json.cpu = cpu;

  for (const p of perfFiles) {
    if (!p.file) continue;
    const label = [...pids].find(([pid]) => pid === p.pid)?.[1];
    const row = cpu.rows.find((r) => r.process === label);
    const ran =
      p.name.includes('node') && w
        ? [...w.byNode].find(([peer]) => peerOf.get(peer) === 'node 0')?.[1]
        : undefined;
    (json.perf as Record<string, unknown>) ??= {};
    (json.perf as Record<string, unknown>)[p.name] = perfReport(
      p.name,
      p.file,
      { unit: 'task', n: ran ?? TASKS },
      row?.['cpu ms'],
    );
    rmSync(`/tmp/perf-${p.pid}.map`, { force: true }); // --perf-basic-prof's symbol map, read by perf report
  }

  if (PROFILE) {
    const summaries: { s: Summary; brief: boolean }[] = [];
    for (const { name, profile } of profiles) {
      const isWorkerd = name.startsWith('workerd');
      if (isWorkerd) mapBundledProfile(profile);
      saveProfile(isWorkerd ? 'workerd' : 'bench-process', profile);
      summaries.push({
        s: summarize(
          isWorkerd
            ? name
            : `this process (${VARIANT === 'control' ? 'no-op node + submitter' : 'submitter + watcher'})`,
          [profile],
        ),
        brief: false,
      });
      if (isWorkerd) {
        // What the isolate did while POST /jobs was in flight (the job's dispatch may run meanwhile).
        summaries.push({
          s: summarize(
            `${name}, only while POST /jobs was in flight (${((s.mono201 - s.mono0) / 1000).toFixed(0)} ms)`,
            [profile],
            {
              window: [s.mono0, s.mono201],
              per: { unit: 'job', n: 1 },
            },
          ),
          brief: true,
        });
      }
    }
    if (VARIANT === 'mesh') {
      await Promise.all(nodes.splice(0).map((n) => stopNode(n)));
      const dir = join(OUT, 'node-0');
      const files = existsSync(dir)
        ? readdirSync(dir)
            .filter((f) => f.endsWith('.cpuprofile'))
            .sort()
        : [];
      // CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile: thread 0 is the main thread. Sandbox
      // workers are terminated at shutdown, which writes no profile: their CPU is in the table above.
      const load = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile;
      const main = files.filter((f) => f.split('.')[4] === '0');
      const ran = w?.byNode ? [...w.byNode].find(([peer]) => peerOf.get(peer) === 'node 0')?.[1] : undefined;
      json.node0Tasks = ran;
      if (main.length)
        summaries.push({
          s: summarize(
            `real node 0: main thread (hub socket, leases, signing), cropped to the job`,
            main.map(load),
            {
              window: [mono0, mono1],
              per: { unit: 'task', n: ran ?? TASKS },
            },
          ),
          brief: false,
        });
      if (!files.length) say(`\n(no --cpu-prof files in ${dir})`);
    }
    for (const sm of summaries) printSummary(sm.s, sm.brief);
    json.profiles = summaries.map((x) => x.s);
  }
  writeFileSync(join(OUT, 'summary.txt'), `${report.join('\n')}\n`);
  writeFileSync(join(OUT, 'summary.json'), `${JSON.stringify(json, null, 2)}\n`);
  note(`wrote ${OUT}`);
} finally {
  await cleanup();
}
process.exit(0);
