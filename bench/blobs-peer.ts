import { createHash } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import type { CID } from 'multiformats/cid';
import { BoundedBlockstore } from '../browser-node/src/core/p2p/bounded-blockstore.ts';
import { MeshPeer } from '../browser-node/src/core/p2p/mesh-peer.ts';
import { headlessTransports } from '../browser-node/src/headless/p2p-host.ts';

// One MeshPeer in its own process, for `npm run bench -- blobs` (not a benchmark on its own).
// The bench forks it and drives it over the IPC channel: one request `{id, op, ...}` in, one reply
// `{id, ok, ...}` out. Configuration comes in the environment:
//   BLOB_PEER_ORIGIN  the origin's base URL (GET /api/v1/blobs/{cid});
//   BLOB_PEER_ROLE    `peer` (default) or `relay` (a circuit-relay-v2 server that fetches nothing);
//   BLOB_PEER_RELAY   a relay's TCP multiaddr: listen through it too (`/p2p-circuit`, for /webrtc);
//   BLOB_PEER_CACHE_MB  the block cache (default 256).

type Request =
  | { id: number; op: 'addrs'; webrtc?: boolean; timeoutMs?: number }
  | {
      id: number;
      op: 'dial';
      addrs: string[];
      peerId: string;
      timeoutMs: number;
      attempts: number;
      webrtc: boolean;
    }
  | { id: number; op: 'get'; cid: string; providers: string[]; graceMs?: number }
  | { id: number; op: 'conns' }
  | { id: number; op: 'reset'; keep: string[] }
  | { id: number; op: 'stop' };

const origin = process.env.BLOB_PEER_ORIGIN ?? 'http://127.0.0.1:1';
const role = process.env.BLOB_PEER_ROLE ?? 'peer';
const relayAddr = process.env.BLOB_PEER_RELAY;
const cacheBytes = Number(process.env.BLOB_PEER_CACHE_MB ?? 256) * 1024 * 1024;

const blockstore = new BoundedBlockstore({ maxBytes: cacheBytes });
// Everything is on loopback. Relay reservations only where asked for (the WebRTC runs), on the
// bench's relay, not on whichever node happens to relay.
const host = headlessTransports({
  relay: role === 'relay',
  allowPrivateAddresses: true,
  reachableThroughRelay: false,
});
if (relayAddr) {
  host.listen = [...(host.listen ?? []), `${relayAddr}/p2p-circuit`];
  // Like a tab, dial other nodes only over WebRTC (and the relay itself). Without this, bitswap,
  // which sends by peer id, redials a node whose WebRTC connection is gone over the TCP address
  // identify told it, and the data no longer goes over WebRTC.
  const relayId = relayAddr.split('/p2p/')[1];
  const gater = host.connectionGater;
  host.connectionGater = {
    ...gater,
    denyDialMultiaddr: async (ma) => {
      if (await gater?.denyDialMultiaddr?.(ma)) return true;
      const addr = ma.toString();
      return !addr.includes('/webrtc') && !(relayId && addr.includes(`/p2p/${relayId}`));
    },
  };
}
const peer = await MeshPeer.create({
  privateKey: await generateKeyPair('Ed25519'),
  host,
  blockstore,
  origin,
});

// Block bytes this node receives from peers over bitswap (what came over the wire, duplicates
// included), counted as bitswap decodes each message. Helia keeps the bitswap network private.
interface BitswapNetwork {
  addEventListener(
    type: 'bitswap:message',
    listener: (e: CustomEvent<{ message: { blocks: { data?: Uint8Array }[] } }>) => void,
  ): void;
}
const received = { bytes: 0, blocks: 0 };
const brokers = (
  peer.helia as unknown as { blockBrokers: { name: string; bitswap?: { network?: BitswapNetwork } }[] }
).blockBrokers;
const network = brokers.find((b) => b.name === 'bitswap')?.bitswap?.network;
if (!network) throw new Error('bitswap network not found: cannot count the bytes peers send');
network.addEventListener('bitswap:message', (e) => {
  for (const block of e.detail.message.blocks) {
    received.bytes += block.data?.byteLength ?? 0;
    received.blocks++;
  }
});

