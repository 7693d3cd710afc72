import type { CID } from 'multiformats/cid';
import type { NodeOwnerLink, RuntimeFingerprint } from '../../../protocol/index.ts';
import { ComputeNode, type NodeEvent } from '../core/compute-node.ts';
import type { Executor } from '../core/executor.ts';
import { computeFingerprint } from '../core/fingerprint.ts';
import { loadOrCreateIdentity, type NodeIdentity } from '../core/identity.ts';
import { BoundedBlockstore } from '../core/p2p/bounded-blockstore.ts';
import { DataPlane } from '../core/p2p/data-plane.ts';
import { MeshPeer } from '../core/p2p/mesh-peer.ts';
import { browserEngine } from './browser-engine.ts';
import { FrameExecutor } from './frame-executor.ts';
import { IdbBlockCache } from './idb-block-cache.ts';
import { IndexedDbKeyStore } from './indexeddb-key-store.ts';
import { browserTransports } from './p2p-host.ts';
import { WebWorkerExecutor } from './web-worker-executor.ts';

export interface BrowserNodeOptions {
  /** Base URL of the API; default the page's origin. */
  api?: string;
  /** Web Workers (tasks at once); default `hardwareConcurrency - 1`. */
  workers?: number;
  /** Share of each worker's time to use, 0.05–1 (default 1); changeable later with `node.setCpuShare`. */
  cpuShare?: number;
  /** A wallet's signed link: the node's work counts for that wallet (see `protocol/node-link.ts`). */
  owner?: NodeOwnerLink;
  /** Where Pyodide's files are; default `/pyodide/` of the page's origin (unused with `sandboxOrigin`). */
  pyodideUrl?: string;
  /**
   * Run the sandboxes in a frame of this origin, another site than the page's, whose renderer
   * process a task can exhaust without taking the tab down (`FrameExecutor`; the web app's
   * `/sandbox.html` must be served there). Without it they run in the tab's own process, where a
   * JavaScript task that runs out of heap crashes the tab.
   */
  sandboxOrigin?: string;
  /** With `sandboxOrigin`: called when the sandbox frame was lost (a task ran out of memory). */
  onSandboxLost?: (event: { running: number; reason: string }) => void;
  name?: string;
  /** The id the hub knows the node by; default its peer id (as a headless node's). */
  nodeId?: string;
  /** The key that signs results; default the origin's key in IndexedDB (created on first use). */
  identity?: NodeIdentity;
  onEvent?: (event: NodeEvent) => void;
  /**
   * Join the data plane (a libp2p peer with bitswap; default true): code and `ipfs://` inputs
   * then come from peers, and others fetch what this tab holds. Without it, code comes from the
   * origin and `ipfs://` inputs fail.
   */
  mesh?: boolean;
  /** Block cache in memory, in bytes; default 256 MiB. */
  cacheBytes?: number;
  /** Relays to keep a connection and a reservation with; default 1. */
  relays?: number;
  /** ICE servers for WebRTC (STUN/TURN); none by default (loopback and LAN need none). */
  iceServers?: RTCIceServer[];
  /**
   * Local development only: let libp2p dial `ws://` and loopback/private addresses, which the
   * browser build refuses by default (a public page must not probe its visitor's network). Relays
   * of a local mesh listen on `ws://127.0.0.1`, so a page served from localhost needs this.
   */
  allowLocalAddresses?: boolean;
}

export interface BrowserNode {
  readonly node: ComputeNode;
  readonly executor: Executor;
  readonly fingerprint: RuntimeFingerprint;
  readonly identity: NodeIdentity;
  /**
   * Where the sandboxes run: `frame` (a frame of another site, `sandboxOrigin`) or `tab`; and how
   * many sandbox frames were lost so far (each a task that ran out of memory, or a crash), and how
   * many tasks were run again alone to find which one it was.
   */
  readonly sandbox: {
    readonly where: 'frame' | 'tab';
    readonly framesLost: number;
    readonly rerunAlone: number;
    /** Why the sandboxes run in the tab although a sandbox origin was given (it could not be reached). */
    readonly fallbackReason?: string;
  };
  /** The tab's libp2p peer and its block exchange (absent with `mesh: false`). */
  readonly dataPlane: DataPlane | undefined;
  /** Stops leasing, lets running tasks finish (up to `graceMs`), closes the workers and the peer. */
  stop(graceMs?: number): Promise<void>;
}

/** Another tab of this origin already runs a node with the same key. */
export class NodeAlreadyRunningError extends Error {
  override readonly name = 'NodeAlreadyRunningError';
}

