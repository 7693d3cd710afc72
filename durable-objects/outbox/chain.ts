import {
  type Chain,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  isAddress,
  type PrivateKeyAccount,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { chainFor } from '../../protocol/chains.ts';

/** The Worker vars and secrets anchoring reads (`wrangler.toml` `[vars]`, `wrangler secret put`). */
export interface ChainEnv {
  /** The chain's id: 10143 Monad testnet, 143 Monad, anything else a chain at `RPC_URL` (anvil). */
  CHAIN_ID?: string;
  CHAIN_NAME?: string;
  /** JSON-RPC endpoint the relayer sends through (and the web app reads). */
  RPC_URL?: string;
  /** The `MonadMeshRegistry` contract. */
  REGISTRY_ADDRESS?: string;
  /** Secret: the relayer's private key (0x + 64 hex), allowed by the registry's owner. */
  RELAYER_KEY?: string;
  /** A block explorer's base URL, for links to anchoring transactions (the chain's own by default). */
  EXPLORER_URL?: string;
}

export interface ChainConfig {
  chain: Chain;
  rpcUrl: string;
  registry: Hex;
  relayer: PrivateKeyAccount;
}

/**
 * Anchoring's chain settings, or what is missing. Jobs are queued for anchoring either way; the
 * cron commits nothing until all of them are set.
 */
export function chainConfig(env: ChainEnv): ChainConfig | { missing: string[]; invalid: string[] } {
  const missing: string[] = [];
  const invalid: string[] = [];
  const id = Number(env.CHAIN_ID);
  if (!env.CHAIN_ID) missing.push('CHAIN_ID');
  else if (!Number.isSafeInteger(id) || id <= 0) invalid.push('CHAIN_ID');
  if (!env.RPC_URL) missing.push('RPC_URL');
  if (!env.REGISTRY_ADDRESS) missing.push('REGISTRY_ADDRESS');
  else if (!isAddress(env.REGISTRY_ADDRESS, { strict: false })) invalid.push('REGISTRY_ADDRESS');
  if (!env.RELAYER_KEY) missing.push('RELAYER_KEY');
  else if (!/^0x[0-9a-fA-F]{64}$/.test(env.RELAYER_KEY)) invalid.push('RELAYER_KEY');
  if (missing.length || invalid.length) return { missing, invalid };
  const chain = chainFor(id, env.RPC_URL!, env.CHAIN_NAME);
  return {
    chain,
    rpcUrl: env.RPC_URL!,
    registry: env.REGISTRY_ADDRESS!.toLowerCase() as Hex,
    relayer: privateKeyToAccount(env.RELAYER_KEY as Hex),
  };
}

/** viem clients for the relayer: reads and writes through `RPC_URL`, with short timeouts. */
export function chainClients(config: ChainConfig) {
  const transport = http(config.rpcUrl, { timeout: 10_000, retryCount: 1 });
  return {
    public: createPublicClient({ chain: config.chain, transport }),
    wallet: createWalletClient({ chain: config.chain, transport, account: config.relayer }),
  };
}
