import { z } from 'zod';

/**
 * What the web app needs to know before it can talk to a wallet (`GET /api/v1/config`): the chain
 * to switch to, whether the local faucet exists, and where a tab's sandboxes run.
 */
export const AppConfig = z
  .object({
    chainId: z.number().int().positive(),
    chainName: z.string(),
    rpcUrl: z.url(),
    /** Only in local development: the app may fund the connected wallet from the local chain. */
    faucet: z.boolean(),
    /**
     * Where a contributing tab runs its sandboxes: an origin of another site than the app's,
     * serving the app's `/sandbox.html`, so a task that runs out of memory takes down that
     * frame's renderer process rather than the tab. Absent: the sandboxes run in the tab.
     */
    sandboxOrigin: z.url().optional(),
    /** The MonadMeshRegistry finished jobs are anchored on (absent: anchoring is not configured). */
    registry: z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/)
      .optional(),
    /** A block explorer for anchoring transactions (absent: the chain has none configured). */
    explorerUrl: z.url().optional(),
  })
  .meta({ id: 'AppConfig' });
export type AppConfig = z.infer<typeof AppConfig>;
