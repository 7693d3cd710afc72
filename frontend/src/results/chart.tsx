import {
  axisBottom,
  axisLeft,
  bin,
  extent,
  line,
  max,
  type Selection,
  scaleBand,
  scaleLinear,
  select,
} from 'd3';
import { useEffect, useRef, useState } from 'react';
import { binCount, type ChartKind, type Point } from './chart-kind.ts';

const HEIGHT = 320;
const MARGIN = { top: 16, right: 20, bottom: 44, left: 64 };

const fmt = (v: number) => (Number.isInteger(v) ? v.toLocaleString() : v.toPrecision(6));

/**
 * A D3 chart of `points`: line or bars by input index, a histogram of the y values, or a
 * scatter of (x, y). Axes are labelled; hovering or focusing a mark shows a tooltip (each mark
 * also carries a <title> for screen readers). Redrawn on resize.
 */
export function Chart({
  kind,
  points,
  axes,
}: {
  kind: ChartKind;
  points: Point[];
  axes: { x: string; y: string };
}) {
  const wrap = useRef<HTMLDivElement>(null);
  const svgRef = useRef<SVGSVGElement>(null);
  const [width, setWidth] = useState(640);
  const [tip, setTip] = useState<{ x: number; y: number; text: string } | undefined>();

  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const ro = new ResizeObserver(([entry]) => setWidth(Math.max(280, Math.floor(entry!.contentRect.width))));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const svg = select(svgRef.current!);
    svg.selectAll('*').remove();
    const w = width - MARGIN.left - MARGIN.right;
    const h = HEIGHT - MARGIN.top - MARGIN.bottom;
    const g = svg.append('g').attr('transform', `translate(${MARGIN.left},${MARGIN.top})`);
    const show = (
      event: { clientX: number; clientY: number } | undefined,
      text: string,
      anchor?: Element,
    ) => {
      const box = wrap.current!.getBoundingClientRect();
      const r = anchor?.getBoundingClientRect();
      // Keyboard focus has no pointer position: anchor the tooltip on the mark instead.
      const x = event?.clientX ? event.clientX : r ? r.x + r.width / 2 : 0;
      const y = event?.clientY ? event.clientY : r ? r.y : 0;
      setTip({ x: x - box.left, y: y - box.top, text });
    };
    const hide = () => setTip(undefined);
    const mark = <E extends SVGElement, D>(
      sel: Selection<E, D, SVGGElement, unknown>,
      text: (d: D) => string,
    ) => {
      sel
        .attr('tabindex', 0)
        .on('mouseenter focus', function (this: E, event: Event, d: D) {
          show(event instanceof MouseEvent ? event : undefined, text(d), this);
        })
        .on('mouseleave blur', hide)
        .append('title')
        .text(text);
    };
    let xLabel = axes.x;
    let yLabel = axes.y;

    if (kind === 'histogram') {
      const values = points.map((p) => p.y);
      const [lo, hi] = extent(values) as [number, number];
      const x = scaleLinear()
        .domain(lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi])
        .nice()
        .range([0, w]);
      const bins = bin()
        .domain(x.domain() as [number, number])
        .thresholds(x.ticks(binCount(values.length)))(values);
      const y = scaleLinear()
        .domain([0, max(bins, (b) => b.length) ?? 1])
        .nice()
        .range([h, 0]);
      g.append('g')
        .attr('transform', `translate(0,${h})`)
        .call(axisBottom(x).ticks(Math.max(2, w / 80)));
      g.append('g').call(axisLeft(y).ticks(6));
      const bars = g
        .selectAll<SVGRectElement, (typeof bins)[number]>('rect')
        .data(bins)
        .join('rect')
        .attr('class', 'mark bar')
        .attr('x', (b) => x(b.x0!) + 1)
        .attr('width', (b) => Math.max(0, x(b.x1!) - x(b.x0!) - 2))
        .attr('y', (b) => y(b.length))
        .attr('height', (b) => h - y(b.length));
      mark(bars, (b) => `${fmt(b.x0!)} to ${fmt(b.x1!)}: ${b.length} outputs`);
      xLabel = axes.y;
      yLabel = 'outputs';
    } else if (kind === 'bar') {
      const x = scaleBand<number>()
        .domain(points.map((p) => p.x))
        .range([0, w])
        .padding(0.15);
      const [lo, hi] = extent([0, ...points.map((p) => p.y)]) as [number, number];
      const y = scaleLinear().domain([lo, hi]).nice().range([h, 0]);
      const every = Math.ceil(points.length / Math.max(1, w / 40));
      g.append('g')
        .attr('transform', `translate(0,${h})`)
        .call(axisBottom(x).tickValues(points.filter((_, i) => i % every === 0).map((p) => p.x)));
      g.append('g').call(axisLeft(y).ticks(6));
      const bars = g
        .selectAll<SVGRectElement, Point>('rect')
        .data(points)
        .join('rect')
        .attr('class', 'mark bar')
        .attr('x', (p) => x(p.x)!)
        .attr('width', x.bandwidth())
        .attr('y', (p) => y(Math.max(0, p.y)))
        .attr('height', (p) => Math.abs(y(p.y) - y(0)));
      mark(bars, (p) => `input ${p.index}: ${fmt(p.y)}`);
    } else {
      const x = scaleLinear()
        .domain(extent(points, (p) => p.x) as [number, number])
        .nice()
        .range([0, w]);
      const y = scaleLinear()
        .domain(extent(points, (p) => p.y) as [number, number])
        .nice()
        .range([h, 0]);
      g.append('g')
        .attr('transform', `translate(0,${h})`)
        .call(axisBottom(x).ticks(Math.max(2, w / 80)));
      g.append('g').call(axisLeft(y).ticks(6));
      if (kind === 'line') {
        g.append('path')
          .datum(points)
          .attr('class', 'series-line')
          .attr('fill', 'none')
          .attr(
            'd',
            line<Point>()
              .x((p) => x(p.x))
              .y((p) => y(p.y)),
          );
      }
      // Marks on a line only when they are few enough to hover one by one.
      const dots = kind === 'scatter' || points.length <= 200 ? points : [];
      const circles = g
        .selectAll<SVGCircleElement, Point>('circle')
        .data(dots)
        .join('circle')
        .attr('class', 'mark dot')
        .attr('cx', (p) => x(p.x))
        .attr('cy', (p) => y(p.y))
        .attr('r', kind === 'scatter' ? 4 : 3);
      mark(circles, (p) =>
        kind === 'scatter'
          ? `input ${p.index}: ${axes.x} ${fmt(p.x)}, ${axes.y} ${fmt(p.y)}`
          : `input ${p.index}: ${fmt(p.y)}`,
      );
    }
    g.append('text')
      .attr('class', 'axis-label')
      .attr('x', w / 2)
      .attr('y', h + 38)
      .attr('text-anchor', 'middle')
      .text(xLabel);
    g.append('text')
      .attr('class', 'axis-label')
      .attr('transform', 'rotate(-90)')
      .attr('x', -h / 2)
      .attr('y', -50)
      .attr('text-anchor', 'middle')
      .text(yLabel);
  }, [kind, points, axes, width]);

  return (
    <div ref={wrap} className="chart" data-testid="chart">
      <svg
        ref={svgRef}
        width={width}
        height={HEIGHT}
        role="img"
        aria-label={`${kind} chart of ${points.length} outputs: ${axes.y} by ${axes.x}`}
      />
      {tip ? (
        <div className="tooltip" role="tooltip" style={{ left: tip.x, top: tip.y }}>
          {tip.text}
        </div>
      ) : null}
    </div>
  );
}
