import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CliError } from './cli-error.ts';
import { ExitCode } from './exit-codes.ts';

/** What `monadmesh login` saves. */
export const SavedConfig = z.object({ api: z.string(), key: z.string() });
export type SavedConfig = z.infer<typeof SavedConfig>;

export const DEFAULT_API = 'http://127.0.0.1:8787';

type Env = Record<string, string | undefined>;

/** `$XDG_CONFIG_HOME/monadmesh/config.json`, or `~/.config/monadmesh/config.json`. */
export function configPath(env: Env = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'monadmesh', 'config.json');
}

/** The saved config, or undefined when there is none. A broken file is an error, not silence. */
export function readConfig(path = configPath()): SavedConfig | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError('config', `cannot read ${path}: ${(error as Error).message}`, ExitCode.auth);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CliError('config', `${path} is not JSON; run \`monadmesh login\` again`, ExitCode.auth);
  }
  const parsed = SavedConfig.safeParse(raw);
  if (!parsed.success) {
    throw new CliError('config', `${path} has no api and key; run \`monadmesh login\` again`, ExitCode.auth);
  }
  return parsed.data;
}

/** Save the config readable by the user only: it holds a key that acts as the wallet. */
export function writeConfig(config: SavedConfig, path = configPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // `mode` applies only when the file is created; an older file may have looser permissions.
  chmodSync(path, 0o600);
}

/** Where to connect and with which key, after flags, environment and saved config. */
export interface Connection {
  api: string;
  key: string | undefined;
  /** Where the key came from, for messages. */
  keySource: 'flag' | 'env' | 'config' | 'none';
}

/**
 * Flags beat environment (`MONADMESH_API`, `MONADMESH_KEY`), which beats the saved config. The
 * saved key is only sent to the API it was created for, so `--api` pointing elsewhere never
 * leaks it.
 */
export function resolveConnection(
  flags: { api?: string | undefined; key?: string | undefined },
  env: Env = process.env,
  saved: SavedConfig | undefined = readConfig(configPath(env)),
): Connection {
  const api = normalizeApi(flags.api ?? env.MONADMESH_API ?? saved?.api ?? DEFAULT_API);
  if (flags.key) return { api, key: flags.key, keySource: 'flag' };
  if (env.MONADMESH_KEY) return { api, key: env.MONADMESH_KEY, keySource: 'env' };
  if (saved && normalizeApi(saved.api) === api) return { api, key: saved.key, keySource: 'config' };
  return { api, key: undefined, keySource: 'none' };
}

/** The connection's key, or exit 3 with how to get one. */
export function requireKey(connection: Connection): string {
  if (connection.key) return connection.key;
  throw new CliError(
    'not_logged_in',
    `not logged in to ${connection.api}: run \`monadmesh login --dev\` (local) or \`monadmesh login --key-file FILE\`, or set MONADMESH_KEY`,
    ExitCode.auth,
  );
}

/** `http://host:port` without a trailing slash; exit 2 for anything that is not an http(s) URL. */
export function normalizeApi(api: string): string {
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    throw new CliError('usage', `--api must be a URL like ${DEFAULT_API}, got ${api}`, ExitCode.usage);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError('usage', `--api must be an http(s) URL, got ${api}`, ExitCode.usage);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
