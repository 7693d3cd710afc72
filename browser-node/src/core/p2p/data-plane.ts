import * as dagPb from '@ipld/dag-pb';
import { CID } from 'multiformats/cid';
import type { JsonValue } from '../../../../protocol/job.ts';
import { MAX_PEER_LINKS, type PeerHint } from '../../../../protocol/mesh.ts';
import type { FetchStats, MeshPeer } from './mesh-peer.ts';

/** What the data plane tells the hub (sent as `node.mesh`). */
export interface MeshUpdate {
  multiaddrs?: string[];
  holds?: { add?: string[]; remove?: string[] };
  /** The peers connected now (the whole set), for the node map's links. */
  peers?: string[];
}

/** Connections come and go in bursts (a dial tries several addresses): report the set once it settles. */
const PEERS_DEBOUNCE_MS = 500;

export interface DataPlaneOptions {
  /** Relays to keep a connection (and, in a tab, a reservation) with. Default 2. */
  relays?: number;
  /**
   * Reach providers over WebRTC (through their relay) when they have a WebRTC address, before
   * trying their other addresses. A tab sets it: a public page can dial neither `ws://` nor
   * private addresses, so WebRTC is how it reaches peers other than its relays; with it a local
   * mesh behaves as a deployed one does.
   */
  preferWebRTC?: boolean;
  /** How long one dial of a peer may take; default 5 000 ms (tried twice). */
  dialTimeoutMs?: number;
  /** Called after each blob fetched (not for one already held whole). */
  onFetched?: (fetched: { cid: string; stats: FetchStats; ms: number }) => void;
}

/** The prefix of an input that names a blob instead of carrying the value. */
export const IPFS_INPUT_PREFIX = 'ipfs://';

/**
 * A compute node's side of the data plane, over its `MeshPeer`: code and `ipfs://` inputs come
 * from peers that hold them (the hub's hints) or the origin; what the node then holds whole is
 * announced to the hub, so the hub can point other nodes here and prefer this node for the job;
 * what the cache evicts is withdrawn. Relays the hub names are kept connected, so that a tab stays
 * reachable through one, and addresses that change (a new relay reservation) are announced.
 */
export class DataPlane {
  readonly peer: MeshPeer;
  /** Blobs fetched since start, and where their blocks came from. */
  readonly stats = { blobs: 0, fromPeers: 0, fromOrigin: 0 };
  readonly #options: DataPlaneOptions;
  /** Roots announced as held, with the blocks each needs. */
  readonly #held = new Map<string, Set<string>>();
  readonly #inflight = new Map<string, Promise<Uint8Array>>();
  #lastAddrs = '';
  #relays: PeerHint[] = [];
  #lastPeers = '';
  #peersTimer: ReturnType<typeof setTimeout> | undefined;
  #keeping = false;
  #keepAgain = false;
  /** Where updates go: the node's control connection to the hub (see `attach`). */
  #announce: (update: MeshUpdate) => void = () => {};

