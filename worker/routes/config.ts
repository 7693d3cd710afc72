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
}

/** Monad testnet: the production default when no var says otherwise. */
const MONAD_TESTNET = { chainId: 10143, chainName: 'Monad Testnet', rpcUrl: 'https://testnet-rpc.monad.xyz' };

/** AppConfig from the Worker's vars, falling back to Monad testnet (never to a faucet). */
export function appConfigFrom(vars: ConfigVars): AppConfig {
  const chainId = Number(vars.CHAIN_ID);
  return {
    chainId: Number.isInteger(chainId) && chainId > 0 ? chainId : MONAD_TESTNET.chainId,
    chainName: vars.CHAIN_NAME || MONAD_TESTNET.chainName,
    rpcUrl: vars.RPC_URL || MONAD_TESTNET.rpcUrl,
    faucet: vars.FAUCET === 'true',
  };
}

export const config = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

config.openapi(
  createRoute({
    method: 'get',
    path: '/config',
    summary: "The web app's configuration: chain id, chain name, RPC URL, and whether a dev faucet exists",
    responses: {
      200: { description: 'Configuration', content: { 'application/json': { schema: AppConfig } } },
    },
  }),
  (c) => c.json(appConfigFrom(c.env as unknown as ConfigVars), 200),
);
