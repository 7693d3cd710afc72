import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { AppConfig } from '../../protocol/config.ts';
import type { AppEnv } from '../app-env.ts';
import { validationHook } from '../validation.ts';

/** Worker vars (wrangler.toml `[vars]`, or `--var` in `wrangler dev`) that shape AppConfig. */
export interface ConfigVars {
  CHAIN_ID?: string;
  CHAIN_NAME?: string;
  RPC_URL?: string;
  /** "true" only for a local chain such as anvil, whose `anvil_setBalance` the faucet calls. */
  FAUCET?: string;
  /**
   * Origin of the sandbox frame (another registrable domain routed to this Worker). Unset: a
   * page on `localhost` gets `127.0.0.1` and the reverse (two sites to a browser), any other page
   * none (its tabs run their sandboxes in their own process).
   */
  SANDBOX_ORIGIN?: string;
  /** The MonadMeshRegistry (see ChainEnv); shown to the web app for spec registration and checks. */
  REGISTRY_ADDRESS?: string;
  EXPLORER_URL?: string;
}

/** Monad testnet: the production default when no var says otherwise. */
const MONAD_TESTNET = { chainId: 10143, chainName: 'Monad Testnet', rpcUrl: 'https://testnet-rpc.monad.xyz' };

/** AppConfig from the Worker's vars, falling back to Monad testnet (never to a faucet). */
export function appConfigFrom(vars: ConfigVars, requestUrl?: string): AppConfig {
  const chainId = Number(vars.CHAIN_ID);
  const sandboxOrigin = sandboxOriginFor(vars.SANDBOX_ORIGIN, requestUrl);
  const explorer = vars.EXPLORER_URL && URL.canParse(vars.EXPLORER_URL) ? vars.EXPLORER_URL : undefined;
  return {
    chainId: Number.isInteger(chainId) && chainId > 0 ? chainId : MONAD_TESTNET.chainId,
    chainName: vars.CHAIN_NAME || MONAD_TESTNET.chainName,
    rpcUrl: vars.RPC_URL || MONAD_TESTNET.rpcUrl,
    faucet: vars.FAUCET === 'true',
    ...(sandboxOrigin ? { sandboxOrigin } : {}),
    ...(vars.REGISTRY_ADDRESS && /^0x[0-9a-fA-F]{40}$/.test(vars.REGISTRY_ADDRESS)
      ? { registry: vars.REGISTRY_ADDRESS.toLowerCase() }
      : {}),
    ...(explorer ? { explorerUrl: explorer } : {}),
  };
}

/** The configured sandbox origin, or on a loopback page the other loopback name. */
function sandboxOriginFor(
  configured: string | undefined,
  requestUrl: string | undefined,
): string | undefined {
  const own = requestUrl ? new URL(requestUrl).origin : undefined;
  if (configured) {
    try {
      const origin = new URL(configured).origin;
      // A page on the sandbox origin itself gets none: a frame of its own origin confines nothing.
      return origin === own ? undefined : origin;
    } catch {
      return undefined;
    }
  }
  if (!requestUrl) return undefined;
  const url = new URL(requestUrl);
  const other = { localhost: '127.0.0.1', '127.0.0.1': 'localhost' }[url.hostname];
  if (!other) return undefined;
  url.hostname = other;
  return url.origin;
}

export const config = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

config.openapi(
  createRoute({
    method: 'get',
    path: '/config',
    summary:
      "The web app's configuration: chain id, chain name, RPC URL, whether a dev faucet exists, and the sandbox frame's origin",
    responses: {
      200: { description: 'Configuration', content: { 'application/json': { schema: AppConfig } } },
    },
  }),
  (c) => c.json(appConfigFrom(c.env as unknown as ConfigVars, c.req.url), 200),
);
