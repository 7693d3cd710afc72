import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { withBitswap } from '@helia/bitswap';
import type { BlockBroker, BlockRetrievalOptions, Helia } from '@helia/interface';
import { withLibp2pLight } from '@helia/libp2p';
import { unixfs } from '@helia/unixfs';
import * as dagPb from '@ipld/dag-pb';
import { identify } from '@libp2p/identify';
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { ping } from '@libp2p/ping';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { MemoryDatastore } from 'datastore-core';
import { createHeliaLight } from 'helia';
import type { Blockstore } from 'interface-blockstore';
import { UnixFS } from 'ipfs-unixfs';
import type { Libp2pOptions } from 'libp2p';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { limits } from '../../../../protocol/limits.ts';
import { BlobTooLargeError } from './data-plane.ts';

/** What a host adds to the common libp2p set-up: its transports, listen addresses and services. */
export interface MeshTransports {
  transports: NonNullable<Libp2pOptions['transports']>;
  listen?: string[];
  /** Extra services, e.g. a circuit-relay-v2 server on headless nodes. */
  services?: Libp2pOptions['services'];
  connectionGater?: Libp2pOptions['connectionGater'];
}

export interface MeshPeerOptions {
  privateKey: PrivateKey;
  host: MeshTransports;
  blockstore: Blockstore;
  /** Base URL of the API; blocks nobody in the mesh gave us come from `GET /api/v1/blobs/{cid}`. */
  origin: string;
  fetch?: typeof fetch;
  /**
   * How long a block request waits for peers before it also asks the origin, when peers that
   * hold the blob are connected. Default 3 000 ms: bitswap answers in well under that on a
   * working connection, so the origin is asked only for blocks that peers failed to give.
   */
  peerGraceMs?: number;
  /** A block request on its own (peers and origin) gives up after this long. Default 60 000 ms. */
  blockTimeoutMs?: number;
}

/** One libp2p connection, as `MeshPeer.connections` describes it. */
export interface PeerConnection {
  peerId: string;
  remoteAddr: string;
  direction: 'inbound' | 'outbound';
  /** A relayed connection with the relay's limits: signalling only. */
  limited: boolean;
  openedAt: number;
}

const NETWORK_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6', 'dnsaddr']);

/**
 * Works around a circuit-relay-v2 (4.2) fault. A relay reservation lists, among the relay's
 * addresses, the remote address of the connection it was made over; when that connection is an
 * inbound WebRTC one (the relay dialed us to fetch blocks, then became our relay when the old one
 * died) that address is `/webrtc/p2p/<relay>`, with no network part. The address manager throws
 * on it while confirming the reservation's addresses, so the relay's real addresses are never
 * confirmed (a public relay's would never be announced), and again while withdrawing them when the
 * relay goes, which leaves stale ones announced. Such addresses are skipped here; `multiaddrs()`
 * leaves them out too.
 */
function skipAddresslessRelayAddrs(libp2p: Libp2p): void {
  type AddrFn = (addr: Multiaddr, options?: unknown) => void;
  const manager = (libp2p as unknown as { components?: { addressManager?: Record<string, unknown> } })
    .components?.addressManager;
  if (!manager) return;
  for (const name of ['confirmObservedAddr', 'removeObservedAddr']) {
    const original = manager[name];
    if (typeof original !== 'function') continue;
    manager[name] = (addr: Multiaddr, options?: unknown) => {
      if (!NETWORK_PROTOCOLS.has(addr.getComponents()[0]?.name ?? '')) return;
      (original as AddrFn).call(manager, addr, options);
    };
  }
}

/** The peer id at the end of a multiaddr (`…/p2p/<id>`), if it names one. */
function peerIdOf(addr: Multiaddr): string | undefined {
  return addr.getComponents().findLast((c) => c.name === 'p2p')?.value;
}

/** Helia with the libp2p mixin applied. */
type HeliaWithLibp2p = Helia & { libp2p: Libp2p; start(): Promise<void>; stop(): Promise<void> };

/** Where the blocks of the last `getBlob` came from. */
export interface FetchStats {
  fromPeers: number;
  fromOrigin: number;
  local: number;
}

/**
 * A node's place in the mesh: a libp2p peer (noise, yamux, identify, ping, plus the host's
 * transports) with Helia and bitswap for blocks. Blobs are IPFS DAGs (a raw block, or UnixFS
 * with raw leaves): `getBlob` reads them from the local cache, from peers over bitswap, or from
 * the origin, block by block. Helia checks every block's hash against its CID whoever sent it,
 * and races the sources: bitswap asks connected peers at once; the origin broker waits
 * `peerGraceMs` first when peers that hold the blob are connected (and not at all otherwise), so
 * a peer that sends a corrupt block or vanishes mid-transfer costs a delay, not the task.
 */
export class MeshPeer {
  readonly helia: HeliaWithLibp2p;
  readonly #origin: OriginBroker;
  readonly #blockTimeoutMs: number;

