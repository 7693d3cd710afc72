import { type Chain, defineChain } from 'viem';
import { monad, monadTestnet } from 'viem/chains';

/**
 * The viem chain for a chain id: Monad's and Monad testnet's own definitions (with their
 * explorers), or a plain EVM chain (anvil, say), each served through `rpcUrl`.
 */
export function chainFor(id: number, rpcUrl: string, name = `Chain ${id}`): Chain {
  const known = [monadTestnet, monad].find((c) => c.id === id);
  if (known) return { ...known, rpcUrls: { default: { http: [rpcUrl] } } };
  return defineChain({
    id,
    name,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/** A transaction's page on `explorer` (a base URL), or on the chain's own explorer. */
export function txUrl(chainId: number, hash: string, explorer?: string): string | undefined {
  const base = explorer || [monadTestnet, monad].find((c) => c.id === chainId)?.blockExplorers.default.url;
  return base ? `${base.replace(/\/$/, '')}/tx/${hash}` : undefined;
}
