import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
  options: {
    port?: number;
    persistTo?: string;
    echo?: string;
    secret?: string;
    /** Worker vars (`--var NAME:VALUE`), e.g. `chainVars(anvil)` for the web app's chain. */
    vars?: Record<string, string>;
  } = {},
): Promise<ApiServer> {
  // A free port can be taken by someone else before wrangler binds it: try new ones then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startApiOnce(options);
    } catch (error) {
      const clash = error instanceof WranglerExited && /Address already in use/.test(error.message);
      if (!clash || options.port !== undefined || attempt >= 3) throw error;
    }
  }
}

class WranglerExited extends Error {}

async function startApiOnce(options: Parameters<typeof startApi>[0] & {}): Promise<ApiServer> {
  const port = options.port ?? (await freePort());
  const inspector = await freePort();
  const state = options.persistTo ?? mkdtempSync(join(tmpdir(), 'monadmesh-state-'));
  // wrangler refuses to start when the static assets folder is missing (the web app not built).
  mkdirSync(join(ROOT, 'frontend/dist'), { recursive: true });
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
      ...Object.entries(options.vars ?? {}).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
    ],
    {
      ...(options.echo ? { echo: options.echo } : {}),
      env: {
        WRANGLER_SEND_METRICS: 'false',
        CI: process.env.CI ?? '',
        // wrangler 4.156 records every request, object call, socket message and SQL statement
        // of `wrangler dev` for its local explorer; measured, that took half of workerd's CPU on
        // the dispatch path (bench/profile-dispatch.ts). Off unless asked for.
        X_LOCAL_OBSERVABILITY: process.env.X_LOCAL_OBSERVABILITY ?? 'false',
      },
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.child.exitCode !== null) {
      if (!options.persistTo) rmSync(state, { recursive: true, force: true });
      throw new WranglerExited(`wrangler dev exited:\n${proc.output().slice(-3000)}`);
    }
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

/**
 * A headless compute node process (the real CLI), resolved once it is connected to the hub.
 * Linked to the development wallet unless `anonymous`. Its
 * key is `keyFile` when given, else a new one in a temporary directory removed by `stop()`: nodes
 * started together must not share a key, since a node's peer id is its node id.
 */
export async function startNode(
  api: string,
  options: {
    capacity?: number;
    nodeId?: string;
    keyFile?: string;
    echo?: string;
    /** More CLI flags, e.g. `['--verbose']`. */
    args?: string[];
    /**
     * Leave the node unlinked. By default it is linked to the development wallet (`--dev-owner`,
     * unless `args` has an `--owner-link`), as `npm run dev`'s node is, so that it is trusted
     * with that wallet's jobs.
     */
    anonymous?: boolean;
  } = {},
): Promise<Proc> {
  const keyDir = options.keyFile ? undefined : mkdtempSync(join(tmpdir(), 'monadmesh-node-'));
  const keyFile = options.keyFile ?? join(keyDir!, 'node-key');
  const args = [join(ROOT, 'browser-node/src/headless/cli.ts'), '--api', api, '--key-file', keyFile];
  if (options.capacity) args.push('--capacity', String(options.capacity));
  if (options.nodeId) args.push('--node-id', options.nodeId);
  if (!options.anonymous && !options.args?.includes('--owner-link')) args.push('--dev-owner');
  args.push(...(options.args ?? []));
  const proc = startProcess(process.execPath, args, options.echo ? { echo: options.echo } : {});
  const stop = async (signal?: NodeJS.Signals) => {
    await proc.stop(signal);
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  };
  try {
    await proc.waitFor(/connected to /, 60_000);
  } catch (err) {
    await stop('SIGKILL');
    throw err;
  }
  return { ...proc, stop };
}

export interface Anvil {
  /** JSON-RPC URL on loopback. */
  rpcUrl: string;
  port: number;
  chainId: number;
  proc: Proc;
  stop(): Promise<void>;
}

/**
 * A local EVM chain (Foundry's anvil) with its ten well-known dev accounts (10,000 ETH each; the
 * first two keys are `DEV_PRIVATE_KEYS`). Anvil answers CORS requests, so the web app's faucet
 * can call `anvil_setBalance` on it from the page.
 */
export async function startAnvil(
  options: {
    port?: number;
    chainId?: number;
    echo?: string;
    /** Load the chain from this file if it exists, and save it there on exit (`anvil --state`). */
    state?: string;
  } = {},
): Promise<Anvil> {
  const port = options.port ?? (await freePort());
  const chainId = options.chainId ?? 31337;
  const proc = startProcess(
    join(ROOT, 'node_modules/.bin/anvil'),
    [
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--chain-id',
      String(chainId),
      ...(options.state ? ['--state', options.state] : []),
    ],
    options.echo ? { echo: options.echo } : {},
  );
  await proc.waitFor(/Listening on/, 30_000);
  return { rpcUrl: `http://127.0.0.1:${port}`, port, chainId, proc, stop: () => proc.stop() };
}

/** The Worker vars that point the web app at a local anvil, with the dev faucet on. */
export function chainVars(anvil: Pick<Anvil, 'rpcUrl' | 'chainId'>): Record<string, string> {
  return {
    CHAIN_ID: String(anvil.chainId),
    CHAIN_NAME: 'Anvil (local)',
    RPC_URL: anvil.rpcUrl,
    FAUCET: 'true',
  };
}

/**
 * Build the web app (frontend/ → frontend/dist) with Vite, in this process. With `watch`, keeps
 * rebuilding on changes (wrangler dev serves the new files at once) until `close()`.
 */
export async function buildWebApp(
  options: { watch?: boolean; logLevel?: 'info' | 'warn' | 'error' | 'silent' } = {},
): Promise<{ close(): Promise<void> }> {
  const { build } = await import('vite');
  // Vite takes React's build flavour from NODE_ENV, which vitest sets to "test": force production.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  const result = await build({
    configFile: join(ROOT, 'frontend/vite.config.ts'),
    mode: 'production',
    logLevel: options.logLevel ?? 'warn',
    ...(options.watch ? { build: { watch: {} } } : {}),
  }).finally(() => {
    if (!options.watch) process.env.NODE_ENV = nodeEnv;
  });
  const watcher = 'close' in result && typeof result.close === 'function' ? result : undefined;
  if (watcher && 'on' in watcher) {
    // With watch, build() returns before the first build ends; wait for it (a failed first build
    // is reported and the watcher keeps going, so fixing the file recovers).
    await new Promise<void>((resolve) => {
      (watcher as unknown as { on(e: 'event', f: (ev: { code: string; error?: Error }) => void): void }).on(
        'event',
        (ev) => {
          if (ev.code === 'ERROR') process.stderr.write(`[web] build failed: ${ev.error?.message}\n`);
          if (ev.code === 'END' || ev.code === 'ERROR') resolve();
        },
      );
    });
  }
  return { close: async () => void (await watcher?.close()) };
}