  private constructor(helia: HeliaWithLibp2p, origin: OriginBroker, blockTimeoutMs: number) {
    this.helia = helia;
    this.#origin = origin;
    this.#blockTimeoutMs = blockTimeoutMs;
  }

  static async create(options: MeshPeerOptions): Promise<MeshPeer> {
    const origin = new OriginBroker(options.origin, options.fetch ?? ((...a) => fetch(...a)));
    origin.graceMs = options.peerGraceMs ?? 3_000;
    const libp2pOptions: Libp2pOptions = {
      privateKey: options.privateKey,
      addresses: { listen: options.host.listen ?? [] },
      transports: options.host.transports,
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), ping: ping(), ...(options.host.services ?? {}) },
      connectionManager: {
        maxConnections: 200,
        // Relayed connections all come from the relay's address: the default of 5 new inbound
        // connections per second per host would throttle every peer behind one relay together.
        inboundConnectionThreshold: 100,
      },
      ...(options.host.connectionGater ? { connectionGater: options.host.connectionGater } : {}),
    };
    const helia = withBitswap(
      withLibp2pLight(
        createHeliaLight({
          blockstore: options.blockstore,
          datastore: new MemoryDatastore(),
          blockBrokers: [() => origin],
        }),
        libp2pOptions,
      ),
      // A peer that asks again soon after a block was lost must get it again.
      { doNotResendBlockWindow: 0, maxOutgoingMessageSize: 2 * 1024 * 1024 },
    ) as unknown as HeliaWithLibp2p;
    await helia.start();
    skipAddresslessRelayAddrs(helia.libp2p);
    origin.libp2p = helia.libp2p;
    return new MeshPeer(helia, origin, options.blockTimeoutMs ?? 60_000);
  }

  get libp2p(): Libp2p {
    return this.helia.libp2p;
  }

  get peerId(): PeerId {
    return this.helia.libp2p.peerId;
  }

  /**
   * Addresses others can dial this peer at (listen addresses, relayed ones once reserved): those
   * that start with a network address (see `skipAddresslessRelayAddrs` for the others) and pass
   * through at most one relay (a reservation made over a WebRTC connection also lists the path
   * that connection took, through another relay: relays refuse such double hops).
   */
  multiaddrs(): string[] {
    return this.helia.libp2p
      .getMultiaddrs()
      .filter((a) => NETWORK_PROTOCOLS.has(a.getComponents()[0]?.name ?? ''))
      .map(String)
      .filter((a) => a.split('/p2p-circuit').length <= 2);
  }

  /**
   * Dials a peer at any of `addrs`; resolves false (never throws) when none works in time. Each
   * attempt gets `timeoutMs`, and a failed or timed-out one is tried again up to `attempts` times
   * in all: a WebRTC dial sometimes stalls after the ICE candidates are exchanged (about one in
   * twenty on loopback), and a fresh attempt then succeeds at once.
   */
  async dial(addrs: string[], options: { timeoutMs?: number; attempts?: number } = {}): Promise<boolean> {
    const parsed: Multiaddr[] = addrs.flatMap((a) => {
      try {
        return [multiaddr(a)];
      } catch {
        return [];
      }
    });
    if (parsed.length === 0) return false;
    const attempts = Math.max(1, options.attempts ?? 1);
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const connection = await this.helia.libp2p.dial(parsed, {
          signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
        });
        // A limited (relayed) connection only signals; the dial's purpose is a direct one.
        if (!connection.limits) return true;
      } catch {
        // try again
      }
    }
    return this.isConnected(peerIdOf(parsed[0]!) ?? '');
  }

  /**
   * Connected to `peerId` (a string) right now, over a direct connection: a limited relayed one
   * (circuit relay, 1 MiB and 2 minutes) carries signalling, not blocks.
   */
  isConnected(peerId: string): boolean {
    try {
      return this.helia.libp2p.getConnections(peerIdFromString(peerId)).some((c) => !c.limits);
    } catch {
      return false;
    }
  }

  /** The peer's connections right now (for status pages and tests). */
  connections(): PeerConnection[] {
    return this.helia.libp2p.getConnections().map((c) => ({
      peerId: c.remotePeer.toString(),
      remoteAddr: c.remoteAddr.toString(),
      direction: c.direction,
      limited: Boolean(c.limits),
      openedAt: c.timeline.open,
    }));
  }

  /** All blocks of `cid` are in the local cache. */
  async hasBlob(cid: string): Promise<boolean> {
    const root = CID.parse(cid);
    if (!(await this.helia.blockstore.has(root))) return false;
    if (root.code === raw.code) return true;
    try {
      for await (const _ of unixfs(this.helia).cat(root, { offline: true })) {
        // reading through checks every block is here
      }
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The bytes of a blob. `providers` are peer ids that hold it (the hub's hint): while one of
   * them is connected, the origin waits its grace period before it is asked for a block.
   */
  async getBlob(
    cid: string,
    options: { providers?: string[]; signal?: AbortSignal; maxBytes?: number } = {},
  ): Promise<{ bytes: Uint8Array; stats: FetchStats }> {
    const maxBytes = options.maxBytes ?? limits.maxChunkedBlobBytes;
    const root = CID.parse(cid);
    const providers = (options.providers ?? []).filter((p) => p !== this.peerId.toString());
    const stats: FetchStats = { fromPeers: 0, fromOrigin: 0, local: 0 };
    const release = this.#origin.expect(providers);
    const signal = options.signal
      ? AbortSignal.any([options.signal, AbortSignal.timeout(this.#blockTimeoutMs * 4)])
      : AbortSignal.timeout(this.#blockTimeoutMs * 4);
    const onProgress = (event: { type: string }) => {
      if (event.type === 'blocks:get:blockstore:get') stats.local++;
      else if (event.type === 'helia:block-broker:receive-block') {
        stats.fromPeers++;
        this.#origin.peersDelivered();
      } else if (event.type === 'origin:receive-block') stats.fromOrigin++;
    };
    try {
      const parts: Uint8Array[] = [];
      const tooLarge = (size: bigint) =>
        new BlobTooLargeError(
          `blob ${cid} declares ${size} bytes; a node reads at most ${maxBytes} bytes of a blob (maxChunkedBlobBytes)`,
        );
      if (root.code === raw.code) {
        parts.push(await collect(this.helia.blockstore.get(root, { signal, onProgress } as never)));
      } else {
        // What the root declares is checked before any other block is fetched; the exporter then
        // reads exactly that much, whatever its leaves hold (a DAG may link one leaf many times).
        const top = await collect(this.helia.blockstore.get(root, { signal, onProgress } as never));
        const data = dagPb.decode(top).Data;
        const declared = data ? UnixFS.unmarshal(data).fileSize() : 0n;
        if (declared > BigInt(maxBytes)) throw tooLarge(declared);
        for await (const chunk of unixfs(this.helia).cat(root, { signal, onProgress } as never))
          parts.push(chunk);
      }
      return { bytes: concatBytes(parts), stats };
    } finally {
      release();
    }
  }

  async stop(): Promise<void> {
    await this.helia.stop();
  }
}

/**
 * The origin as a Helia block broker: `GET /api/v1/blobs/{cid}` for one block. Helia races it
 * against bitswap and checks what it returns like any other source. While a fetch expects peers
 * to have the blob (and one of them is connected), a block waits for the origin until peers have
 * delivered nothing for `graceMs`: a whole blob's blocks are requested at once, so a fixed delay
 * per block would send every block still in flight after it to the origin while peers are busy
 * delivering (measured: 7× the blob from the origin at 8 nodes). So the origin serves a blob about
 * once, to the first node that needs it, and otherwise only what stalled peers do not send.
 */
class OriginBroker implements BlockBroker {
  readonly name = 'origin';
  graceMs = 3_000;
  libp2p: Libp2p | undefined;
  /** Blocks served by the origin to this node since it started. */
  served = 0;
  readonly #url: string;
  readonly #fetch: typeof fetch;
  /** Provider peer ids of the fetches under way, with how many fetches named each. */
  readonly #expected = new Map<string, number>();
  /** When a peer last delivered a block to this node. */
  #lastPeerBlock = 0;

  constructor(origin: string, fetchImpl: typeof fetch) {
    this.#url = origin.replace(/\/+$/, '');
    this.#fetch = fetchImpl;
  }

  expect(providers: string[]): () => void {
    for (const p of providers) this.#expected.set(p, (this.#expected.get(p) ?? 0) + 1);
    return () => {
      for (const p of providers) {
        const left = (this.#expected.get(p) ?? 1) - 1;
        if (left <= 0) this.#expected.delete(p);
        else this.#expected.set(p, left);
      }
    };
  }

  /** A peer delivered a block: whatever waits for the origin waits on. */
  peersDelivered(): void {
    this.#lastPeerBlock = Date.now();
  }

  #peersMayHaveIt(): boolean {
    if (!this.libp2p) return false;
    for (const peer of this.#expected.keys()) {
      try {
        if (this.libp2p.getConnections(peerIdFromString(peer)).some((c) => !c.limits)) return true;
      } catch {
        // not a peer id
      }
    }
    return false;
  }

  async retrieve(cid: CID, options: BlockRetrievalOptions = {}): Promise<Uint8Array> {
    const started = Date.now();
    while (this.#peersMayHaveIt()) {
      const quietFor = Date.now() - Math.max(started, this.#lastPeerBlock);
      if (quietFor >= this.graceMs) break;
      await sleep(this.graceMs - quietFor, options.signal);
    }
    const response = await this.#fetch(`${this.#url}/api/v1/blobs/${cid}`, {
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!response.ok) throw new Error(`the origin has no block ${cid} (HTTP ${response.status})`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    await options.validateFn?.(bytes);
    this.served++;
    (options as { onProgress?: (e: { type: string }) => void }).onProgress?.({
      type: 'origin:receive-block',
    });
    return bytes;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function collect(
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array> | Uint8Array,
): Promise<Uint8Array> {
  if (chunks instanceof Uint8Array) return chunks;
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return concatBytes(parts);
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
