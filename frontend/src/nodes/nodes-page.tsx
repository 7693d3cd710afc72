import { useMemo } from 'react';
import { Link } from 'react-router';
import { Empty, Loading } from '../ui/status.tsx';
import { FeedState } from './feed-state.tsx';
import { NodeCountsView, NodeLegend } from './node-counts.tsx';
import { NodeList } from './node-list.tsx';
import { NodeMap } from './node-map.tsx';
import { countsOf } from './nodes-state.ts';
import { useNodesWatch } from './use-nodes-watch.ts';

/** `/nodes`: the connected compute nodes on a world map and in a table, both live. */
export function NodesPage() {
  const { state, connection } = useNodesWatch();
  const nodes = useMemo(() => [...state.nodes.values()], [state.nodes]);
  const counts = countsOf(nodes);
  return (
    <section className="nodes-page">
      <div className="nodes-head">
        <h1>Node map</h1>
        <FeedState connection={connection} />
      </div>
      <p className="hint">
        Compute nodes connected now, at their approximate location (city level, from the address they connect
        from), with the peer-to-peer links between them. Nodes at the same place are spread around it; nodes
        whose location is unknown sit in the strip under the map. The table below lists the same nodes.
      </p>
      <NodeCountsView counts={counts} />
      <div className="panel">
        <NodeMap nodes={nodes} />
        <NodeLegend />
      </div>
      <section className="panel" aria-labelledby="node-list-title">
        <h2 id="node-list-title">Nodes as a list</h2>
        {!state.synced ? (
          <Loading>Waiting for the hub…</Loading>
        ) : nodes.length === 0 ? (
          <Empty>
            No compute node is connected. <Link to="/contribute">Contribute this tab</Link>, or start a
            headless node with <code>npm run node</code>.
          </Empty>
        ) : (
          <NodeList nodes={nodes} />
        )}
      </section>
    </section>
  );
}
