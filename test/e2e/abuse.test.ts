import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { SLACK_MB } from '../../browser-node/src/headless/process-executor.ts';
import {
  buildWasmFixtures,
  type WasmFixtures,
} from '../../browser-node/src/headless/wasm-fixtures/fixtures.ts';
import type { TaskResult } from '../../protocol/index.ts';
import {
  type AbuseResult,
  HOSTILE,
  type HostileProgram,
  PROBES,
  type Probe,
  type WasmCode,
} from '../abuse/programs.ts';
import { type Finished, useLocalMesh } from './local-mesh-fixture.ts';

// The abuse suite on a real node: `wrangler dev` and one supervised headless node (the CLI, with
// sandbox processes). Every hostile program of `test/abuse/programs.ts` runs as a job of its own
// and is followed by one honest probe job per runtime that looks for anything it left behind;
// hostile jobs run beside an honest job whose every result is checked; and memory bombs of every
// kind run while the resident memory of the node's whole process group is sampled from /proc.
// The node process must survive all of it: its supervisor never logs a death.
//
// By default a subset runs (one or two programs of each kind); `ABUSE_FULL=1` (`npm run
// test:abuse`) runs every program; `ABUSE_RUNTIMES=js,wasm` limits programs and probes to some
// runtimes (for debugging one of them).

const FULL = process.env.ABUSE_FULL === '1';
/** Runtimes to exercise (`ABUSE_RUNTIMES=js,wasm`), for debugging one runtime; default all three. */
const RUNTIMES = new Set((process.env.ABUSE_RUNTIMES ?? 'js,python,wasm').split(','));
const probes = PROBES.filter((p) => RUNTIMES.has(p.runtime));
const inScope = (p: HostileProgram) => RUNTIMES.has(p.runtime);
const CAPACITY = 2;
/** The node's default sandbox allowance on top of a task's `memoryMb` (`runtimeHeapMb` of `ProcessExecutor`). */
const RUNTIME_HEAP_MB = 24;
/**
 * What the group's resident memory may exceed the configured total by. The watchdog reads each
 * sandbox's memory every 5 ms; a fill (a memset runs at several GB/s) adds up to ~50 MB between
 * two reads and more while the kill is delivered, and a killed sandbox's replacement starts (a
 * fresh Node, ~50 MB) while the memory of the old one is being freed. Per slot.
 */
const MARGIN_MB_PER_SLOT = 256;
const MiB = 1024 * 1024;

let fixtures: WasmFixtures;
const mesh = useLocalMesh({
  capacity: CAPACITY,
  before: async () => {
    fixtures = buildWasmFixtures();
  },
});

/** The node process's pid, from its supervisor's log; there must be exactly one (no restart). */
function nodePid(): number {
  const started = [...mesh.node.output().matchAll(/supervisor: node process (\d+) started/g)];
  expect(started.length, mesh.node.output().slice(-3000)).toBe(1);
  return Number(started[0]![1]);
}

/** The node is the same process as at the start and its supervisor logged no death. */
function expectNodeAlive() {
  const out = mesh.node.output();
  expect(out, out.slice(-3000)).not.toMatch(/died/);
  expect(mesh.node.child.exitCode).toBeNull();
  const pid = nodePid();
  expect(() => process.kill(pid, 0)).not.toThrow();
}

