import type { JsonValue } from '../../../protocol/index.ts';

export type ChartKind = 'line' | 'bar' | 'histogram' | 'scatter';

/** One point to draw: `x` is the input index for series, or the first value of a pair. */
export interface Point {
  x: number;
  y: number;
  /** The input index the point came from (for tooltips). */
  index: number;
}

export interface ChartChoice {
  /** The chart drawn by default. */
  kind: ChartKind;
  /** Every chart that fits the data (the user may switch between them). */
  kinds: ChartKind[];
  /** Numeric fields of object outputs the user may pick from; empty for bare numbers and pairs. */
  fields: string[];
  /** The field drawn (object outputs only). */
  field?: string;
  /** For scatter: the two fields (or `[0]`, `[1]` for arrays). */
  axes: { x: string; y: string };
  points: Point[];
}

export type NoChart = { kind: 'none'; reason: string };

/** At most this many bars; beyond, a numeric series is drawn as a line. */
export const MAX_BARS = 40;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObject = (v: unknown): v is Record<string, JsonValue> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Pick charts from the shape of the outputs (`[index, output]` of the succeeded tasks):
 * - numbers → a series by input index (bars when few, a line when many) or a histogram;
 * - pairs (`[x, y]` arrays, or objects with exactly two numeric fields) → a scatter plot;
 * - objects with more numeric fields → a series (or histogram) of one field, by default the
 *   first field whose values vary (a constant such as `samples` makes a dull chart);
 * - anything else (strings, nested data) → no chart, with the reason.
 */
export function chooseChart(
  outputs: readonly [number, JsonValue | undefined][],
  preferred?: { kind?: ChartKind; field?: string },
): ChartChoice | NoChart {
  const rows = outputs.filter((r): r is [number, JsonValue] => r[1] !== undefined && r[1] !== null);
  if (rows.length === 0) return { kind: 'none', reason: 'There are no outputs to draw yet.' };

  const series = (values: [number, number][], fields: string[], field?: string): ChartChoice => {
    const kinds: ChartKind[] = [values.length <= MAX_BARS ? 'bar' : 'line', 'histogram'];
    const kind = preferred?.kind && kinds.includes(preferred.kind) ? preferred.kind : kinds[0]!;
    return {
      kind,
      kinds,
      fields,
      ...(field === undefined ? {} : { field }),
      axes: { x: 'input', y: field ?? 'output' },
      points: values.map(([index, y]) => ({ x: index, y, index })),
    };
  };
  const scatter = (pts: Point[], axes: { x: string; y: string }, fields: string[]): ChartChoice => ({
    kind: 'scatter',
    kinds: ['scatter'],
    fields,
    axes,
    points: pts,
  });

  if (rows.every(([, v]) => isNum(v)))
    return series(
      rows.map(([i, v]) => [i, v as number]),
      [],
    );

  if (rows.every(([, v]) => Array.isArray(v) && v.length === 2 && isNum(v[0]) && isNum(v[1]))) {
    return scatter(
      rows.map(([index, v]) => {
        const [x, y] = v as [number, number];
        return { x, y, index };
      }),
      { x: '[0]', y: '[1]' },
      [],
    );
  }

  if (rows.every(([, v]) => isObject(v))) {
    const objects = rows as [number, Record<string, JsonValue>][];
    const fields = Object.keys(objects[0]![1]).filter((k) => objects.every(([, o]) => isNum(o[k])));
    if (fields.length === 2 && !preferred?.field) {
      const [fx, fy] = fields as [string, string];
      return scatter(
        objects.map(([index, o]) => ({ x: o[fx] as number, y: o[fy] as number, index })),
        { x: fx, y: fy },
        fields,
      );
    }
    if (fields.length > 0) {
      const varies = (k: string) => new Set(objects.map(([, o]) => o[k])).size > 1;
      const field =
        preferred?.field && fields.includes(preferred.field)
          ? preferred.field
          : (fields.find(varies) ?? fields[0]!);
      return series(
        objects.map(([i, o]) => [i, o[field] as number]),
        fields,
        field,
      );
    }
    return { kind: 'none', reason: 'The outputs are objects without a numeric field present in every one.' };
  }

  return {
    kind: 'none',
    reason: 'Charts need numeric outputs: numbers, [x, y] pairs, or objects with numeric fields.',
  };
}

/** Histogram bins (Sturges' rule, at least 1, at most 50). */
export function binCount(n: number): number {
  return Math.max(1, Math.min(50, Math.ceil(Math.log2(Math.max(n, 1)) + 1)));
}
