import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { unixfs } from '@helia/unixfs';
import * as dagPb from '@ipld/dag-pb';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { UnixFS } from 'ipfs-unixfs';
import { fixedSize } from 'ipfs-unixfs-importer/chunker';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { limits } from '../../../protocol/limits.ts';
import { BoundedBlockstore } from '../core/p2p/bounded-blockstore.ts';
import { BlobTooLargeError, DataPlane } from '../core/p2p/data-plane.ts';
import { MeshPeer } from '../core/p2p/mesh-peer.ts';
import { headlessTransports } from './p2p-host.ts';

// Two real libp2p peers over TCP in this process, with bitswap, and a local HTTP origin that
// serves blocks the way `GET /api/v1/blobs/{cid}` does and counts what it served.

const MiB = 1024 * 1024;
const origin = new Map<string, Uint8Array>();
let served: string[] = [];
let server: Server;
let originUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const cid = /^\/api\/v1\/blobs\/([a-z0-9]+)$/.exec(req.url ?? '')?.[1];
    const bytes = cid ? origin.get(cid) : undefined;
    if (!cid || !bytes) {
      res.writeHead(404).end();
      return;
    }
    served.push(cid);
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  originUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const peers: MeshPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop().catch(() => {})));
  served = [];
});

async function peer(blockstore = new BoundedBlockstore({ maxBytes: 256 * MiB }), graceMs = 1_500) {
  const p = await MeshPeer.create({
    privateKey: await generateKeyPair('Ed25519'),
    host: headlessTransports({ relay: false, allowPrivateAddresses: true }),
    blockstore,
    origin: originUrl,
    peerGraceMs: graceMs,
    blockTimeoutMs: 20_000,
  });
  peers.push(p);
  return p;
}

/** Deterministic bytes (xorshift), so every block differs. */
function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Adds `bytes` on `holder` as UnixFS (1 MiB raw leaves) and puts every block at the origin too. */
async function addBlob(holder: MeshPeer, bytes: Uint8Array): Promise<{ root: CID; leaves: CID[] }> {
  const root = await unixfs(holder.helia).addBytes(bytes, {
    cidVersion: 1,
    rawLeaves: true,
    chunker: fixedSize({ chunkSize: MiB }),
  });
  const leaves: CID[] = [];
  for await (const { cid, bytes: chunks } of holder.helia.blockstore.getAll()) {
    const parts: Uint8Array[] = [];
    for await (const part of chunks) parts.push(part);
    origin.set(cid.toString(), Buffer.concat(parts));
    if (!cid.equals(root)) leaves.push(cid);
  }
  return { root, leaves };
}

async function connect(from: MeshPeer, to: MeshPeer) {
  expect(await from.dial(to.multiaddrs())).toBe(true);
}

