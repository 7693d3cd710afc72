import { generateKeyPair } from '@libp2p/crypto/keys';
import { afterEach, describe, expect, test } from 'vitest';
import { BoundedBlockstore } from '../core/p2p/bounded-blockstore.ts';
import { DataPlane, type MeshUpdate } from '../core/p2p/data-plane.ts';
import { MeshPeer } from '../core/p2p/mesh-peer.ts';
import { headlessTransports } from './p2p-host.ts';

// The node map's links come from here: a DataPlane tells the hub which peers its libp2p peer is
// connected to (`node.mesh { peers }`), once connections settle. Real peers over TCP in this process.

const peers: MeshPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop().catch(() => {})));
});

async function peer(): Promise<MeshPeer> {
  const p = await MeshPeer.create({
    privateKey: await generateKeyPair('Ed25519'),
    host: headlessTransports({ relay: false, allowPrivateAddresses: true }),
    blockstore: new BoundedBlockstore({ maxBytes: 1024 * 1024 }),
    origin: 'http://127.0.0.1:9',
  });
  peers.push(p);
  return p;
}

const tcp = (p: MeshPeer) => p.multiaddrs().filter((a) => a.includes('/tcp/') && !a.includes('/ws'));

describe('DataPlane peers', () => {
  test('default: connections are reported as one settled set, and again when one closes', async () => {
    const [a, b, c] = await Promise.all([peer(), peer(), peer()]);
    const plane = new DataPlane(a);
    const updates: MeshUpdate[] = [];
    plane.attach((u) => updates.push(u));
    expect(await Promise.all([a.dial(tcp(b)), a.dial(tcp(c))])).toEqual([true, true]);
    const both = [b.peerId.toString(), c.peerId.toString()].sort();
    await expect.poll(() => updates.filter((u) => u.peers).at(-1)?.peers, { timeout: 5_000 }).toEqual(both);
    // Two dials at once: one report, not one per connection.
    expect(updates.filter((u) => u.peers)).toHaveLength(1);
    expect(plane.snapshot().peers).toEqual(both);

    await c.stop();
    await expect
      .poll(() => updates.filter((u) => u.peers).at(-1)?.peers, { timeout: 5_000 })
      .toEqual([b.peerId.toString()]);
  });

  test('behavior: nothing is reported while the set does not change', async () => {
    const [a, b] = await Promise.all([peer(), peer()]);
    const plane = new DataPlane(a);
    const updates: MeshUpdate[] = [];
    plane.attach((u) => updates.push(u));
    await a.dial(tcp(b));
    await expect.poll(() => updates.filter((u) => u.peers).length, { timeout: 5_000 }).toBe(1);
    // A second dial to a connected peer opens no connection; the set is unchanged.
    await a.dial(tcp(b));
    await new Promise((r) => setTimeout(r, 800));
    expect(updates.filter((u) => u.peers)).toHaveLength(1);
  });
});
