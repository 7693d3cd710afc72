import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApiKey, DEV_PRIVATE_KEYS } from '../client/index.ts';
import { buildTemplates } from '../scripts/build-wasm.ts';
import { type ApiServer, freePort, type Proc, ROOT, startApi, startProcess } from '../scripts/local-mesh.ts';

// The real binary (`bin/monadmesh.js` on Node 24) as a child process, against `wrangler dev` and a
// compute node started with `monadmesh node`: in a pseudo-terminal (util-linux `script`) and with
// plain pipes. Every run gets a fresh config folder, so nothing touches the real home.
const BIN = join(ROOT, 'bin/monadmesh.js');
const dir = mkdtempSync(join(tmpdir(), 'monadmesh-cli-'));
let api: ApiServer;
let node: Proc;
let key: string;

const files = {
  square: 'export default (x) => x * x;\n',
  // A few milliseconds per task, so a few hundred tasks take long enough for redraws.
  busy: 'export default (x) => { let s = 0; for (let i = 0; i < 4e6; i++) s += i % 3; return x * x + (s < 0 ? 1 : 0); };\n',
  fail: `export default function main(x) {
  console.log('about to look at', x);
  if (x === 3) throw new Error('three is not allowed');
  return x + 1;
}
`,
  slow: 'export default (x) => { const end = Date.now() + 0; let i = 0; while (i < 3e8) i++; return x + end * 0; };\n',
};
const file = (name: keyof typeof files) => join(dir, `${name}.js`);

beforeAll(async () => {
  for (const [name, source] of Object.entries(files)) writeFileSync(join(dir, `${name}.js`), source);
  api = await startApi();
  key = (await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0], label: 'cli-e2e' })).key;
  // The node command runs the headless node in-process (one node, two threads: the machine has two
  // cores), linked to the development wallet as `npm run dev`'s is, so it is trusted with its jobs.
  node = startProcess(process.execPath, [BIN, 'node', '--api', api.url, '--capacity', '2', '--dev-owner'], {
    env: { XDG_CONFIG_HOME: freshConfig() },
  });
  await node.waitFor(/connected to /, 60_000);
});

