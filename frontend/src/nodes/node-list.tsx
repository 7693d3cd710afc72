import type { NodeInfo } from '../../../protocol/index.ts';
import { formatTime } from '../ui/format.ts';
import { isBusy, linksOf, neighboursOf, nodeLabel, placeOf, stateText } from './nodes-state.ts';

/**
 * The map's data as a table, for screen readers, keyboards and anyone who wants to read rather
 * than look: one row per node with its kind, state, place, peers (by name) and runtimes.
 */
export function NodeList({ nodes }: { nodes: readonly NodeInfo[] }) {
  const links = linksOf(nodes);
  const byId = new Map(nodes.map((n) => [n.nodeId, n]));
  const rows = [...nodes].sort((a, b) => a.connectedAt - b.connectedAt || (a.nodeId < b.nodeId ? -1 : 1));
  return (
    <div className="table-wrap">
      <table className="data-table node-list" data-testid="node-list">
        <caption className="visually-hidden">Connected nodes, oldest connection first</caption>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Kind</th>
            <th scope="col">State</th>
            <th scope="col">Location</th>
            <th scope="col">Peers</th>
            <th scope="col">Runtimes</th>
            <th scope="col">Connected</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((n) => {
            const peers = neighboursOf(n.nodeId, links).map((id) => nodeLabel(byId.get(id)!));
            return (
              <tr key={n.nodeId} data-node-id={n.nodeId}>
                <th scope="row" className="mono" title={n.nodeId}>
                  {nodeLabel(n)}
                </th>
                <td>
                  <span
                    className={`kind-chip kind-${n.kind} state-${isBusy(n) ? 'busy' : 'idle'}`}
                    aria-hidden="true"
                  />
                  {n.kind}
                  {n.relay ? ' (relay)' : ''}
                </td>
                <td>{stateText(n)}</td>
                <td>{placeOf(n)}</td>
                <td>{peers.length ? `${peers.length}: ${peers.join(', ')}` : 'none'}</td>
                <td>{n.runtimes.join(', ')}</td>
                <td>{formatTime(n.connectedAt)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
