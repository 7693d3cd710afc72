// Test fixtures for the node map's tests; not used by the app.
import type { NodeInfo } from '../../../protocol/index.ts';

/** A connected, idle headless node with `over` applied. */
export const nodeInfo = (nodeId: string, over: Partial<NodeInfo> = {}): NodeInfo => ({
  nodeId,
  kind: 'headless',
  runtimes: ['js', 'wasm'],
  capacity: 2,
  running: 0,
  connectedAt: 1_700_000_000_000,
  lastSeenAt: 1_700_000_000_000,
  location: { country: 'US', city: 'Austin', latitude: 30.3, longitude: -97.7 },
  peerId: `12D3KooW${nodeId}`,
  peers: [],
  ...over,
});