/**
 * A compute node in this tab: the same lease loop as the headless node (`ComputeNode`), with Web
 * Workers as its sandboxes and a libp2p peer (WebSockets to relays, WebRTC to other peers through
 * them) for blocks. The fingerprint is measured in those workers before joining.
 *
 * One node per key: every tab of an origin shares the key in IndexedDB, and two libp2p peers with
 * one peer id would take each other's relay reservations, so a Web Lock named after the peer id
 * is held while the node runs and a second tab gets `NodeAlreadyRunningError`.
 *
 * @example
 * const { node, stop } = await startBrowserNode({ workers: 2, onEvent: console.log });
 * // … later
 * await stop();
 */
export async function startBrowserNode(options: BrowserNodeOptions = {}): Promise<BrowserNode> {
  const api = options.api ?? globalThis.location.origin;
  const identity = options.identity ?? (await loadOrCreateIdentity(new IndexedDbKeyStore()));
  const releaseLock = await holdNodeLock(identity.peerId.toString());
  const cleanups: (() => Promise<void> | void)[] = [releaseLock];
  const cleanUp = async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => {});
  };
  try {
    const executor: Executor = options.sandboxOrigin
      ? new FrameExecutor({
          sandboxOrigin: options.sandboxOrigin,
          ...(options.workers !== undefined ? { workers: options.workers } : {}),
          ...(options.onSandboxLost ? { onFrameLost: options.onSandboxLost } : {}),
          prewarm: true,
          // A sandbox origin that cannot be reached (blocked by an extension or a policy) must not
          // stop the tab: it contributes with its sandboxes in its own process, and says so.
          fallback: () =>
            new WebWorkerExecutor({
              ...(options.workers !== undefined ? { workers: options.workers } : {}),
              ...(options.pyodideUrl !== undefined ? { pyodideUrl: options.pyodideUrl } : {}),
              prewarm: true,
            }),
        })
      : new WebWorkerExecutor({
          ...(options.workers !== undefined ? { workers: options.workers } : {}),
          ...(options.pyodideUrl !== undefined ? { pyodideUrl: options.pyodideUrl } : {}),
          prewarm: true,
        });
    cleanups.push(() => executor.close());
    const fingerprint = await computeFingerprint({ executor, engine: browserEngine() });
    let dataPlane: DataPlane | undefined;
    if (options.mesh ?? true) {
      // Blocks persist in IndexedDB (what the tab fetched survives a reload); in memory where a
      // browser has no IndexedDB (e.g. some private modes).
      const cacheOptions = {
        maxBytes: options.cacheBytes ?? 256 * 1024 * 1024,
        onEvict: (cid: CID) => dataPlane?.evicted(cid),
      };
      const blockstore = globalThis.indexedDB
        ? await IdbBlockCache.open(cacheOptions)
        : new BoundedBlockstore(cacheOptions);
      if (blockstore instanceof IdbBlockCache) cleanups.push(() => blockstore.close());
      const peer = await MeshPeer.create({
        privateKey: identity.privateKey,
        host: browserTransports({
          ...(options.iceServers ? { iceServers: options.iceServers } : {}),
          ...(options.allowLocalAddresses ? { allowLocalAddresses: true } : {}),
        }),
        blockstore,
        origin: api,
      });
      cleanups.push(() => peer.stop());
      // A tab reaches other peers over WebRTC (the transport a public page can always use),
      // and relays only for its reservation and signalling.
      dataPlane = new DataPlane(peer, { relays: options.relays ?? 1, preferWebRTC: true });
    }
    const node = new ComputeNode({
      api,
      executor,
      nodeId: options.nodeId ?? identity.peerId.toString(),
      identity,
      kind: 'browser',
      ...(options.name ? { name: options.name } : {}),
      version: '0.1.0',
      fingerprint,
      ...(options.cpuShare !== undefined ? { cpuShare: options.cpuShare } : {}),
      ...(options.owner ? { owner: options.owner } : {}),
      ...(dataPlane ? { dataPlane } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    node.start();
    return {
      node,
      executor,
      get sandbox() {
        return executor instanceof FrameExecutor
          ? executor.fallbackReason
            ? { where: 'tab' as const, framesLost: 0, rerunAlone: 0, fallbackReason: executor.fallbackReason }
            : { where: 'frame' as const, framesLost: executor.lost, rerunAlone: executor.rerunAlone }
          : { where: 'tab' as const, framesLost: 0, rerunAlone: 0 };
      },
      fingerprint,
      identity,
      dataPlane,
      stop: async (graceMs) => {
        await node.stop(graceMs);
        await cleanUp();
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

/** Holds the Web Lock of this key until the returned function is called (no-op without Web Locks). */
async function holdNodeLock(peerId: string): Promise<() => void> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return () => {};
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const acquired = await new Promise<boolean>((resolve, reject) => {
    locks
      .request(`monadmesh-node:${peerId}`, { ifAvailable: true }, async (lock) => {
        resolve(lock !== null);
        if (lock) await held;
      })
      .catch(reject);
  });
  if (!acquired) {
    throw new NodeAlreadyRunningError(
      `another tab of this browser already runs a node as ${peerId}; stop it there first`,
    );
  }
  return release;
}
