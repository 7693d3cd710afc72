import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, test } from 'vitest';
import { headlessGater } from './p2p-host.ts';

describe('headlessGater', () => {
  const addrs = {
    loopback: multiaddr('/ip4/127.0.0.1/tcp/4001'),
    lan: multiaddr('/ip4/192.168.1.20/tcp/4001/ws'),
    ten: multiaddr('/ip4/10.1.2.3/tcp/4001'),
    public: multiaddr('/ip4/1.1.1.1/tcp/4001'),
    publicV6: multiaddr('/ip6/2606:4700:4700::1111/tcp/4001'),
  };

  test('default: on a public network, loopback and private addresses are refused, public ones dialed', async () => {
    const gater = headlessGater(false);
    expect(await gater.denyDialMultiaddr(addrs.loopback)).toBe(true);
    expect(await gater.denyDialMultiaddr(addrs.lan)).toBe(true);
    expect(await gater.denyDialMultiaddr(addrs.ten)).toBe(true);
    expect(await gater.denyDialMultiaddr(addrs.public)).toBe(false);
    expect(await gater.denyDialMultiaddr(addrs.publicV6)).toBe(false);
  });

  test('behavior: the local relaxation allows every address', async () => {
    const gater = headlessGater(true);
    for (const addr of Object.values(addrs)) expect(await gater.denyDialMultiaddr(addr)).toBe(false);
  });
});
