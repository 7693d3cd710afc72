import type { NodeInfo } from '../../../protocol/index.ts';

/** Where the map draws one node. */
export interface PlacedNode {
  node: NodeInfo;
  /** `[longitude, latitude]`, when the node's location is known. */
  lonLat: [number, number] | undefined;
  /**
   * Screen offset in pixels from the projected point: nodes at the same place (locations are
   * city-level, and under `wrangler dev` every node gets the same placeholder) are spread out.
   */
  offset: [number, number];
  /** Position in the "location unknown" strip, for nodes without coordinates. */
  unknownSlot: number | undefined;
}

/** 32-bit FNV-1a: a stable, well-spread number for a string (peer ids differ only at the end). */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The golden angle: successive points of a sunflower spiral never line up. */
const GOLDEN_ANGLE = Math.PI * (3 - Math.sqrt(5));

/** What orders nodes within a place: their peer id (stable across reconnects), else their node id. */
const keyOf = (n: NodeInfo) => n.peerId ?? n.nodeId;

const byHash = (a: NodeInfo, b: NodeInfo) =>
  hash32(keyOf(a)) - hash32(keyOf(b)) || (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0);

/**
 * Places nodes for the map, deterministically: the same nodes always land on the same spots,
 * whatever order they arrive in. Nodes with coordinates are grouped by place; a lone node sits
 * on its place, several are spread on a sunflower spiral around it (ordered by a hash of their
 * peer id), `spacing` pixels apart, so none hides another at any zoom. Nodes without coordinates
 * get consecutive slots in the "location unknown" strip, in the same order.
 */
export function placeNodes(nodes: readonly NodeInfo[], spacing = 14): PlacedNode[] {
  const groups = new Map<string, NodeInfo[]>();
  const unknown: NodeInfo[] = [];
  for (const n of nodes) {
    const { latitude, longitude } = n.location;
    if (latitude === undefined || longitude === undefined) {
      unknown.push(n);
      continue;
    }
    const key = `${latitude},${longitude}`;
    const group = groups.get(key);
    if (group) group.push(n);
    else groups.set(key, [n]);
  }
  const placed: PlacedNode[] = [];
  for (const group of groups.values()) {
    group.sort(byHash);
    group.forEach((node, i) => {
      const lonLat: [number, number] = [node.location.longitude!, node.location.latitude!];
      if (group.length === 1) {
        placed.push({ node, lonLat, offset: [0, 0], unknownSlot: undefined });
        return;
      }
      // Vogel's spiral: radius grows with √i, so the points fill a disc evenly, `spacing` apart.
      const r = spacing * Math.sqrt(i + 0.5);
      const angle = i * GOLDEN_ANGLE;
      placed.push({
        node,
        lonLat,
        offset: [round(r * Math.cos(angle)), round(r * Math.sin(angle))],
        unknownSlot: undefined,
      });
    });
  }
  unknown.sort(byHash);
  unknown.forEach((node, i) => {
    placed.push({ node, lonLat: undefined, offset: [0, 0], unknownSlot: i });
  });
  return placed;
}

const round = (v: number) => Math.round(v * 100) / 100;

/**
 * An SVG path through `points`, lifting the pen where two consecutive points are more than
 * `maxJump` apart horizontally: a great circle that crosses the map's edge (the antimeridian)
 * continues on the other side instead of streaking across the whole map.
 */
export function pathThrough(points: readonly (readonly [number, number])[], maxJump: number): string {
  let d = '';
  let previous: readonly [number, number] | undefined;
  for (const p of points) {
    const move = !previous || Math.abs(p[0] - previous[0]) > maxJump;
    d += `${move ? 'M' : 'L'}${round(p[0])},${round(p[1])}`;
    previous = p;
  }
  return d;
}
