import type { RuntimeFingerprint } from '../../../protocol/index.ts';
import { ComputeNode, type NodeEvent } from '../core/compute-node.ts';
import { computeFingerprint } from '../core/fingerprint.ts';
import { loadOrCreateIdentity, type NodeIdentity } from '../core/identity.ts';
import { browserEngine } from './browser-engine.ts';
import { IndexedDbKeyStore } from './indexeddb-key-store.ts';
import { WebWorkerExecutor } from './web-worker-executor.ts';

export interface BrowserNodeOptions {
  /** Base URL of the API; default the page's origin. */
  api?: string;
  /** Web Workers (tasks at once); default `hardwareConcurrency - 1`. */
  workers?: number;
  /** Where Pyodide's files are; default `/pyodide/` of the page's origin. */
  pyodideUrl?: string;
  name?: string;
  /** Default a new random id per tab. */
  nodeId?: string;
  /** The key that signs results; default the origin's key in IndexedDB (created on first use). */
  identity?: NodeIdentity;
  onEvent?: (event: NodeEvent) => void;
}

export interface BrowserNode {
  readonly node: ComputeNode;
  readonly executor: WebWorkerExecutor;
  readonly fingerprint: RuntimeFingerprint;
  /** Stops leasing, lets running tasks finish (up to `graceMs`), closes the workers. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * A compute node in this tab: the same lease loop as the headless node (`ComputeNode`), with Web
 * Workers as its sandboxes. The fingerprint is measured in those workers before joining.
 *
 * @example
 * const { node, stop } = await startBrowserNode({ workers: 2, onEvent: console.log });
 * // … later
 * await stop();
 */
export async function startBrowserNode(options: BrowserNodeOptions = {}): Promise<BrowserNode> {
  const api = options.api ?? globalThis.location.origin;
  const executor = new WebWorkerExecutor({
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    ...(options.pyodideUrl !== undefined ? { pyodideUrl: options.pyodideUrl } : {}),
    prewarm: true,
  });
  const fingerprint = await computeFingerprint({ executor, engine: browserEngine() });
  const identity = options.identity ?? (await loadOrCreateIdentity(new IndexedDbKeyStore()));
  const random = crypto.getRandomValues(new Uint8Array(6));
  const node = new ComputeNode({
    api,
    executor,
    nodeId: options.nodeId ?? `browser-${[...random].map((b) => b.toString(16).padStart(2, '0')).join('')}`,
    identity,
    kind: 'browser',
    ...(options.name ? { name: options.name } : {}),
    version: '0.1.0',
    fingerprint,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  node.start();
  return {
    node,
    executor,
    fingerprint,
    stop: async (graceMs) => {
      await node.stop(graceMs);
      await executor.close();
    },
  };
}
