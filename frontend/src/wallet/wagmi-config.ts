import { defineChain } from 'viem';
import { createConfig, http } from 'wagmi';
import { injected } from 'wagmi/connectors';
import type { AppConfig } from '../api/app-config.ts';

/** The one chain the app uses (anvil locally, Monad testnet in production), from /api/v1/config. */
export function chainOf(config: AppConfig) {
  return defineChain({
    id: config.chainId,
    name: config.chainName,
    nativeCurrency: { name: 'MON', symbol: 'MON', decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl] } },
    ...(config.chainId === 31337 ? { testnet: true } : {}),
  });
}

/**
 * wagmi for the configured chain. Wallets come from EIP-6963 discovery (MetaMask, Coinbase
 * Wallet, Rabby, … each announce themselves), plus `injected()` for a legacy `window.ethereum`.
 */
export function createWagmiConfig(config: AppConfig) {
  const chain = chainOf(config);
  return createConfig({
    chains: [chain],
    connectors: [injected()],
    multiInjectedProviderDiscovery: true,
    transports: { [chain.id]: http(config.rpcUrl) },
  });
}
