import { z } from 'zod';

/**
 * What the web app needs to know before it can talk to a wallet (`GET /api/v1/config`): the chain
 * to switch to and whether the local faucet exists.
 */
export const AppConfig = z
  .object({
    chainId: z.number().int().positive(),
    chainName: z.string(),
    rpcUrl: z.url(),
    /** Only in local development: the app may fund the connected wallet from the local chain. */
    faucet: z.boolean(),
  })
  .meta({ id: 'AppConfig' });
export type AppConfig = z.infer<typeof AppConfig>;
