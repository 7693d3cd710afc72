import * as dagPb from '@ipld/dag-pb';
import { CID } from 'multiformats/cid';
import type { JsonValue } from '../../../../protocol/job.ts';
import type { PeerHint } from '../../../../protocol/mesh.ts';
import type { MeshPeer } from './mesh-peer.ts';

/** What the data plane tells the hub (sent as `node.mesh`). */
export interface MeshUpdate {
  multiaddrs?: string[];
  holds?: { add?: string[]; remove?: string[] };
}

export interface DataPlaneOptions {
  /** Relays to keep a connection (and, in a tab, a reservation) with. Default 2. */
  relays?: number;
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
  readonly #options: DataPlaneOptions;
  /** Roots announced as held, with the blocks each needs. */
  readonly #held = new Map<string, Set<string>>();
  readonly #inflight = new Map<string, Promise<Uint8Array>>();
  #lastAddrs = '';
  #relays: PeerHint[] = [];
  /** Where updates go: the node's control connection to the hub (see `attach`). */
  #announce: (update: MeshUpdate) => void = () => {};

  constructor(peer: MeshPeer, options: DataPlaneOptions = {}) {
    this.peer = peer;
    this.#options = options;
    peer.libp2p.addEventListener('self:peer:update', () => this.#announceAddrs());
  }

  /** Sends updates through `announce` from now on (the compute node's hub connection). */
  attach(announce: (update: MeshUpdate) => void): void {
    this.#announce = announce;
  }

  /** Everything the hub should know, for a new connection (the hub forgets a node that left). */
  snapshot(): { multiaddrs: string[]; holds: string[] } {
    return { multiaddrs: this.peer.multiaddrs().slice(0, 16), holds: [...this.#held.keys()].slice(0, 256) };
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
    await Promise.all(
      others.slice(0, 3).map((p) => (this.peer.isConnected(p.peerId) ? true : this.peer.dial(p.multiaddrs))),
    );
    const { bytes } = await this.peer.getBlob(cid, {
      providers: others.map((p) => p.peerId),
      ...(signal ? { signal } : {}),
    });
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

  async #keepRelays(): Promise<void> {
    const want = this.#options.relays ?? 2;
    const connected = this.#relays.filter((r) => this.peer.isConnected(r.peerId));
    for (const relay of this.#relays) {
      if (connected.length >= want) break;
      if (connected.includes(relay)) continue;
      if (await this.peer.dial(relay.multiaddrs)) connected.push(relay);
    }
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

/** An `ipfs://` input that is not a JSON document: the task's own error, not the node's. */
export class InputBlobError extends Error {
  override name = 'InputBlobError';
}