  constructor(peer: MeshPeer, options: DataPlaneOptions = {}) {
    this.peer = peer;
    this.#options = options;
    peer.libp2p.addEventListener('self:peer:update', () => this.#announceAddrs());
    peer.libp2p.addEventListener('connection:open', () => this.#peersChanged());
    peer.libp2p.addEventListener('connection:close', () => this.#peersChanged());
  }

  /** Sends updates through `announce` from now on (the compute node's hub connection). */
  attach(announce: (update: MeshUpdate) => void): void {
    this.#announce = announce;
  }

  /** Everything the hub should know, for a new connection (the hub forgets a node that left). */
  snapshot(): { multiaddrs: string[]; holds: string[]; peers: string[] } {
    const peers = this.#connectedPeers();
    this.#lastPeers = peers.join(' ');
    return {
      multiaddrs: this.peer.multiaddrs().slice(0, 16),
      holds: [...this.#held.keys()].slice(0, 256),
      peers,
    };
  }

  /** The hub's current peers: keep connections to a few relays (a tab listens through them). */
  meet(peers: PeerHint[]): void {
    this.#relays = peers.filter((p) => p.relay && p.peerId !== this.peer.peerId.toString());
    void this.#keepRelays();
  }

  /** A block left the cache: withdraw the roots that needed it. */
  evicted(block: CID): void {
    const key = block.toString();
    const gone: string[] = [];
    for (const [root, blocks] of this.#held) {
      if (blocks.has(key)) {
        this.#held.delete(root);
        gone.push(root);
      }
    }
    if (gone.length) this.#announce({ holds: { remove: gone } });
  }

  /** The bytes of blob `cid`; concurrent requests share one fetch. */
  blob(cid: string, providers: PeerHint[] = [], signal?: AbortSignal): Promise<Uint8Array> {
    const running = this.#inflight.get(cid);
    if (running) return running;
    const loading = this.#fetch(cid, providers, signal).finally(() => this.#inflight.delete(cid));
    this.#inflight.set(cid, loading);
    return loading;
  }

  /** A task input: `ipfs://<cid>` becomes the blob's JSON; anything else is as it came. */
  async resolveInput(input: JsonValue, providers: PeerHint[] = [], signal?: AbortSignal): Promise<JsonValue> {
    if (typeof input !== 'string' || !input.startsWith(IPFS_INPUT_PREFIX)) return input;
    const bytes = await this.blob(input.slice(IPFS_INPUT_PREFIX.length), providers, signal);
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as JsonValue;
    } catch (error) {
      throw new InputBlobError(`the input blob ${input} is not UTF-8 JSON: ${(error as Error).message}`);
    }
  }

  async #fetch(cid: string, providers: PeerHint[], signal: AbortSignal | undefined): Promise<Uint8Array> {
    const others = providers.filter((p) => p.peerId !== this.peer.peerId.toString());
    // Dial providers we are not connected to; bitswap asks every connected peer.
    await Promise.all(others.slice(0, 3).map((p) => this.reach(p)));
    const started = performance.now();
    const { bytes, stats } = await this.peer.getBlob(cid, {
      providers: others.map((p) => p.peerId),
      ...(signal ? { signal } : {}),
    });
    this.stats.fromPeers += stats.fromPeers;
    this.stats.fromOrigin += stats.fromOrigin;
    if (stats.fromPeers + stats.fromOrigin > 0) {
      this.stats.blobs++;
      this.#options.onFetched?.({ cid, stats, ms: performance.now() - started });
    }
    if (!this.#held.has(cid)) {
      this.#held.set(cid, await this.#blocksOf(cid));
      this.#announce({ holds: { add: [cid] } });
    }
    return bytes;
  }

  /** Every block of a DAG held locally (raw: itself; dag-pb: itself and its links, recursively). */
  async #blocksOf(root: string): Promise<Set<string>> {
    const blocks = new Set<string>();
    const visit = async (cid: CID) => {
      blocks.add(cid.toString());
      if (cid.code !== dagPb.code) return;
      const parts: Uint8Array[] = [];
      for await (const part of this.peer.helia.blockstore.get(cid, { offline: true } as never))
        parts.push(part);
      const node = dagPb.decode(
        parts.length === 1 ? parts[0]! : Uint8Array.from(parts.flatMap((p) => [...p])),
      );
      for (const link of node.Links) await visit(link.Hash);
    };
    await visit(CID.parse(root));
    return blocks;
  }

  /**
   * Connects to a peer unless already connected (over WebRTC first when `preferWebRTC`); false
   * when it cannot be reached in time.
   */
  async reach(hint: PeerHint): Promise<boolean> {
    if (this.peer.isConnected(hint.peerId)) return true;
    const dial = { attempts: 2, timeoutMs: this.#options.dialTimeoutMs ?? 5_000 };
    if (this.#options.preferWebRTC) {
      const webrtc = hint.multiaddrs.filter(isWebRTC);
      if (webrtc.length && (await this.peer.dial(webrtc, dial))) return true;
    }
    return this.peer.dial(hint.multiaddrs, dial);
  }

  async #keepRelays(): Promise<void> {
    if (this.#keeping) {
      this.#keepAgain = true;
      return;
    }
    this.#keeping = true;
    try {
      do {
        this.#keepAgain = false;
        const want = this.#options.relays ?? 2;
        // Relays are reached at their own (direct) addresses: a reservation needs a direct connection.
        const direct = (r: PeerHint) => ({
          ...r,
          multiaddrs: r.multiaddrs.filter((a) => !a.includes('/p2p-circuit')),
        });
        const connected = this.#relays.filter((r) => this.peer.isConnected(r.peerId));
        for (const relay of this.#relays) {
          if (connected.length >= want) break;
          if (connected.includes(relay)) continue;
          if (
            await this.peer.dial(direct(relay).multiaddrs, {
              attempts: 2,
              timeoutMs: this.#options.dialTimeoutMs ?? 5_000,
            })
          )
            connected.push(relay);
        }
      } while (this.#keepAgain);
    } finally {
      this.#keeping = false;
    }
  }

  /** Peer ids with an open connection, sorted, at most `MAX_PEER_LINKS`. */
  #connectedPeers(): string[] {
    const ids = new Set(this.peer.libp2p.getConnections().map((c) => c.remotePeer.toString()));
    return [...ids].sort().slice(0, MAX_PEER_LINKS);
  }

  #peersChanged(): void {
    clearTimeout(this.#peersTimer);
    this.#peersTimer = setTimeout(() => {
      const peers = this.#connectedPeers();
      const key = peers.join(' ');
      if (key === this.#lastPeers) return;
      this.#lastPeers = key;
      this.#announce({ peers });
    }, PEERS_DEBOUNCE_MS);
  }

  #announceAddrs(): void {
    const addrs = this.peer.multiaddrs();
    const key = addrs.join(' ');
    if (key === this.#lastAddrs) return;
    this.#lastAddrs = key;
    this.#announce({ multiaddrs: addrs });
    // A relay went away: find another.
    void this.#keepRelays();
  }
}

/** A WebRTC address through a relay (`…/p2p-circuit/webrtc/p2p/<id>`). */
function isWebRTC(addr: string): boolean {
  return /\/webrtc(\/|$)/.test(addr) && !addr.includes('/webrtc-direct');
}

/** An `ipfs://` input that is not a JSON document: the task's own error, not the node's. */
export class InputBlobError extends Error {
  override name = 'InputBlobError';
}

/** A blob larger than a node reads: the job's problem (its input or code), not the node's. */
export class BlobTooLargeError extends InputBlobError {
  override name = 'BlobTooLargeError';
}
