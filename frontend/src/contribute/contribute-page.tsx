import type { Connection } from '@libp2p/interface';
import { useCallback, useEffect, useId, useRef, useState } from 'react';
import type { BrowserNode } from '../../../browser-node/src/browser/browser-node.ts';
import type { PeerConnection } from '../../../browser-node/src/core/p2p/mesh-peer.ts';
import { ErrorBox, Loading } from '../ui/status.tsx';

type Phase = 'idle' | 'starting' | 'running' | 'stopping';
type Hub = 'connecting' | 'connected' | 'reconnecting';

interface NodeView {
  peerId: string;
  fingerprint: string;
  hub: Hub;
  completed: number;
  failed: number;
  running: number;
  connections: PeerConnection[];
  multiaddrs: string[];
  fromPeers: number;
  fromOrigin: number;
}

/**
 * The browser build of libp2p refuses `ws://` and loopback/private addresses (a public page must
 * not probe its visitor's network), but a local mesh's relays listen on `ws://127.0.0.1`: a page
 * served from this machine lets the node dial them. Anywhere else the safe default stays.
 */
function isLocalPage(): boolean {
  return ['localhost', '127.0.0.1', '[::1]', '::1'].includes(location.hostname);
}

/** How a connection reaches the peer, in words. */
function transportOf(c: PeerConnection): string {
  if (c.remoteAddr.includes('/webrtc')) return 'WebRTC';
  if (c.limited || c.remoteAddr.includes('/p2p-circuit')) return 'relayed (signalling)';
  if (c.remoteAddr.includes('/wss') || c.remoteAddr.includes('/tls/ws')) return 'secure WebSocket';
  if (c.remoteAddr.includes('/ws')) return 'WebSocket';
  return 'other';
}

const HUB_LABEL: Record<Hub, string> = {
  connecting: 'Joining the mesh…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
};

/** A connection that opened or closed, as the debug hook logs it. */
interface ConnectionEvent extends Omit<PeerConnection, 'openedAt'> {
  type: 'open' | 'close';
  /** `performance.now()` of the event. */
  at: number;
}

/** Debug view of the running node for tests and the console (this page only). */
interface DebugHook {
  peerId: string;
  connections(): PeerConnection[];
  /** Connections opened and closed since the node started, oldest first (at most 500). */
  events(): ConnectionEvent[];
  multiaddrs(): string[];
  stats(): { completed: number; failed: number; connected: boolean; fromPeers: number; fromOrigin: number };
}

declare global {
  interface Window {
    __monadmesh?: DebugHook;
  }
}

/**
 * Contribute: run a compute node in this tab. Tasks run in Web Workers (the same sandboxes as
 * the editor's preview); code and inputs come from other nodes over libp2p, or from the API.
 */
