import {
  type GeoProjection,
  geoGraticule10,
  geoInterpolate,
  geoNaturalEarth1,
  geoPath,
  select,
  type ZoomBehavior,
  type ZoomTransform,
  zoom,
  zoomIdentity,
} from 'd3';
import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { feature, mesh } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
// Natural Earth 1:110m, bundled with the app: the map never loads tiles from the internet.
import world from 'world-atlas/countries-110m.json';
import type { NodeInfo } from '../../../protocol/index.ts';
import { type PlacedNode, pathThrough, placeNodes } from './layout.ts';
import { isBusy, linksOf, nodeLabel, placeOf, stateText } from './nodes-state.ts';
import './node-map.css';

const topology = world as unknown as Topology<{ countries: GeometryCollection }>;
const land = feature(topology, topology.objects.countries);
const borders = mesh(topology, topology.objects.countries, (a, b) => a !== b);
const graticule = geoGraticule10();
const SPHERE = { type: 'Sphere' } as const;

/** Height of one row of the "location unknown" strip, and the room a node takes in it. */
const ROW = 22;
const SLOT = 20;
const STRIP_LABEL = 128;
/** Points per great-circle arc. */
const ARC_STEPS = 32;

interface Tip {
  x: number;
  y: number;
  node: NodeInfo;
}

/**
 * The world map of connected nodes (D3 geo, Natural Earth projection): nodes as circles coloured
 * by kind (headless, browser) and state (idle, busy), the libp2p links between them as great-
 * circle arcs, and a "location unknown" strip under the map for nodes without coordinates. Drag
 * to pan, wheel or the buttons to zoom; hovering or focusing a node shows what it is. Nodes at
 * one place are spread around it (`placeNodes`), so all of them can be seen and pointed at.
 */
