import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { createApiKey, createClient, DEV_PRIVATE_KEYS } from '../../client/index.ts';
import { API_KEY_PREFIX } from '../../protocol/index.ts';
import { commonHelp, intFlag, parseCommand } from '../args.ts';
import { usageError } from '../cli-error.ts';
import type { Command } from '../command.ts';
import { configPath, DEFAULT_API, normalizeApi, readConfig, writeConfig } from '../config.ts';
import { ExitCode, exitCodesHelp } from '../exit-codes.ts';
import { printJson, write } from '../output.ts';

const help = `monadmesh login: save an API key for the other commands

Usage: monadmesh login [--api URL] (--dev [--account N] | --key-file FILE | --key mmk_…)

  --dev             sign in with a local development account (anvil's well-known test keys;
                    never for anything of value) and create an API key
  --account N       which development account, 0 to ${DEV_PRIVATE_KEYS.length - 1} (default 0)
  --key-file FILE   sign in with the wallet whose 0x private key is in FILE and create an API key
  --key mmk_…       save an existing API key (checked against the API first)
${commonHelp}

The key and API are saved to ${configPath().replace(process.env.HOME ?? '\u0000', '~')} (mode 0600;
the folder follows $XDG_CONFIG_HOME). Other commands use them unless --api/--key or
MONADMESH_API/MONADMESH_KEY say otherwise; the saved key is only ever sent to the saved API.

Examples:
  monadmesh login --dev                                   # local \`npm run dev\` on ${DEFAULT_API}
  monadmesh login --api https://monadmesh.example.workers.dev --key-file ~/.monadmesh-wallet
  monadmesh login --key "$MONADMESH_KEY"

${exitCodesHelp}
`;

const options = {
  dev: { type: 'boolean', default: false },
  account: { type: 'string' },
  'key-file': { type: 'string' },
} as const;

/** Which way to log in, validated. */
export type LoginMethod =
  | { kind: 'dev'; account: number }
  | { kind: 'key-file'; path: string }
  | { kind: 'key'; key: string };

export function parseLoginArgs(argv: string[]) {
  const { values } = parseCommand(argv, options, { min: 0, max: 0, names: '' });
  if (values.help) return { values, method: undefined };
  const chosen = [values.dev, values['key-file'] !== undefined, values.key !== undefined].filter(Boolean);
  if (chosen.length !== 1) throw usageError('give exactly one of --dev, --key-file FILE or --key KEY');
  if (values.account !== undefined && !values.dev) throw usageError('--account goes with --dev');
  let method: LoginMethod;
  if (values.dev) {
    method = {
      kind: 'dev',
      account: intFlag('account', values.account, 0, DEV_PRIVATE_KEYS.length - 1) ?? 0,
    };
  } else if (values['key-file'] !== undefined) {
    method = { kind: 'key-file', path: values['key-file'] };
  } else {
    const key = values.key!.trim();
    if (!key.startsWith(API_KEY_PREFIX)) throw usageError(`--key must be an API key (${API_KEY_PREFIX}…)`);
    method = { kind: 'key', key };
  }
  return { values, method };
}

/** A 0x-prefixed 32-byte hex private key from a key file's text (0x optional, whitespace ignored). */
export function parsePrivateKey(text: string, path: string): `0x${string}` {
  const hex = text.trim().replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw usageError(`${path} does not hold a private key (64 hex digits, optionally 0x-prefixed)`);
  }
  return `0x${hex.toLowerCase()}`;
}

export const login: Command = {
  name: 'login',
  summary: 'save credentials: --dev (local dev account), --key-file FILE (wallet key) or --key mmk_…',
  help,
  async run(argv) {
    const { values, method } = parseLoginArgs(argv);
    if (!method) {
      await write(process.stdout, help);
      return ExitCode.ok;
    }
    const api = normalizeApi(values.api ?? process.env.MONADMESH_API ?? readConfig()?.api ?? DEFAULT_API);
    const label = `monadmesh-cli@${hostname()}`.slice(0, 100);
    let key: string;
    switch (method.kind) {
      case 'dev': {
        if (!isLoopback(api) && !values.json) {
          process.stderr.write(`warning: ${api} is not local; development accounts are public test keys\n`);
        }
        key = (await createApiKey({ url: api, privateKey: DEV_PRIVATE_KEYS[method.account]!, label })).key;
        break;
      }
      case 'key-file': {
        let text: string;
        try {
          text = await readFile(method.path, 'utf8');
        } catch (error) {
          throw usageError(
            `cannot read ${method.path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          );
        }
        key = (await createApiKey({ url: api, privateKey: parsePrivateKey(text, method.path), label })).key;
        break;
      }
      case 'key': {
        // A key that the API does not accept is not worth saving: ask for something cheap with it.
        await createClient({ url: api, apiKey: method.key }).jobs({ limit: 1 });
        key = method.key;
        break;
      }
    }
    const path = configPath();
    writeConfig({ api, key }, path);
    const address = addressOfKey(key);
    if (values.json) await printJson({ api, address, config: path });
    else
      process.stderr.write(`logged in to ${api}${address ? ` as ${address}` : ''}; key saved to ${path}\n`);
    return ExitCode.ok;
  },
};

/** API keys are `mmk_<address without 0x>_<secret>`. */
function addressOfKey(key: string): string | undefined {
  const match = /^mmk_([0-9a-fA-F]{40})_/.exec(key);
  return match ? `0x${match[1]}` : undefined;
}

function isLoopback(api: string): boolean {
  const host = new URL(api).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
}
