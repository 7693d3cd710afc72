import {
  type Account,
  type Chain,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { DEV_PRIVATE_KEYS } from '../client/sign-in.ts';
import { monadMeshRegistryAbi, monadMeshRegistryBytecode } from '../contracts/abi.ts';
import { chainFor } from '../protocol/chains.ts';

export interface ChainClients {
  chain: Chain;
  public: PublicClient<Transport, Chain>;
  wallet(privateKey: Hex): WalletClient<Transport, Chain, Account>;
}

export function chainClients(rpcUrl: string, chainId: number): ChainClients {
  const chain = chainFor(chainId, rpcUrl, 'Anvil (local)');
  return {
    chain,
    public: createPublicClient({ chain, transport: http(rpcUrl) }),
    wallet: (privateKey) =>
      createWalletClient({ chain, transport: http(rpcUrl), account: privateKeyToAccount(privateKey) }),
  };
}

/** anvil's dev accounts used locally: the deployer (and registry owner), and the cron's relayer. */
export const DEPLOYER_KEY = DEV_PRIVATE_KEYS[0];
export const RELAYER_KEY: Hex = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a';

/** Deploy `MonadMeshRegistry` owned by the deployer with `relayers` allowed; its address. */
export async function deployRegistry(
  clients: ChainClients,
  relayers: Hex[],
  deployerKey: Hex = DEPLOYER_KEY,
): Promise<Hex> {
  const wallet = clients.wallet(deployerKey);
  const hash = await wallet.deployContract({
    abi: monadMeshRegistryAbi,
    bytecode: monadMeshRegistryBytecode,
    args: [wallet.account.address, relayers],
  });
  const receipt = await clients.public.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success' || !receipt.contractAddress)
    throw new Error(`deploying the registry failed (${hash})`);
  return receipt.contractAddress;
}