export function ContributePage() {
  const workersId = useId();
  const [phase, setPhase] = useState<Phase>('idle');
  const [error, setError] = useState<unknown>();
  const [view, setView] = useState<NodeView>();
  const [workers, setWorkers] = useState(() =>
    Math.max(1, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1),
  );
  const node = useRef<BrowserNode>(undefined);
  const hub = useRef<Hub>('connecting');

  // Reads only refs and sets state: the same function for the page's whole life.
  const refresh = useCallback(() => {
    const n = node.current;
    if (!n) return;
    const peer = n.dataPlane?.peer;
    setView({
      peerId: n.identity.peerId.toString(),
      fingerprint: n.fingerprint.class,
      hub: hub.current,
      completed: n.node.stats.completed,
      failed: n.node.stats.failed,
      running: n.node.running,
      connections: peer?.connections() ?? [],
      multiaddrs: peer?.multiaddrs() ?? [],
      fromPeers: n.dataPlane?.stats.fromPeers ?? 0,
      fromOrigin: n.dataPlane?.stats.fromOrigin ?? 0,
    });
  }, []);

  useEffect(() => {
    if (phase !== 'running') return;
    const timer = setInterval(refresh, 1000);
    return () => clearInterval(timer);
  }, [phase, refresh]);

  // Leaving the page stops the node (its workers and peer belong to this page).
  const left = useRef(false);
  useEffect(() => {
    left.current = false;
    return () => {
      left.current = true;
      void node.current?.stop(0);
      node.current = undefined;
      delete window.__monadmesh;
    };
  }, []);

  const start = async () => {
    setError(undefined);
    setPhase('starting');
    hub.current = 'connecting';
    try {
      const { startBrowserNode } = await import('../../../browser-node/src/browser/browser-node.ts');
      const started = await startBrowserNode({
        workers,
        allowLocalAddresses: isLocalPage(),
        onEvent: (event) => {
          if (event.type === 'connected') hub.current = 'connected';
          else if (event.type === 'disconnected') hub.current = 'reconnecting';
          else return;
          refresh();
        },
      });
      if (left.current) {
        // The page was left while the node started.
        await started.stop(0);
        return;
      }
      node.current = started;
      const events: ConnectionEvent[] = [];
      const log = (type: ConnectionEvent['type']) => (e: CustomEvent<Connection>) => {
        events.push({
          type,
          at: performance.now(),
          peerId: e.detail.remotePeer.toString(),
          remoteAddr: e.detail.remoteAddr.toString(),
          direction: e.detail.direction,
          limited: Boolean(e.detail.limits),
        });
        if (events.length > 500) events.shift();
      };
      started.dataPlane?.peer.libp2p.addEventListener('connection:open', log('open'));
      started.dataPlane?.peer.libp2p.addEventListener('connection:close', log('close'));
      window.__monadmesh = {
        peerId: started.identity.peerId.toString(),
        connections: () => started.dataPlane?.peer.connections() ?? [],
        events: () => events.slice(),
        multiaddrs: () => started.dataPlane?.peer.multiaddrs() ?? [],
        stats: () => ({
          ...started.node.stats,
          connected: started.node.connected,
          fromPeers: started.dataPlane?.stats.fromPeers ?? 0,
          fromOrigin: started.dataPlane?.stats.fromOrigin ?? 0,
        }),
      };
      setPhase('running');
      refresh();
    } catch (err) {
      setError(err);
      setPhase('idle');
    }
  };

  const stop = async () => {
    setPhase('stopping');
    try {
      await node.current?.stop();
    } finally {
      node.current = undefined;
      delete window.__monadmesh;
      setView(undefined);
      setPhase('idle');
    }
  };

  const direct = view?.connections.filter((c) => !c.limited) ?? [];
  const peers = new Set(direct.map((c) => c.peerId)).size;

  return (
    <section className="contribute">
      <h1>Contribute</h1>
      <p>
        Lend this tab's CPU to the mesh. Tasks run in sandboxed Web Workers with no network access; code and
        inputs come from other nodes over WebRTC, or from the API. Closing the tab or pressing Stop ends it;
        unfinished tasks go back to the queue.
      </p>
      <div className="panel">
        <h2>This tab's node</h2>
        <div className="actions">
          <label htmlFor={workersId}>Workers</label>
          <input
            id={workersId}
            type="number"
            min={1}
            max={64}
            value={workers}
            disabled={phase !== 'idle'}
            onChange={(e) => setWorkers(Math.max(1, Math.min(64, Number(e.target.value) || 1)))}
            aria-describedby={`${workersId}-hint`}
          />
          <span id={`${workersId}-hint`} className="hint">
            tasks at once, one Web Worker each
          </span>
          {phase === 'idle' ? (
            <button type="button" className="primary" onClick={() => void start()}>
              Start contributing
            </button>
          ) : (
            <button type="button" onClick={() => void stop()} disabled={phase !== 'running'}>
              Stop
            </button>
          )}
        </div>
        {error ? <ErrorBox title="The node could not start" error={error} /> : null}
        {phase === 'starting' ? <Loading>Starting workers and measuring this browser…</Loading> : null}
        {phase === 'stopping' ? <Loading>Finishing running tasks…</Loading> : null}
        {view ? (
          <>
            <dl className="counts" aria-live="polite">
              <div className="count">
                <dt>Status</dt>
                <dd data-testid="node-status">{HUB_LABEL[view.hub]}</dd>
              </div>
              <div className="count">
                <dt>Tasks done</dt>
                <dd data-testid="tasks-done">{view.completed.toLocaleString()}</dd>
              </div>
              <div className="count">
                <dt>Running</dt>
                <dd>{view.running}</dd>
              </div>
              <div className="count">
                <dt>Peers connected</dt>
                <dd data-testid="peers-connected">{peers}</dd>
              </div>
              <div className="count">
                <dt>Blocks from peers / from the API</dt>
                <dd data-testid="blocks">
                  {view.fromPeers} / {view.fromOrigin}
                </dd>
              </div>
              <div className="count">
                <dt>Runtime fingerprint</dt>
                <dd className="mono" data-testid="fingerprint">
                  {view.fingerprint}
                </dd>
              </div>
            </dl>
            <p className="hint">
              Peer id{' '}
              <span className="mono" data-testid="peer-id">
                {view.peerId}
              </span>
              {view.multiaddrs.some((a) => a.includes('/p2p-circuit')) ? ' — reachable through a relay' : ''}
            </p>
            {view.connections.length ? (
              <div className="table-wrap">
                <table className="data-table" data-testid="connections">
                  <caption className="visually-hidden">Connections to other peers</caption>
                  <thead>
                    <tr>
                      <th scope="col">Peer</th>
                      <th scope="col">Transport</th>
                      <th scope="col">Direction</th>
                    </tr>
                  </thead>
                  <tbody>
                    {view.connections.map((c) => (
                      <tr key={`${c.peerId} ${c.remoteAddr}`}>
                        <td className="mono" title={c.remoteAddr}>
                          {c.peerId.slice(0, 8)}…{c.peerId.slice(-6)}
                        </td>
                        <td>{transportOf(c)}</td>
                        <td>{c.direction}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : null}
          </>
        ) : null}
      </div>
    </section>
  );
}
