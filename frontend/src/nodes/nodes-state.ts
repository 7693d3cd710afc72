import type { HubToWatcher, NodeInfo } from '../../../protocol/index.ts';

/** The nodes as the map's watcher knows them: rebuilt by each snapshot, patched by updates. */
export interface NodesState {
  /** By node id. */
  nodes: ReadonlyMap<string, NodeInfo>;
  /** A snapshot has arrived (before that, "no nodes" only means "not heard yet"). */
  synced: boolean;
  /** The hub's clock at the last frame. */
  at: number | undefined;
  /** Bumped on every applied frame. */
  version: number;
}

export const emptyNodesState = (): NodesState => ({
  nodes: new Map(),
  synced: false,
  at: undefined,
  version: 0,
});

/** Apply one frame from `GET /api/v1/nodes/events`. Pongs and errors change nothing. */
export function applyNodesMessage(s: NodesState, msg: HubToWatcher): NodesState {
  switch (msg.type) {
    case 'nodes.snapshot':
      return {
        nodes: new Map(msg.nodes.map((n) => [n.nodeId, n])),
        synced: true,
        at: msg.at,
        version: s.version + 1,
      };
    case 'nodes.updated': {
      const nodes = new Map(s.nodes);
      for (const id of msg.gone) nodes.delete(id);
      for (const n of msg.nodes) nodes.set(n.nodeId, n);
      return { ...s, nodes, at: msg.at, version: s.version + 1 };
    }
    default:
      return s;
  }
}

/** A node is busy while it holds leases. */
export const isBusy = (n: NodeInfo) => n.running > 0;

/**
 * "idle", or "busy, 6 tasks leased, 2 slots": a node leases more tasks than it has slots (it
 * queues a few so that it never waits for the hub), so the two numbers are told apart.
 */
export function stateText(n: NodeInfo): string {
  if (!isBusy(n)) return 'idle';
  return `busy, ${n.running} task${n.running === 1 ? '' : 's'} leased, ${n.capacity} slot${n.capacity === 1 ? '' : 's'}`;
}

export interface NodeCounts {
  total: number;
  browser: number;
  headless: number;
  busy: number;
  idle: number;
  /** Peer links between listed nodes (each pair once). */
  links: number;
}

export function countsOf(nodes: readonly NodeInfo[]): NodeCounts {
  const busy = nodes.filter(isBusy).length;
  return {
    total: nodes.length,
    browser: nodes.filter((n) => n.kind === 'browser').length,
    headless: nodes.filter((n) => n.kind === 'headless').length,
    busy,
    idle: nodes.length - busy,
    links: linksOf(nodes).length,
  };
}

/** A libp2p connection between two listed nodes, by node id (`from` < `to`). */
export interface PeerLink {
  from: string;
  to: string;
}

/**
 * The links between listed nodes: a pair is linked when either end reports the other among its
 * peers (the two reports change at slightly different times). Peers that are not listed nodes
 * (a peer of another shard, a node that just left) are left out.
 */
export function linksOf(nodes: readonly NodeInfo[]): PeerLink[] {
  const byPeer = new Map<string, string>();
  for (const n of nodes) if (n.peerId) byPeer.set(n.peerId, n.nodeId);
  const seen = new Set<string>();
  const links: PeerLink[] = [];
  for (const n of nodes) {
    for (const peer of n.peers ?? []) {
      const other = byPeer.get(peer);
      if (!other || other === n.nodeId) continue;
      const [from, to] = n.nodeId < other ? [n.nodeId, other] : [other, n.nodeId];
      const key = `${from} ${to}`;
      if (seen.has(key)) continue;
      seen.add(key);
      links.push({ from, to });
    }
  }
  return links;
}

/** Node ids linked to `nodeId`. */
export function neighboursOf(nodeId: string, links: readonly PeerLink[]): string[] {
  return links.flatMap((l) => (l.from === nodeId ? [l.to] : l.to === nodeId ? [l.from] : []));
}

/** What the map and the list call a node: its name, else the end of its id. */
export function nodeLabel(n: Pick<NodeInfo, 'nodeId' | 'name'>): string {
  if (n.name) return n.name;
  return n.nodeId.length > 14 ? `…${n.nodeId.slice(-8)}` : n.nodeId;
}

/** "Berlin, DE", "DE", or "location unknown". */
export function placeOf(n: Pick<NodeInfo, 'location'>): string {
  const { city, country } = n.location;
  return [city, country].filter(Boolean).join(', ') || 'location unknown';
}
