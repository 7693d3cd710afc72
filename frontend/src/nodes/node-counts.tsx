import type { NodeCounts } from './nodes-state.ts';

/** Totals above the map: nodes, by kind, busy and idle, and peer links. */
export function NodeCountsView({ counts }: { counts: NodeCounts }) {
  const items: [keyof NodeCounts, string][] = [
    ['total', 'nodes'],
    ['headless', 'headless'],
    ['browser', 'browser'],
    ['busy', 'busy'],
    ['idle', 'idle'],
    ['links', 'peer links'],
  ];
  return (
    <dl className="node-counts" aria-label="Node counts">
      {items.map(([key, label]) => (
        <div key={key}>
          <dt>{label}</dt>
          <dd data-testid={`node-count-${key}`}>{counts[key].toLocaleString()}</dd>
        </div>
      ))}
    </dl>
  );
}

/** What the colours and rings of the map mean. */
export function NodeLegend() {
  const dot = (kind: string, state: string) => (
    <svg width="22" height="22" viewBox="-11 -11 22 22" aria-hidden="true">
      {state === 'busy' ? (
        <circle className="busy-ring" r={9} fill="none" stroke="#15803d" strokeWidth={2} />
      ) : null}
      <circle
        r={5.5}
        strokeWidth={2}
        fill={
          kind === 'headless'
            ? state === 'busy'
              ? '#1d4ed8'
              : '#bfdbfe'
            : state === 'busy'
              ? '#c2410c'
              : '#fed7aa'
        }
        stroke={state === 'busy' ? '#ffffff' : kind === 'headless' ? '#1d4ed8' : '#c2410c'}
      />
    </svg>
  );
  return (
    <ul className="node-legend" aria-label="Legend">
      <li>{dot('headless', 'idle')}headless, idle</li>
      <li>{dot('headless', 'busy')}headless, busy</li>
      <li>{dot('browser', 'idle')}browser, idle</li>
      <li>{dot('browser', 'busy')}browser, busy</li>
      <li>
        <svg width="26" height="10" aria-hidden="true">
          <path d="M2,5 L24,5" stroke="#6d28d9" strokeWidth={1.6} />
        </svg>
        peer link (libp2p connection)
      </li>
    </ul>
  );
}
