import {
  type Address,
  createPublicClient,
  createWalletClient,
  custom,
  type Hex,
  type PublicClient,
} from 'viem';
import type { Eip1193Provider } from '../../../client/index.ts';
import { monadMeshRegistryAbi } from '../../../contracts/abi.ts';
import type { AppConfig } from '../api/app-config.ts';
import { chainOf } from '../wallet/wagmi-config.ts';

/**
 * Reads through the user's own wallet (its EIP-1193 provider and the RPC it is configured with),
 * not through our API: what "verify in your browser" checks against.
 */
export function walletReader(provider: Eip1193Provider, config: AppConfig): PublicClient {
  return createPublicClient({ chain: chainOf(config), transport: custom(provider) });
}

/**
 * Register a job's spec hash on the registry from the connected wallet (one transaction the user
 * approves), and wait until it is mined. Already registered by this wallet: nothing to send.
 */
export async function registerSpec(
  provider: Eip1193Provider,
  config: AppConfig,
  account: Address,
  specHash: Hex,
): Promise<void> {
  if (!config.registry) throw new Error('anchoring is not configured on this deployment (no registry)');
  const registry = config.registry as Address;
  const reader = walletReader(provider, config);
  const already = await reader.readContract({
    address: registry,
    abi: monadMeshRegistryAbi,
    functionName: 'specRegisteredAt',
    args: [account, specHash],
  });
  if (already > 0n) return;
  const wallet = createWalletClient({ chain: chainOf(config), transport: custom(provider), account });
  const hash = await wallet.writeContract({
    address: registry,
    abi: monadMeshRegistryAbi,
    functionName: 'registerSpec',
    args: [specHash],
  });
  const receipt = await reader.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`registering the spec hash failed (transaction ${hash})`);
}
