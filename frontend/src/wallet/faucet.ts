/** 100 of the chain's native token, in wei. */
export const FAUCET_AMOUNT_WEI = 100n * 10n ** 18n;

async function rpc(rpcUrl: string, method: string, params: unknown[]): Promise<unknown> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json().catch(() => undefined)) as
    | { result?: unknown; error?: { message?: string } }
    | undefined;
  if (!res.ok || !body || body.error) {
    throw new Error(`the faucet failed: ${body?.error?.message ?? `HTTP ${res.status}`}`);
  }
  return body.result;
}

/**
 * Fund `address` on the local development chain with anvil's `anvil_setBalance`, called on the
 * configured RPC URL directly (anvil answers CORS requests). Only offered when the API's config
 * says `faucet: true`, which it does only for a local anvil.
 */
export async function fundFromFaucet(
  rpcUrl: string,
  address: string,
  amountWei: bigint = FAUCET_AMOUNT_WEI,
): Promise<void> {
  // anvil_setBalance sets rather than adds: add to what the wallet holds, like a real faucet.
  const balance = BigInt((await rpc(rpcUrl, 'eth_getBalance', [address, 'latest'])) as string);
  await rpc(rpcUrl, 'anvil_setBalance', [address, `0x${(balance + amountWei).toString(16)}`]);
}
