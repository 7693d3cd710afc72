import { parseArgs } from 'node:util';
import { createPublicClient, createWalletClient, type Hex, http, isAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { monadMeshRegistryAbi, monadMeshRegistryBytecode } from '../contracts/abi.ts';
import { chainFor } from '../protocol/chains.ts';

// `npm run contracts:deploy -- --rpc URL --chain-id ID --relayer ADDRESS [--owner ADDRESS]`:
// deploy MonadMeshRegistry (from contracts/abi.ts, the generated build) with DEPLOYER_KEY from the
// environment, allow the relayer, and print the Worker settings that go with it. For Monad testnet:
//   DEPLOYER_KEY=0x… npm run contracts:deploy -- --rpc https://testnet-rpc.monad.xyz --chain-id 10143 --relayer 0x…

const { values } = parseArgs({
  options: {
    rpc: { type: 'string' },
    'chain-id': { type: 'string' },
    relayer: { type: 'string', multiple: true },
    owner: { type: 'string' },
  },
});
const fail = (message: string): never => {
  process.stderr.write(`contracts:deploy: ${message}\n`);
  process.exit(2);
};
const key = process.env.DEPLOYER_KEY;
if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key))
  fail('set DEPLOYER_KEY to the deployer’s private key (0x + 64 hex)');
if (!values.rpc) fail('--rpc URL is required');
const chainId = Number(values['chain-id']);
if (!Number.isSafeInteger(chainId) || chainId <= 0)
  fail('--chain-id must be the chain’s id (10143 for Monad testnet)');
const relayers = values.relayer ?? [];
if (!relayers.length) fail('--relayer ADDRESS is required (the address of the Worker’s RELAYER_KEY)');
for (const r of relayers) if (!isAddress(r)) fail(`--relayer ${r} is not an address`);
if (values.owner && !isAddress(values.owner)) fail(`--owner ${values.owner} is not an address`);

const chain = chainFor(chainId, values.rpc!);
const account = privateKeyToAccount(key as Hex);
const reader = createPublicClient({ chain, transport: http(values.rpc) });
if ((await reader.getChainId()) !== chainId)
  fail(`${values.rpc} serves chain ${await reader.getChainId()}, not ${chainId}`);
const wallet = createWalletClient({ chain, transport: http(values.rpc), account });
const hash = await wallet.deployContract({
  abi: monadMeshRegistryAbi,
  bytecode: monadMeshRegistryBytecode,
  args: [(values.owner as Hex | undefined) ?? account.address, relayers as Hex[]],
});
process.stderr.write(`deploying: transaction ${hash}\n`);
const receipt = await reader.waitForTransactionReceipt({ hash });
if (receipt.status !== 'success' || !receipt.contractAddress) fail(`the deployment reverted (${hash})`);
process.stdout.write(`MonadMeshRegistry deployed at ${receipt.contractAddress} (block ${receipt.blockNumber}, gas ${receipt.gasUsed})

Point the Worker at it (wrangler.toml [vars], then \`npm run deploy\`):
  CHAIN_ID = "${chainId}"
  RPC_URL = "${values.rpc}"
  REGISTRY_ADDRESS = "${receipt.contractAddress}"
and give it the relayer's key:
  npx wrangler secret put RELAYER_KEY
`);