describe('MeshPeer block exchange', () => {
  test('default: a blob held by a connected peer comes over bitswap, not from the origin', async () => {
    const [a, b] = [await peer(), await peer()];
    const blob = bytesOf(5 * MiB + 123, 1);
    const { root } = await addBlob(a, blob);
    await connect(b, a);
    const { bytes, stats } = await b.getBlob(root.toString(), { providers: [a.peerId.toString()] });
    expect(Buffer.compare(bytes, blob)).toBe(0);
    expect(served).toEqual([]);
    expect(stats.fromOrigin).toBe(0);
    expect(await b.hasBlob(root.toString())).toBe(true);
  });

  test('behavior: with no provider the origin serves every block at once, each block once', async () => {
    const [a, b] = [await peer(), await peer()];
    const { root, leaves } = await addBlob(a, bytesOf(3 * MiB, 2));
    const started = performance.now();
    const { bytes } = await b.getBlob(root.toString());
    expect(bytes.byteLength).toBe(3 * MiB);
    expect(performance.now() - started).toBeLessThan(1_500); // no grace period to wait out
    expect(served.sort()).toEqual([root, ...leaves].map(String).sort());
  });

  test('error: a corrupt block from a peer is rejected and fetched again from the origin', async () => {
    const corrupt = new Set<string>();
    class Corrupting extends BoundedBlockstore {
      override *get(cid: CID): Generator<Uint8Array> {
        for (const part of super.get(cid)) {
          if (!corrupt.has(cid.toString())) {
            yield part;
            continue;
          }
          const bad = part.slice();
          bad[7] = (bad[7] ?? 0) ^ 0xff;
          yield bad;
        }
      }
    }
    const a = await peer(new Corrupting({ maxBytes: 256 * MiB }));
    const b = await peer();
    const blob = bytesOf(4 * MiB, 3);
    const { root, leaves } = await addBlob(a, blob);
    corrupt.add(leaves[2]!.toString());
    await connect(b, a);
    const { bytes } = await b.getBlob(root.toString(), { providers: [a.peerId.toString()] });
    expect(Buffer.compare(bytes, blob)).toBe(0);
    // Only the corrupt block came from the origin; the peer gave the rest.
    expect(served).toEqual([leaves[2]!.toString()]);
  });

  test('behavior: a peer that disappears mid-transfer does not fail the fetch', async () => {
    let sent = 0;
    let stopA: () => void = () => {};
    class Vanishing extends BoundedBlockstore {
      override *get(cid: CID): Generator<Uint8Array> {
        if (++sent === 3) stopA(); // the third block it serves is its last
        yield* super.get(cid);
      }
    }
    const a = await peer(new Vanishing({ maxBytes: 256 * MiB }));
    stopA = () => void a.stop();
    const b = await peer();
    const blob = bytesOf(6 * MiB, 4);
    const { root } = await addBlob(a, blob);
    await connect(b, a);
    const { bytes } = await b.getBlob(root.toString(), { providers: [a.peerId.toString()] });
    expect(Buffer.compare(bytes, blob)).toBe(0);
    expect(served.length).toBeGreaterThan(0);
    expect(served.length).toBeLessThan(7);
  });

  test('error: a DAG that declares more than a node reads fails before its leaves are fetched; one that understates is read as declared', async () => {
    const b = await peer();
    const leaf = bytesOf(MiB, 6);
    const leafCid = CID.createV1(raw.code, await sha256.digest(leaf));
    origin.set(leafCid.toString(), leaf);
    /** A dag-pb root linking the leaf `n` times, declaring `declared` bytes for each link. */
    const rootOf = async (n: number, declared: number) => {
      const bytes = dagPb.encode(
        dagPb.prepare({
          Data: new UnixFS({
            type: 'file',
            blockSizes: Array.from({ length: n }, () => BigInt(declared)),
          }).marshal(),
          Links: Array.from({ length: n }, () => ({ Hash: leafCid, Tsize: declared })),
        }),
      );
      const cid = CID.createV1(dagPb.code, await sha256.digest(bytes));
      origin.set(cid.toString(), bytes);
      return cid.toString();
    };
    // 300 links of 1 MiB: 300 MiB declared, over maxChunkedBlobBytes; only the root is fetched.
    const huge = await rootOf(300, MiB);
    await expect(b.getBlob(huge)).rejects.toThrow(
      new BlobTooLargeError(
        `blob ${huge} declares ${300 * MiB} bytes; a node reads at most ${limits.maxChunkedBlobBytes} bytes of a blob (maxChunkedBlobBytes)`,
      ),
    );
    expect(served).toEqual([huge]);
    // A root that understates its leaves is read as it declares (8 bytes), never more.
    const small = await rootOf(8, 1);
    expect((await b.getBlob(small, { maxBytes: 3 * MiB })).bytes.byteLength).toBe(8);
  });

  test('behavior: the block cache is bounded: a blob bigger than the cache is not kept whole', async () => {
    const evicted: string[] = [];
    const store = new BoundedBlockstore({
      maxBytes: 2.5 * MiB,
      onEvict: (cid) => evicted.push(cid.toString()),
    });
    const a = await peer();
    const b = await peer(store);
    const { root } = await addBlob(a, bytesOf(4 * MiB, 5));
    expect((await b.getBlob(root.toString())).bytes.byteLength).toBe(4 * MiB);
    expect(store.size).toBeLessThanOrEqual(2.5 * MiB);
    expect(evicted.length).toBeGreaterThanOrEqual(2);
    expect(await b.hasBlob(root.toString())).toBe(false);
  });
});

