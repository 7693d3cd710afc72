import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the repository. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Proc {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when the output matches `pattern`; rejects if the process exits first or on timeout. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM (or the given signal), then SIGKILL after a grace period. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Start a process whose output is collected (and echoed with a prefix when `echo` is set). */
export function startProcess(
  command: string,
  args: string[],
  options: { echo?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Proc {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: false,
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    out += text;
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
    if (options.echo) {
      for (const line of text.split('\n')) if (line.trim()) process.stderr.write(`${options.echo} ${line}\n`);
    }
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => out,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(out)) {
            cleanup();
            resolve();
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}; output:\n${out.slice(-3000)}`),
          );
        }, timeoutMs);
        const onExit = () => {
          cleanup();
          reject(
            new Error(
              `${command} exited (${child.exitCode}) before ${pattern}; output:\n${out.slice(-3000)}`,
            ),
          );
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface ApiServer {
  url: string;
  port: number;
  proc: Proc;
  stop(): Promise<void>;
}

/**
 * `wrangler dev` (workerd with local Durable Objects, SQLite and R2) on a free loopback port,
 * with state in a fresh temporary folder unless `persistTo` is given.
 */
export async function startApi(
  options: { port?: number; persistTo?: string; echo?: string; secret?: string } = {},
): Promise<ApiServer> {
  const port = options.port ?? (await freePort());
  const inspector = await freePort();
  const state = options.persistTo ?? mkdtempSync(join(tmpdir(), 'monadmesh-state-'));
  const proc = startProcess(
    process.execPath,
    [
      join(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--inspector-port',
      String(inspector),
      '--persist-to',
      state,
      '--show-interactive-dev-session=false',
      '--var',
      `SESSION_SECRET:${options.secret ?? 'local-dev-secret-not-for-production'}`,
    ],
    {
      ...(options.echo ? { echo: options.echo } : {}),
      env: { WRANGLER_SEND_METRICS: 'false', CI: process.env.CI ?? '' },
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`wrangler dev exited:\n${proc.output().slice(-3000)}`);
    try {
      const res = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await proc.stop('SIGKILL');
      throw new Error(`wrangler dev did not come up on ${url}:\n${proc.output().slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    port,
    proc,
    async stop() {
      await proc.stop();
      if (!options.persistTo) rmSync(state, { recursive: true, force: true });
    },
  };
}

/** A headless compute node process (the real CLI), resolved once it is connected to the hub. */
export async function startNode(
  api: string,
  options: { capacity?: number; nodeId?: string; echo?: string } = {},
): Promise<Proc> {
  const args = [join(ROOT, 'browser-node/src/headless/cli.ts'), '--api', api];
  if (options.capacity) args.push('--capacity', String(options.capacity));
  if (options.nodeId) args.push('--node-id', options.nodeId);
  const proc = startProcess(process.execPath, args, options.echo ? { echo: options.echo } : {});
  await proc.waitFor(/connected to /, 60_000);
  return proc;
}
