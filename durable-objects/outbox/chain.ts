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
  /** JSON-RPC endpoint the web app reads, and the relayer sends through unless `RELAYER_RPC_URL`. */
  RPC_URL?: string;
  /** Secret, optional: the relayer's own RPC endpoint (one carrying an API key, say). */
  RELAYER_RPC_URL?: string;
  /** The `MonadMeshRegistry` contract. */
  REGISTRY_ADDRESS?: string;
  /**
   * Secret: the relayer's private key (0x + 64 hex), allowed by the registry's owner; or several,
   * comma-separated, one per group of outbox shards (shard i signs with key i mod n), so shards
   * send in parallel without sharing a nonce sequence.
   */
  RELAYER_KEY?: string;
  /** A block explorer's base URL, for links to anchoring transactions (the chain's own by default). */
  EXPLORER_URL?: string;
  /** Blocks a batch's transaction must be under before it counts as anchored (default 1). */
  ANCHOR_CONFIRMATIONS?: string;
}

export interface ChainConfig {
  chain: Chain;
  rpcUrl: string;
  registry: Hex;
  relayers: PrivateKeyAccount[];
  confirmations: number;
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
  const keys = (env.RELAYER_KEY ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  if (!keys.length) missing.push('RELAYER_KEY');
  else if (!keys.every((k) => /^0x[0-9a-fA-F]{64}$/.test(k))) invalid.push('RELAYER_KEY');
  if (missing.length || invalid.length) return { missing, invalid };
  const rpcUrl = env.RELAYER_RPC_URL || env.RPC_URL!;
  const confirmations = Number(env.ANCHOR_CONFIRMATIONS ?? 1);
  return {
    chain: chainFor(id, rpcUrl, env.CHAIN_NAME),
    rpcUrl,
    registry: env.REGISTRY_ADDRESS!.toLowerCase() as Hex,
    relayers: keys.map((k) => privateKeyToAccount(k as Hex)),
    confirmations: Number.isInteger(confirmations) && confirmations >= 1 ? Math.min(confirmations, 64) : 1,
  };
}

/** The relayer account of outbox shard `shard`. */
export function relayerOf(config: ChainConfig, shard: number): PrivateKeyAccount {
  return config.relayers[shard % config.relayers.length]!;
}

/** viem clients for one relayer: reads and writes through its RPC, with short timeouts. */
export function chainClients(config: ChainConfig, relayer: PrivateKeyAccount) {
  const transport = http(config.rpcUrl, { timeout: 10_000, retryCount: 1 });
  return {
    public: createPublicClient({ chain: config.chain, transport }),
    wallet: createWalletClient({ chain: config.chain, transport, account: relayer }),
  };
}