describe('MeshPeer relays', () => {
  /** A relay (headless transports, relay server on) that reserves nowhere itself. */
  const relayPeer = async () => {
    const p = await MeshPeer.create({
      privateKey: await generateKeyPair('Ed25519'),
      host: headlessTransports({ relay: true, reachableThroughRelay: false, allowPrivateAddresses: true }),
      blockstore: new BoundedBlockstore({ maxBytes: 16 * MiB }),
      origin: originUrl,
    });
    peers.push(p);
    return p;
  };
  const relayedVia = (p: MeshPeer, relay: MeshPeer) =>
    p.multiaddrs().filter((a) => a.includes(`/p2p/${relay.peerId}/p2p-circuit/webrtc`));

  test('behavior: a peer whose relay dies reserves on a relay that reached it over WebRTC, and announces it', async () => {
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onError);
    try {
      const [a, b] = [await relayPeer(), await relayPeer()];
      // A peer reachable only through relays, as a tab is: it reserves on A.
      const tab = await peer();
      await connect(tab, a);
      await expect.poll(() => relayedVia(tab, a).length, { timeout: 10_000 }).toBeGreaterThan(0);
      // B reaches it over WebRTC through A (an inbound WebRTC connection for the tab).
      expect(await b.dial(relayedVia(tab, a), { attempts: 2 })).toBe(true);
      expect(
        tab.connections().some((c) => c.peerId === b.peerId.toString() && c.remoteAddr.includes('/webrtc')),
      ).toBe(true);
      // A goes: the tab reserves on B over that connection and announces B's addresses, none of A's.
      await a.stop();
      await expect.poll(() => relayedVia(tab, b).length, { timeout: 15_000 }).toBeGreaterThan(0);
      await expect.poll(() => relayedVia(tab, a)).toEqual([]);
      expect(tab.multiaddrs().every((a) => a.startsWith('/ip4/'))).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      process.off('uncaughtException', onError);
    }
  });

  test('behavior: a data plane keeps a reservation on the relays the hub names, and moves when its relay dies', async () => {
    const [a, b] = [await relayPeer(), await relayPeer()];
    const hint = (p: MeshPeer) => ({
      peerId: p.peerId.toString(),
      multiaddrs: p.multiaddrs(),
      kind: 'headless' as const,
      relay: true,
    });
    const tab = await peer();
    const plane = new DataPlane(tab, { relays: 1 });
    const announced: string[][] = [];
    plane.attach((update) => {
      if (update.multiaddrs) announced.push(update.multiaddrs);
    });
    // The welcome names A and B: one relay is enough, the first.
    plane.meet([hint(a), hint(b)]);
    await expect.poll(() => relayedVia(tab, a).length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(tab.isConnected(b.peerId.toString())).toBe(false);
    await expect
      .poll(() => announced.at(-1)?.some((m) => m.includes(`/p2p/${a.peerId}/p2p-circuit`)), {
        timeout: 10_000,
      })
      .toBe(true);
    // A goes; the hub's next list (mesh.peers) names only B.
    await a.stop();
    plane.meet([hint(b)]);
    await expect.poll(() => relayedVia(tab, b).length, { timeout: 15_000 }).toBeGreaterThan(0);
    await expect.poll(() => relayedVia(tab, a)).toEqual([]);
    await expect
      .poll(() => announced.at(-1)?.some((m) => m.includes(`/p2p/${b.peerId}/p2p-circuit`)), {
        timeout: 10_000,
      })
      .toBe(true);
  });
});