// The origin broker's grace (how long a block request waits for peers before asking the origin),
// changed per fetch so one set of processes runs every variant.
const found = brokers.find((b) => b.name === 'origin') as { graceMs?: unknown } | undefined;
if (typeof found?.graceMs !== 'number') throw new Error('origin broker not found: cannot set its grace');
const originBroker = found as { graceMs: number };
const defaultGraceMs = originBroker.graceMs;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function handle(req: Request): Promise<Record<string, unknown>> {
  switch (req.op) {
    case 'addrs': {
      // With a relay, wait for the reservation: the relayed /webrtc address appears with it.
      const deadline = performance.now() + (req.timeoutMs ?? 15_000);
      const started = performance.now();
      while (req.webrtc && !peer.multiaddrs().some((a) => a.includes('/p2p-circuit/webrtc'))) {
        if (performance.now() > deadline)
          throw new Error('no relay reservation (/p2p-circuit/webrtc address)');
        await sleep(25);
      }
      return { addrs: peer.multiaddrs(), waitedMs: performance.now() - started };
    }
    case 'dial': {
      // Each attempt has a deadline; a hung attempt (WebRTC set-up sometimes never completes) is
      // abandoned and tried again on a clean slate.
      const target = peerIdFromString(req.peerId);
      const addrs = req.addrs.map((a) => multiaddr(a));
      const attempts: { ms: number; ok: boolean; error?: string; transport?: string }[] = [];
      for (let i = 0; i < req.attempts; i++) {
        await peer.libp2p.hangUp(target).catch(() => {});
        const t0 = performance.now();
        try {
          const conn = await peer.libp2p.dial(addrs, { signal: AbortSignal.timeout(req.timeoutMs) });
          const ms = performance.now() - t0;
          const remote = conn.remoteAddr.toString();
          const transport = remote.includes('/webrtc')
            ? 'webrtc'
            : remote.includes('p2p-circuit')
              ? 'relayed'
              : 'tcp';
          if (req.webrtc && transport !== 'webrtc') {
            attempts.push({ ms, ok: false, error: `connected over ${remote}, not WebRTC`, transport });
            continue;
          }
          attempts.push({ ms, ok: true, transport });
          return { connected: true, attempts };
        } catch (error) {
          attempts.push({ ms: performance.now() - t0, ok: false, error: (error as Error).name });
        }
      }
      return { connected: false, attempts };
    }
    case 'get': {
      originBroker.graceMs = req.graceMs ?? defaultGraceMs;
      const t0 = performance.now();
      const { bytes, stats } = await peer.getBlob(req.cid, { providers: req.providers });
      const ms = performance.now() - t0;
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      return { ms, size: bytes.byteLength, sha256, stats, graceMs: originBroker.graceMs };
    }
    case 'conns':
      return {
        conns: peer.libp2p.getConnections().map((c) => ({
          peerId: c.remotePeer.toString(),
          addr: c.remoteAddr.toString(),
          limited: c.limits !== undefined,
        })),
        receivedBytes: received.bytes,
        receivedBlocks: received.blocks,
      };
    case 'reset': {
      // Forget the blob and every connection to other nodes: the next run starts cold. Bitswap
      // may redial a node it still had a message for, so hang up until none is left for a while.
      const keep = new Set(req.keep);
      const others = () =>
        new Set(
          peer.libp2p
            .getConnections()
            .map((c) => c.remotePeer.toString())
            .filter((p) => !keep.has(p)),
        );
      let closed = 0;
      for (let quiet = 0, round = 0; quiet < 3; round++) {
        const open = others();
        if (round > 40) throw new Error(`connections keep coming back: ${[...open].join(' ')}`);
        if (!open.size) {
          quiet++;
        } else {
          quiet = 0;
          closed += open.size;
          await Promise.all([...open].map((p) => peer.libp2p.hangUp(peerIdFromString(p)).catch(() => {})));
        }
        await sleep(100);
      }
      const cids: CID[] = [];
      for (const { cid } of blockstore.getAll()) cids.push(cid);
      for (const cid of cids) await blockstore.delete(cid);
      received.bytes = 0;
      received.blocks = 0;
      return { closed, dropped: cids.length };
    }
    case 'stop':
      await Promise.race([peer.stop(), sleep(3_000)]);
      setImmediate(() => process.exit(0));
      return {};
  }
}

process.on('message', (req: Request) => {
  handle(req).then(
    (body) => process.send?.({ id: req.id, ok: true, ...body }),
    (error: Error) => process.send?.({ id: req.id, ok: false, error: `${error.name}: ${error.message}` }),
  );
});
process.on('disconnect', () => process.exit(0));
if (process.env.BLOB_PEER_DEBUG) {
  peer.libp2p.addEventListener('connection:open', (e) =>
    process.stderr.write(
      `[${peer.peerId.toString().slice(-6)}] open ${e.detail.direction} ${e.detail.remoteAddr}\n`,
    ),
  );
  peer.libp2p.addEventListener('connection:close', (e) =>
    process.stderr.write(
      `[${peer.peerId.toString().slice(-6)}] close ${e.detail.remoteAddr} ${e.detail.status}\n`,
    ),
  );
}
process.send?.({ id: 0, ok: true, peerId: peer.peerId.toString(), addrs: peer.multiaddrs(), defaultGraceMs });