afterAll(async () => {
  await node?.stop('SIGKILL');
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let configs = 0;
/** An empty config folder: not logged in. */
function freshConfig(): string {
  const path = join(dir, `config-${configs++}`);
  mkdirSync(path);
  return path;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a run: no MONADMESH_* from the test's own environment, a fresh config. */
function envOf(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: freshConfig() };
  delete env.MONADMESH_API;
  delete env.MONADMESH_KEY;
  return { ...env, ...extra };
}

const authed = () => ({ MONADMESH_API: api.url, MONADMESH_KEY: key });

/** The binary with pipes (no terminal anywhere). */
function cli(
  args: string[],
  env: Record<string, string> = authed(),
  onStart?: (p: ReturnType<typeof spawn>) => void,
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: envOf(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    onStart?.(child);
  });
}

/** The binary in a pseudo-terminal: stdin, stdout and stderr are all the terminal. */
function inTerminal(
  args: string[],
  env: Record<string, string> = authed(),
): Promise<{ code: number | null; output: string }> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', quoted, '/dev/null'], {
      env: envOf(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const CLEAR_LINE = '\r\x1b[2K';

describe('monadmesh CLI', () => {
  test('default: in a terminal, run draws a live progress bar, prints every result and exits 0', async () => {
    const { code, output } = await inTerminal(['run', file('busy'), '--inputs', 'range:0..300']);
    expect(code, output.slice(-2000)).toBe(0);
    // Redrawn in place: carriage return + clear line, the bar's cells, and done counts that grow.
    const redraws = output.split(CLEAR_LINE).filter((s) => /^\[[█▏▎▍▌▋▊▉░]+\] .*\/300 done/.test(s));
    expect(redraws.length).toBeGreaterThanOrEqual(3);
    expect(redraws.some((s) => s.includes('░'))).toBe(true);
    expect(redraws.at(-1)).toMatch(/^\[█+\] +(100% )?300\/300 done · 0 failed/);
    const doneCounts = redraws.map((s) => Number(/(\d+)\/300 done/.exec(s)![1]));
    expect(doneCounts).toEqual([...doneCounts].sort((a, b) => a - b));
    expect(output).toMatch(/ETA /);
    expect(output).toMatch(/succeeded: 300\/300 tasks in [\d.]+s .* · job [0-9a-f-]{36}\r\n/);
    // Results are whole lines between redraws, in input order.
    const results = output
      .replaceAll('\r\n', '\n')
      .split('\n')
      .map((l) => l.split(CLEAR_LINE).at(-1)!)
      .filter((l) => l.startsWith('{"index"'))
      .map((l) => JSON.parse(l) as { index: number; output: number });
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(results[299]!.output).toBe(299 * 299);
  });

  test('behavior: without a terminal, plain progress lines on stderr and JSON lines on stdout', async () => {
    const { code, stdout, stderr } = await cli(['run', file('busy'), '--inputs', 'range:0..400']);
    expect(code, stderr).toBe(0);
    expect(lines(stdout)).toEqual(Array.from({ length: 400 }, (_, i) => ({ index: i, output: i * i })));
    expect(stderr.includes('\r') || stderr.includes('\x1b')).toBe(false);
    expect(stderr).toMatch(/^job [0-9a-f-]{36}: 400 tasks \(js, busy\.js\) on http:\/\/127\.0\.0\.1:\d+\n/);
    expect(stderr).toMatch(
      /\nprogress: \d+\/400 done \(\d+%\), 0 failed, \d+ running, \d+ pending, [\d,.k]+ tasks\/s, ETA \S+\n/,
    );
    expect(stderr).toMatch(/\nsucceeded: 400\/400 tasks in [\d.]+s \([\d,.k]+\/s\) · job [0-9a-f-]{36}\n$/);
  });

  test('behavior: --json prints one parseable document, and --out writes the lines to a file', async () => {
    const { code, stdout, stderr } = await cli(['run', file('square'), '--inputs', 'range:0..200', '--json']);
    expect(code, stderr).toBe(0);
    expect(stderr).toBe('');
    const doc = JSON.parse(stdout) as {
      id: string;
      state: string;
      counts: { succeeded: number };
      results: unknown[];
    };
    expect(doc).toMatchObject({ state: 'succeeded', total: 200, counts: { succeeded: 200, failed: 0 } });
    expect(doc.results).toEqual(Array.from({ length: 200 }, (_, i) => ({ index: i, output: i * i })));

    const inputs = join(dir, 'inputs.jsonl');
    writeFileSync(inputs, '3\n4\n5\n');
    const out = join(dir, 'out.jsonl');
    const toFile = await cli(['run', file('square'), '--inputs', inputs, '--out', out, '--json']);
    expect(toFile.code, toFile.stderr).toBe(0);
    expect(JSON.parse(toFile.stdout)).toMatchObject({ state: 'succeeded', out });
    expect(lines(readFileSync(out, 'utf8'))).toEqual([
      { index: 0, output: 9 },
      { index: 1, output: 16 },
      { index: 2, output: 25 },
    ]);
  });

  test('behavior: a .wasm module runs through the API and in a dry run with the same results', async () => {
    const { cWasm } = await buildTemplates();
    const inputs = join(dir, 'ranges.jsonl');
    writeFileSync(inputs, '{"lo":0,"hi":1000}\n{"lo":1000,"hi":2000}\n');
    const real = await cli(['run', cWasm, '--inputs', inputs, '--json']);
    expect(real.code, real.stderr).toBe(0);
    const doc = JSON.parse(real.stdout) as {
      state: string;
      results: { index: number; output: { count: number } }[];
    };
    expect(doc.state).toBe('succeeded');
    expect(doc.results.map((r) => r.output.count)).toEqual([168, 135]);
    const dry = await cli(['run', cWasm, '--inputs', inputs, '--json', '--dry-run'], {});
    expect(dry.code, dry.stderr).toBe(0);
    expect((JSON.parse(dry.stdout) as typeof doc).results).toEqual(doc.results);
  });

  test('behavior: a .py file runs as Python', async () => {
    writeFileSync(join(dir, 'double.py'), 'def main(x):\n    print("got", x)\n    return x * 2\n');
    const r = await cli(['run', join(dir, 'double.py'), '--inputs', 'range:0..4', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { results: unknown[] };
    expect(doc.results).toEqual([0, 1, 2, 3].map((i) => ({ index: i, output: i * 2 })));
  });

  test('error: a failing task exits 1 and shows its kind, remote stack and logs', async () => {
    const { code, stdout, stderr } = await cli(['run', file('fail'), '--inputs', 'range:0..6']);
    expect(code, stderr).toBe(1);
    expect(stderr).toMatch(
      /task 3 failed: user_error \(attempt 1, node 12D3KooW[1-9A-HJ-NP-Za-km-z]+\)\n {2}Error: three is not allowed\n {6}at main \(task\.js:3:\d+\)\n {2}logs:\n {4}about to look at 3\n/,
    );
    expect(stderr).toMatch(/failed: 1 of 6 tasks failed, 5 succeeded in/);
    const records = lines(stdout);
    expect(records.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(records[3]).toMatchObject({
      index: 3,
      error: { kind: 'user_error', message: 'Error: three is not allowed' },
    });
    expect(records[4]).toEqual({ index: 4, output: 5 });

    const json = await cli(['run', file('fail'), '--inputs', 'range:0..6', '--json']);
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout) as {
      state: string;
      results: { error?: { stack?: string }; logs?: string }[];
    };
    expect(doc.state).toBe('failed');
    expect(doc.results[3]!.error!.stack).toMatch(/at main \(task\.js:3:\d+\)/);
    expect(doc.results[3]!.logs).toBe('about to look at 3\n');
  });

  test('behavior: --dry-run needs no API or key and reports the same results and failures', async () => {
    const noApi = { MONADMESH_API: `http://127.0.0.1:${await freePort()}` };
    const [dry, real] = await Promise.all([
      cli(['run', file('fail'), '--inputs', 'range:0..6', '--dry-run', '--json'], noApi),
      cli(['run', file('fail'), '--inputs', 'range:0..6', '--json']),
    ]);
    expect(dry.code, dry.stderr).toBe(1);
    const dryDoc = JSON.parse(dry.stdout) as { dryRun: boolean; state: string; results: unknown[] };
    const realDoc = JSON.parse(real.stdout) as { results: unknown[] };
    expect(dryDoc).toMatchObject({
      id: 'dry-run',
      dryRun: true,
      state: 'failed',
      counts: { succeeded: 5, failed: 1 },
    });
    expect(dryDoc.results).toEqual(realDoc.results);

    const plain = await cli(['run', file('fail'), '--inputs', 'range:0..6', '--dry-run'], noApi);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/^dry run: 6 tasks \(js, fail\.js\) in local sandboxes\n/);
    expect(plain.stderr).toMatch(
      /task 3 failed: user_error \(attempt 1, node local\)\n {2}Error: three is not allowed\n {6}at main \(task\.js:3:/,
    );
    expect(plain.stderr).toMatch(
      /failed: 1 of 6 tasks failed, 5 succeeded in [\d.]+s · dry run, nothing was submitted\n$/,
    );
  });

  test('error: bad arguments exit 2 with the usage; --json errors parse', async () => {
    const cases: [string[], RegExp][] = [
      [['run', file('square'), '--inputs', 'range:0..3', '--bogus'], /monadmesh: unknown option --bogus/],
      [['run', file('square')], /monadmesh: missing --inputs/],
      [['run', file('square'), '--inputs', 'range:0-3'], /monadmesh: bad range "range:0-3"/],
      [
        ['run', file('square'), '--inputs', 'range:0..3', '--timeout', 'soon'],
        /--timeout must be an integer/,
      ],
      [['run', join(dir, 'missing.js'), '--inputs', 'range:0..3'], /cannot read .*missing\.js: ENOENT/],
      [['frobnicate'], /monadmesh: unknown command "frobnicate"/],
    ];
    const ran = await Promise.all(cases.map(([args]) => cli(args)));
    ran.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
      expect(r.stderr).toMatch(/Usage: monadmesh/);
      expect(r.stdout).toBe('');
    });
    writeFileSync(join(dir, 'f.rb'), 'puts 1\n');
    const ruby = await cli(['run', join(dir, 'f.rb'), '--inputs', 'range:0..3', '--json']);
    expect(ruby.code).toBe(2);
    expect(JSON.parse(ruby.stdout)).toMatchObject({
      error: { message: expect.stringMatching(/cannot tell the runtime/) },
    });
    const help = await cli(['run', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(
      /Usage: monadmesh run <file\.js\|file\.mjs\|file\.py\|file\.wasm> --inputs <SPEC>/,
    );
    expect(help.stdout).toMatch(/Examples:/);
    expect(help.stdout).toMatch(/Exit codes:/);
  });

  test('error: without a key exit 3, with a rejected key exit 3, without an API exit 4', async () => {
    const [noKey, noKeyJobs, badKey, noApi] = await Promise.all([
      cli(['run', file('square'), '--inputs', 'range:0..3'], { MONADMESH_API: api.url }),
      cli(['jobs', '--json'], {}),
      cli(['status', 'x', '--key', 'mmk_0000000000000000000000000000000000000000_nope'], {
        MONADMESH_API: api.url,
      }),
      cli(['jobs'], { MONADMESH_API: `http://127.0.0.1:${await freePort()}`, MONADMESH_KEY: key }),
    ]);
    expect(noKey.code).toBe(3);
    expect(noKey.stderr).toMatch(/not logged in to http:\/\/127\.0\.0\.1:\d+: run `monadmesh login --dev`/);
    expect(noKeyJobs.code).toBe(3);
    expect(JSON.parse(noKeyJobs.stdout)).toMatchObject({ error: { code: 'not_logged_in' } });
    expect(badKey.code, badKey.stderr).toBe(3);
    expect(badKey.stderr).toMatch(/hint: log in again/);
    expect(noApi.code).toBe(4);
    expect(noApi.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: .*\(ECONNREFUSED\)/);
  });

  test('behavior: login --dev, then jobs, status, results, logs and cancel', async () => {
    const config = freshConfig();
    const env = { XDG_CONFIG_HOME: config };
    const login = await cli(['login', '--dev', '--api', api.url], env);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toMatch(/^logged in to http:\/\/127\.0\.0\.1:\d+ as 0x[0-9a-f]{40}; key saved to /);
    const saved = join(config, 'monadmesh', 'config.json');
    expect(statSync(saved).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(saved, 'utf8'))).toEqual({
      api: api.url,
      key: expect.stringMatching(/^mmk_/),
    });

    // From here on only the saved config says where and who.
    const submitted = await cli(
      ['run', file('fail'), '--inputs', 'range:0..6', '--label', 'round-trip', '--detach'],
      env,
    );
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const results = await cli(['results', id], env); // waits for the job
    expect(results.code, results.stderr).toBe(1);
    expect(lines(results.stdout)).toHaveLength(6);
    expect(results.stderr).toMatch(/task 3 failed: user_error/);

    const [jobs, jobsJson, status, statusJson, logsOne, logsAll, resultsFrom] = await Promise.all([
      cli(['jobs'], env),
      cli(['jobs', '--json', '--limit', '5'], env),
      cli(['status', id], env),
      cli(['status', id, '--json'], env),
      cli(['logs', id, '3'], env),
      cli(['logs', id, '--json'], env),
      cli(['results', id, '--from', '4', '--json'], env),
    ]);
    expect(jobs.stdout).toMatch(
      new RegExp(`^ID +STATE +TASKS +CREATED +LABEL\\n${id} +failed +6 +.* round-trip\\n`),
    );
    expect(JSON.parse(jobsJson.stdout)[0]).toMatchObject({
      id,
      state: 'failed',
      total: 6,
      label: 'round-trip',
    });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      /state +failed\ntasks +6: 5 succeeded, 1 failed, 0 running, 0 pending, 0 cancelled\n/,
    );
    expect(JSON.parse(statusJson.stdout)).toMatchObject({
      id,
      state: 'failed',
      total: 6,
      label: 'round-trip',
    });
    expect(logsOne.code).toBe(0);
    expect(logsOne.stdout).toMatch(
      /^── task 3 · failed · 1 attempt · node 12D3KooW[1-9A-HJ-NP-Za-km-z]+ · [\d.]+ ms\nerror: user_error\n {2}Error: three is not allowed\n {6}at main \(task\.js:3:\d+\)\nlogs:\n {2}about to look at 3\n$/,
    );
    const all = JSON.parse(logsAll.stdout) as { id: string; tasks: { index: number; logs: string }[] };
    expect(all.tasks.map((t) => [t.index, t.logs])).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => [i, `about to look at ${i}\n`]),
    );
    expect(resultsFrom.code).toBe(1);
    expect(JSON.parse(resultsFrom.stdout)).toMatchObject({
      id,
      state: 'failed',
      results: [
        { index: 4, output: 5 },
        { index: 5, output: 6 },
      ],
    });

    // Cancel a job that is still running; cancelling a finished one is refused (exit 2).
    const long = await cli(['run', file('slow'), '--inputs', 'range:0..50', '--detach', '--json'], env);
    const longId = (JSON.parse(long.stdout) as { id: string }).id;
    const cancelled = await cli(['cancel', longId], env);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toMatch(new RegExp(`^cancelled job ${longId}: \\d+ tasks cancelled`));
    const after = await cli(['status', longId, '--json'], env);
    expect(JSON.parse(after.stdout)).toMatchObject({ state: 'cancelled' });
    const again = await cli(['cancel', id], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/job already failed; there is nothing to cancel/);
    const unknown = await cli(['status', 'no-such-job', '--json'], env);
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ error: { code: 'not_found' } });
  });

  test('behavior: Ctrl-C cancels the job and exits 130', async () => {
    let started: () => void = () => {};
    const seen = new Promise<void>((resolve) => {
      started = resolve;
    });
    const ran = cli(['run', file('slow'), '--inputs', 'range:0..50'], authed(), (child) => {
      child.stderr!.on('data', (d: Buffer) => {
        if (String(d).includes(' tasks (js, slow.js)')) started();
      });
      void seen.then(() => setTimeout(() => child.kill('SIGINT'), 300));
    });
    const { code, stderr } = await ran;
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/Ctrl-C: cancelling job ([0-9a-f-]{36})/);
    expect(stderr).toMatch(/cancelled job [0-9a-f-]{36}\n/);
    const id = /cancelling job ([0-9a-f-]{36})/.exec(stderr)![1]!;
    const status = await cli(['status', id, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ id, state: 'cancelled' });
  });
});
