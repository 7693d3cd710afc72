import { useEffect, useState } from 'react';
import { formatEther } from 'viem';
import { useBalance, useConnect, useConnection, useConnectors, useDisconnect, useSwitchChain } from 'wagmi';
import { type Eip1193Provider, signInWithEip1193 } from '../../../client/index.ts';
import type { AppConfig } from '../api/app-config.ts';
import { useSession } from '../api/session.tsx';
import { shortAddress } from '../ui/format.ts';
import { describeError } from '../ui/status.tsx';
import { fundFromFaucet } from './faucet.ts';

/**
 * Connect a wallet, switch it to the configured chain, and Sign-In With Ethereum against the
 * API. Each step is one button, shown only when the previous one is done.
 */
export function WalletPanel({ config }: { config: AppConfig }) {
  const connection = useConnection();
  const connectors = useConnectors();
  const connect = useConnect();
  const disconnect = useDisconnect();
  const switchChain = useSwitchChain();
  const { session, setSession } = useSession();
  const [busy, setBusy] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const address = connection.address;
  const balance = useBalance({ address, query: { enabled: Boolean(address), refetchInterval: 10_000 } });

  // A session belongs to one wallet: switching accounts in the wallet signs the app out.
  useEffect(() => {
    if (session && address && session.address !== address.toLowerCase()) setSession(undefined);
  }, [session, address, setSession]);

  const run = async (label: string, action: () => Promise<void>) => {
    setBusy(label);
    setError(undefined);
    setNotice(undefined);
    try {
      await action();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(undefined);
    }
  };

  const signIn = () =>
    run('Signing in…', async () => {
      const connector = connection.connector;
      if (!connector) throw new Error('connect a wallet first');
      const provider = (await connector.getProvider()) as Eip1193Provider;
      const s = await signInWithEip1193({ url: location.origin, provider, chainId: config.chainId });
      setSession({ token: s.token, address: s.address.toLowerCase(), expiresAt: s.expiresAt });
    });

  let body: React.ReactNode;
  if (!connection.isConnected || !address) {
    // EIP-6963 wallets announce themselves; the plain `injected` connector is only useful when
    // nothing announced itself but a legacy window.ethereum exists.
    const announced = connectors.filter((c) => c.type === 'injected' && c.id !== 'injected');
    const hasLegacy = typeof window !== 'undefined' && 'ethereum' in window;
    const shown = announced.length > 0 ? announced : connectors.filter(() => hasLegacy);
    body =
      shown.length === 0 ? (
        <p className="wallet-hint">
          No browser wallet found. Install MetaMask, Coinbase Wallet or another EIP-6963 wallet to sign in.
        </p>
      ) : (
        <div className="wallet-buttons">
          {shown.map((c) => (
            <button
              key={c.uid}
              type="button"
              disabled={Boolean(busy)}
              onClick={() =>
                run('Connecting…', async () => void (await connect.mutateAsync({ connector: c })))
              }
            >
              {c.icon ? <img src={c.icon} alt="" width={16} height={16} /> : null}
              Connect {c.name === 'Injected' ? 'browser wallet' : c.name}
            </button>
          ))}
        </div>
      );
  } else {
    const wrongChain = connection.chainId !== config.chainId;
    const signedIn = session?.address === address.toLowerCase();
    body = (
      <div className="wallet-connected">
        <span className="wallet-address" title={address}>
          {shortAddress(address)}
          {balance.data && !wrongChain ? (
            <span className="wallet-balance">
              {' '}
              ·{' '}
              {Number(formatEther(balance.data.value)).toLocaleString(undefined, {
                maximumFractionDigits: 4,
              })}{' '}
              {balance.data.symbol}
            </span>
          ) : null}
        </span>
        {wrongChain ? (
          <button
            type="button"
            disabled={Boolean(busy)}
            onClick={() =>
              run('Switching…', async () => void (await switchChain.mutateAsync({ chainId: config.chainId })))
            }
          >
            Switch to {config.chainName}
          </button>
        ) : signedIn ? (
          <span className="badge badge-ok">Signed in</span>
        ) : (
          <button type="button" className="primary" disabled={Boolean(busy)} onClick={signIn}>
            Sign in with Ethereum
          </button>
        )}
        {config.faucet && !wrongChain ? (
          <button
            type="button"
            disabled={Boolean(busy)}
            onClick={() =>
              run('Funding…', async () => {
                await fundFromFaucet(config.rpcUrl, address);
                await balance.refetch();
                setNotice('Added 100 to your balance on the local chain.');
              })
            }
          >
            Faucet
          </button>
        ) : null}
        <button
          type="button"
          className="link"
          onClick={() => {
            setSession(undefined);
            disconnect.mutate({});
          }}
        >
          {signedIn ? 'Sign out' : 'Disconnect'}
        </button>
      </div>
    );
  }

  return (
    <section className="wallet" aria-label="Wallet">
      {body}
      <div aria-live="polite" className="wallet-status">
        {busy ? <span>{busy}</span> : null}
        {notice ? <span>{notice}</span> : null}
      </div>
      {error ? (
        <p className="wallet-error" role="alert">
          {error}
        </p>
      ) : null}
    </section>
  );
}
