import { useMemo } from 'react';
import { Link } from 'react-router';
import { FeedState } from './feed-state.tsx';
import { NodeCountsView } from './node-counts.tsx';
import { NodeMap } from './node-map.tsx';
import { countsOf } from './nodes-state.ts';
import { useNodesWatch } from './use-nodes-watch.ts';

/** The jobs dashboard's view of the mesh: counts and a small live map; `/nodes` has the rest. */
export function NodesPanel() {
  const { state, connection } = useNodesWatch();
  const nodes = useMemo(() => [...state.nodes.values()], [state.nodes]);
  return (
    <section className="panel nodes-panel" aria-labelledby="nodes-panel-title">
      <div className="nodes-head">
        <h2 id="nodes-panel-title">Compute nodes</h2>
        <FeedState connection={connection} />
        <Link to="/nodes">Node map and list</Link>
      </div>
      <NodeCountsView counts={countsOf(nodes)} />
      <NodeMap nodes={nodes} height={260} compact />
    </section>
  );
}