export function NodeMap({
  nodes,
  height = 440,
  compact = false,
}: {
  nodes: readonly NodeInfo[];
  height?: number;
  /** A small map inside another page: no wheel zoom (the page scrolls), smaller marks. */
  compact?: boolean;
}) {
  const wrap = useRef<HTMLElement>(null);
  const svgRef = useRef<SVGSVGElement>(null);
  const zoomRef = useRef<ZoomBehavior<SVGSVGElement, unknown>>(null);
  const [width, setWidth] = useState(800);
  const [transform, setTransform] = useState<ZoomTransform>(zoomIdentity);
  const [tip, setTip] = useState<Tip | undefined>();
  const clipId = useId().replace(/:/g, '');

  useEffect(() => {
    const el = wrap.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(([entry]) => setWidth(Math.max(280, Math.floor(entry!.contentRect.width))));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const placed = useMemo(() => placeNodes(nodes, compact ? 11 : 14), [nodes, compact]);
  const links = useMemo(() => linksOf(nodes), [nodes]);
  const unknown = placed.filter((p) => p.unknownSlot !== undefined).length;
  const perRow = Math.max(1, Math.floor((width - STRIP_LABEL - 8) / SLOT));
  const stripHeight = unknown ? Math.ceil(unknown / perRow) * ROW + 8 : 0;
  const mapHeight = height - stripHeight;

  const projection = useMemo<GeoProjection>(
    () =>
      geoNaturalEarth1().fitExtent(
        [
          [6, 6],
          [width - 6, mapHeight - 6],
        ],
        SPHERE,
      ),
    [width, mapHeight],
  );
  const base = useMemo(() => {
    const path = geoPath(projection);
    return {
      sphere: path(SPHERE) ?? '',
      graticule: path(graticule) ?? '',
      land: path(land) ?? '',
      borders: path(borders) ?? '',
    };
  }, [projection]);

  useEffect(() => {
    const svg = svgRef.current;
    if (!svg) return;
    const behavior = zoom<SVGSVGElement, unknown>()
      .scaleExtent([1, 16])
      .extent([
        [0, 0],
        [width, mapHeight],
      ])
      .translateExtent([
        [0, 0],
        [width, mapHeight],
      ])
      // In a panel the wheel scrolls the page; pinch, drag and the buttons still zoom and pan.
      .filter((event: Event & { ctrlKey?: boolean; button?: number }) =>
        compact && event.type === 'wheel'
          ? false
          : (!event.ctrlKey || event.type === 'wheel') && !event.button,
      )
      .on('zoom', (event: { transform: ZoomTransform }) => setTransform(event.transform));
    zoomRef.current = behavior;
    select(svg).call(behavior);
    return () => {
      select(svg).on('.zoom', null);
    };
  }, [width, mapHeight, compact]);

  const zoomBy = (k: number) => {
    if (svgRef.current && zoomRef.current) select(svgRef.current).call(zoomRef.current.scaleBy, k);
  };
  const resetZoom = () => {
    if (svgRef.current && zoomRef.current)
      select(svgRef.current).call(zoomRef.current.transform, zoomIdentity);
  };

  /** Where a placed node is on screen now (projection, then zoom, then its spread offset). */
  const screenOf = (p: PlacedNode): [number, number] => {
    if (p.lonLat) {
      const [x, y] = transform.apply(projection(p.lonLat) ?? [0, 0]);
      return [x + p.offset[0], y + p.offset[1]];
    }
    const slot = p.unknownSlot ?? 0;
    return [
      STRIP_LABEL + (slot % perRow) * SLOT + SLOT / 2,
      mapHeight + 4 + Math.floor(slot / perRow) * ROW + ROW / 2,
    ];
  };
  const byId = new Map(placed.map((p) => [p.node.nodeId, p]));

  const linkPath = (a: PlacedNode, b: PlacedNode): string => {
    const [ax, ay] = screenOf(a);
    const [bx, by] = screenOf(b);
    if (!a.lonLat || !b.lonLat || (a.lonLat[0] === b.lonLat[0] && a.lonLat[1] === b.lonLat[1])) {
      return pathThrough(
        [
          [ax, ay],
          [bx, by],
        ],
        Number.POSITIVE_INFINITY,
      );
    }
    // A great circle, projected point by point; the spread offsets blend from one end to the other.
    const along = geoInterpolate(a.lonLat, b.lonLat);
    const points: [number, number][] = [];
    for (let i = 0; i <= ARC_STEPS; i++) {
      const t = i / ARC_STEPS;
      const [x, y] = transform.apply(projection(along(t)) ?? [0, 0]);
      points.push([x + a.offset[0] * (1 - t) + b.offset[0] * t, y + a.offset[1] * (1 - t) + b.offset[1] * t]);
    }
    return pathThrough(points, (width * transform.k) / 2);
  };

  const show = (node: NodeInfo, at: [number, number]) => setTip({ x: at[0], y: at[1], node });
  const radius = compact ? 5 : 6;
  const located = placed.filter((p) => p.lonLat);
  const unplaced = placed.filter((p) => !p.lonLat);
  const busy = nodes.filter(isBusy).length;

  return (
    <figure
      ref={wrap}
      className={`node-map${compact ? ' compact' : ''}`}
      aria-label={`World map of ${nodes.length} connected node${nodes.length === 1 ? '' : 's'}, ${busy} busy, with ${links.length} peer link${links.length === 1 ? '' : 's'}`}
    >
      <svg ref={svgRef} width={width} height={height} data-testid="node-map">
        <title>Connected nodes and their peer links; drag to pan, zoom with the wheel or the buttons</title>
        <defs>
          <clipPath id={clipId}>
            <rect x={0} y={0} width={width} height={mapHeight} />
          </clipPath>
        </defs>
        <g clipPath={`url(#${clipId})`}>
          <g transform={transform.toString()} className="base-map">
            <path className="sphere" d={base.sphere} />
            <path className="graticule" d={base.graticule} />
            <path className="land" d={base.land} />
            <path className="borders" d={base.borders} />
          </g>
        </g>
        {stripHeight ? (
          <g className="unknown-strip" data-testid="location-unknown">
            <rect x={0} y={mapHeight} width={width} height={stripHeight} />
            <text x={10} y={mapHeight + 4 + ROW / 2} dominantBaseline="middle">
              location unknown
            </text>
          </g>
        ) : null}
        <g className="peer-links">
          {links.map((l) => {
            const a = byId.get(l.from);
            const b = byId.get(l.to);
            if (!a || !b) return null;
            return (
              <path
                key={`${l.from} ${l.to}`}
                className="peer-link"
                data-from={l.from}
                data-to={l.to}
                d={linkPath(a, b)}
              />
            );
          })}
        </g>
        <g clipPath={`url(#${clipId})`}>
          {located.map((p) => (
            <NodeDot
              key={p.node.nodeId}
              placed={p}
              at={screenOf(p)}
              r={radius}
              onShow={show}
              onHide={setTip}
            />
          ))}
        </g>
        {unplaced.map((p) => (
          <NodeDot key={p.node.nodeId} placed={p} at={screenOf(p)} r={radius} onShow={show} onHide={setTip} />
        ))}
      </svg>
      <div className="map-controls">
        <button type="button" onClick={() => zoomBy(1.6)} aria-label="Zoom in">
          +
        </button>
        <button type="button" onClick={() => zoomBy(1 / 1.6)} aria-label="Zoom out">
          −
        </button>
        <button type="button" onClick={resetZoom}>
          Reset view
        </button>
      </div>
      {tip ? (
        <div className="tooltip node-tip" role="tooltip" style={{ left: tip.x, top: tip.y - radius }}>
          <strong>{nodeLabel(tip.node)}</strong> · {tip.node.kind} · {stateText(tip.node)}
          <br />
          {placeOf(tip.node)} · {(tip.node.peers ?? []).length} peer
          {(tip.node.peers ?? []).length === 1 ? '' : 's'}
          {tip.node.relay ? ' · relay' : ''}
        </div>
      ) : null}
    </figure>
  );
}

function NodeDot({
  placed,
  at,
  r,
  onShow,
  onHide,
}: {
  placed: PlacedNode;
  at: [number, number];
  r: number;
  onShow(node: NodeInfo, at: [number, number]): void;
  onHide(tip: undefined): void;
}) {
  const n = placed.node;
  const state = isBusy(n) ? 'busy' : 'idle';
  const label = `${nodeLabel(n)}: ${n.kind}, ${stateText(n)}, ${placeOf(n)}`;
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a focusable map mark with a tooltip; the list view is the full alternative
    <g
      className="node"
      transform={`translate(${at[0]},${at[1]})`}
      tabIndex={0}
      aria-label={label}
      onMouseEnter={() => onShow(n, at)}
      onFocus={() => onShow(n, at)}
      onMouseLeave={() => onHide(undefined)}
      onBlur={() => onHide(undefined)}
    >
      {state === 'busy' ? <circle className="busy-ring" r={r + 3.5} /> : null}
      <circle
        className={`node-dot kind-${n.kind} state-${state}`}
        r={r}
        data-node-id={n.nodeId}
        data-peer-id={n.peerId}
        data-kind={n.kind}
        data-state={state}
        data-located={placed.lonLat ? 'yes' : 'no'}
      />
      <title>{label}</title>
    </g>
  );
}