/** Resident memory (bytes) of one process, 0 if it is gone. */
function rssOf(pid: number): number {
  try {
    const kb = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Number(kb ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** The node and its sandbox processes: every process whose process group is the node's pid. */
function groupPids(group: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command (which may hold spaces and parentheses): state ppid pgrp …
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp === group) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const groupRss = (group: number) => groupPids(group).reduce((sum, pid) => sum + rssOf(pid), 0);

const cids = new Map<string, string>();
/** Uploads a wasm module once and returns its CID. */
async function codeCidOf(code: WasmCode): Promise<string> {
  const key = `${code.fixture}:${code.truncateTo ?? ''}`;
  const known = cids.get(key);
  if (known) return known;
  const whole = fixtures[code.fixture];
  const bytes = code.truncateTo ? whole.slice(0, code.truncateTo) : whole;
  const res = await mesh.call('/blobs', { method: 'PUT', body: bytes as Uint8Array<ArrayBuffer> });
  expect(res.status).toBe(201);
  const { cid } = (await res.json()) as { cid: string };
  cids.set(key, cid);
  return cid;
}

async function codeOf(source: string | WasmCode): Promise<Record<string, string>> {
  return typeof source === 'string' ? { source } : { codeCid: await codeCidOf(source) };
}

async function submitHostile(program: HostileProgram): Promise<string> {
  return mesh.submit({
    runtime: program.runtime,
    ...(await codeOf(program.source)),
    inputs: program.inputs,
    ...(program.timeoutMs ? { timeoutMs: program.timeoutMs } : {}),
    ...(program.memoryMb ? { memoryMb: program.memoryMb } : {}),
    // A node_error must show, not be retried away.
    maxAttempts: 1,
    label: program.name,
  });
}

const summary = (r: TaskResult) =>
  JSON.stringify({ state: r.state, error: r.error, output: JSON.stringify(r.output)?.slice(0, 300) });

/** Every task of the hostile job has the program's expected outcome, and none is the node's fault. */
function expectOutcome(program: HostileProgram, { status, results }: Finished) {
  expect(results.length, program.name).toBe(program.inputs.length);
  for (const r of results) {
    const what = `${program.name}: ${summary(r)}`;
    expect(r.error?.kind, what).not.toBe('node_error');
    expect(r.error?.kind, what).not.toBe('lease_expired');
    expect(r.state, what).toBe(program.expect.state);
    if (program.expect.kind) expect(r.error?.kind, what).toBe(program.expect.kind);
    if (program.expect.check) expect(program.expect.check(r as AbuseResult), what).toBe(true);
    expect(r.attempts, what).toBe(1);
  }
  expect(status.state).toBe(program.expect.state);
}

async function submitProbe(probe: Probe, inputs: unknown[] = [probe.input]): Promise<string> {
  return mesh.submit({ runtime: probe.runtime, ...(await codeOf(probe.source)), inputs, label: probe.name });
}

/** One job per probe, each with its one input: every output is the clean one. */
async function expectCleanProbes(after: string) {
  const ids = await Promise.all(probes.map((probe) => submitProbe(probe)));
  const done = await Promise.all(ids.map((id) => mesh.finished(id)));
  done.forEach(({ results }, i) => {
    const probe = probes[i]!;
    expect(results[0]?.output, `${probe.name} after ${after}: ${summary(results[0]!)}`).toEqual(
      probe.expected,
    );
  });
}

/** The default subset: the cases measured in the issue and at least one of each kind per runtime. */
const FAST = new Set([
  'js-heap-objects',
  'js-output-too-large',
  'js-tojson-undefined',
  'js-infinite-loop',
  'py-rebuilt-ctypes-run-script',
  'py-getframe-patch-harness',
  'wasm-memory-grow',
]);
/** Hostile jobs of the concurrent run; by default the first of each runtime's half only. */
const BESIDE = [
  'js-heap-objects',
  'js-prototype-and-global-canaries',
  'py-builtins-patch',
  'wasm-remember',
  'js-output-too-large',
  'js-infinite-loop',
  'js-float64array-2e31-fill',
  'py-bytearrays',
  'py-settrace-setprofile',
  'py-sys-modules-tamper',
  'py-files-and-environ',
  'py-getframe-patch-harness',
  'wasm-memory-grow',
  'wasm-stdout-flood',
];
const selected = HOSTILE.filter((p) => inScope(p) && (FULL || FAST.has(p.name)));

describe('abuse suite on a real node', () => {
  test('default: the programs are at least 40, across every runtime, with every allocation kind', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(40);
    expect(new Set(HOSTILE.map((p) => p.name)).size).toBe(HOSTILE.length);
    expect(new Set(HOSTILE.map((p) => p.runtime))).toEqual(new Set(['js', 'python', 'wasm']));
    expect(new Set(HOSTILE.flatMap((p) => (p.allocation ? [p.allocation] : [])))).toEqual(
      new Set(['heap', 'string', 'typed-array', 'array-buffer', 'wasm-grow', 'python', 'many-workers']),
    );
    expect(FULL || [...FAST].every((name) => HOSTILE.some((p) => p.name === name))).toBe(true);
  });

  test('behavior: before anything hostile, the probes are clean', async () => {
    await expectCleanProbes('nothing');
    expectNodeAlive();
  });

  describe('each hostile program, followed by a probe of every runtime', () => {
    test.for(selected.map((p) => [p.name, p] as const))('error: %s', async ([, program]) => {
      const started = performance.now();
      const finished = await mesh.finished(await submitHostile(program));
      process.stderr.write(`[abuse] ${program.name}: ${finished.results.map(summary).join(' ')}\n`);
      expectOutcome(program, finished);
      await expectCleanProbes(program.name);
      expectNodeAlive();
      process.stderr.write(
        `[abuse] ${program.name} and the probes: ${(performance.now() - started).toFixed(0)} ms\n`,
      );
    });
  });

  test('error: hostile jobs run beside honest jobs of many inputs, and every honest result is right', async () => {
    const jsProbe = PROBES.find((p) => p.runtime === 'js')!;
    const pyProbe = PROBES.find((p) => p.runtime === 'python')!;
    const withPython = RUNTIMES.has('python');
    const jsInputs = Array.from({ length: FULL ? 200 : 100 }, (_, i) => i);
    const pyInputs = Array.from({ length: FULL ? 20 : 10 }, (_, i) => 1000 + i);
    const beside = FULL ? BESIDE : BESIDE.slice(0, 4);
    const hostile = HOSTILE.filter(inScope).filter((p) => beside.includes(p.name));
    // Honest jobs first so hostile tasks land between their tasks, then hostile jobs interleaved.
    const honestJs = await submitProbe(jsProbe, jsInputs);
    const hostileIds: string[] = [];
    for (const program of hostile.slice(0, hostile.length / 2)) hostileIds.push(await submitHostile(program));
    const honestPy = withPython ? await submitProbe(pyProbe, pyInputs) : honestJs;
    for (const program of hostile.slice(hostile.length / 2)) hostileIds.push(await submitHostile(program));

    const [js, python, ...rest] = await Promise.all(
      [honestJs, honestPy, ...hostileIds].map((id) => mesh.finished(id, 200_000)),
    );
    expect(js!.status.state).toBe('succeeded');
    expect(js!.results.map((r) => r.output)).toEqual(jsInputs.map((x) => ({ double: 2 * x, leaks: [] })));
    if (withPython) {
      expect(python!.status.state).toBe('succeeded');
      expect(python!.results.map((r) => r.output)).toEqual(
        pyInputs.map((x) => ({ double: 2 * x, leaks: [] })),
      );
    }
    rest.forEach((finished, i) => {
      expectOutcome(hostile[i]!, finished!);
    });
    await expectCleanProbes('the concurrent run');
    expectNodeAlive();
  });

  test('behavior: memory bombs of every kind fail as memory_limit, and the node group stays within its total', async () => {
    const group = nodePid();
    const bombs = HOSTILE.filter((p) => p.allocation && inScope(p));
    // The idle group: the node and its warm (and parked) sandbox processes, before any bomb.
    await expectCleanProbes('the memory test start');
    const idle = groupRss(group);
    const memoryMb = Math.max(...bombs.map((p) => p.memoryMb ?? 128));
    const total = idle + CAPACITY * (memoryMb + RUNTIME_HEAP_MB + SLACK_MB) * MiB;
    const allowed = total + CAPACITY * MARGIN_MB_PER_SLOT * MiB;
    let peak = 0;
    let peakDuring = '';
    let current = '';
    const sampler = setInterval(() => {
      const rss = groupRss(group);
      if (rss > peak) {
        peak = rss;
        peakDuring = current;
      }
    }, 20);
    try {
      // One kind at a time (the full run), then every kind at once, all slots filling together.
      for (const program of FULL ? bombs : []) {
        current = program.name;
        expectOutcome(program, await mesh.finished(await submitHostile(program)));
      }
      current = 'all at once';
      const ids = await Promise.all(bombs.map(submitHostile));
      const done = await Promise.all(ids.map((id) => mesh.finished(id)));
      done.forEach((finished, i) => {
        expectOutcome(bombs[i]!, finished);
      });
    } finally {
      clearInterval(sampler);
    }
    process.stderr.write(
      `[abuse] resident memory of the node's group: idle ${(idle / MiB).toFixed(0)} MB, peak ${(peak / MiB).toFixed(0)} MB (during ${peakDuring}), configured total ${(total / MiB).toFixed(0)} MB, allowed ${(allowed / MiB).toFixed(0)} MB\n`,
    );
    expect(peak).toBeLessThanOrEqual(allowed);
    await expectCleanProbes('the memory bombs');
    expectNodeAlive();
  });
});
