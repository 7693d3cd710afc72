import type { Connection } from '@libp2p/interface';
import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { useConnection } from 'wagmi';
import type { AutoPause, AutoPauseSettings } from '../../../browser-node/src/browser/auto-pause.ts';
import type { BrowserNode } from '../../../browser-node/src/browser/browser-node.ts';
import type { PauseReason } from '../../../browser-node/src/core/compute-node.ts';
import type { PeerConnection } from '../../../browser-node/src/core/p2p/mesh-peer.ts';
import type { Eip1193Provider } from '../../../client/index.ts';
import type { NodeOwnerLink, NodeStanding, PeerHint } from '../../../protocol/index.ts';
import { ErrorBox, Loading } from '../ui/status.tsx';

type Phase = 'idle' | 'starting' | 'running' | 'stopping';
type Hub = 'connecting' | 'connected' | 'reconnecting';

/** What the page shows of a running node, and what the debug hook's `stats()` returns. */
function nodeStats(n: BrowserNode) {
  return {
    completed: n.node.stats.completed,
    failed: n.node.stats.failed,
    running: n.node.running,
    connected: n.node.connected,
    fromPeers: n.dataPlane?.stats.fromPeers ?? 0,
    fromOrigin: n.dataPlane?.stats.fromOrigin ?? 0,
    cpuMs: n.node.stats.cpuMs,
    cpuShare: n.node.cpuShare,
    current: n.node.current,
    pausedFor: n.node.pausedFor,
    standing: n.node.standing,
    sandbox: { ...n.sandbox },
  };
}
type NodeStats = ReturnType<typeof nodeStats>;

interface NodeView extends NodeStats {
  peerId: string;
  fingerprint: string;
  hub: Hub;
  connections: PeerConnection[];
  multiaddrs: string[];
}

/** The wallet link of this browser's node, kept across visits (the key is in IndexedDB). */
interface StoredLink {
  peerId: string;
  address: string;
  link: NodeOwnerLink;
}
const LINK_KEY = 'monadmesh.node-link';

function loadLink(): StoredLink | undefined {
  try {
    const raw = globalThis.localStorage?.getItem(LINK_KEY);
    return raw ? (JSON.parse(raw) as StoredLink) : undefined;
  } catch {
    return undefined;
  }
}

function saveLink(link: StoredLink | undefined): void {
  if (link) globalThis.localStorage?.setItem(LINK_KEY, JSON.stringify(link));
  else globalThis.localStorage?.removeItem(LINK_KEY);
}

const PAUSE_LABEL: Record<PauseReason, string> = {
  user: 'paused by you',
  hidden: 'tab hidden',
  battery: 'on battery',
};

/** `1 h 2 min`, `3 min 4 s`, `12.3 s`. */
export function formatCpuTime(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const short = (id: string) => (id.length > 14 ? `${id.slice(0, 6)}…${id.slice(-4)}` : id);

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
  stats(): NodeStats;
  /** Connect to a peer as for a blob it holds (WebRTC through its relay first). */
  reach(hint: PeerHint): Promise<boolean>;
}

declare global {
  interface Window {
    __monadmesh?: DebugHook;
  }
}

/**
 * Contribute: run a compute node in this tab. Tasks run in Web Workers (the same sandboxes as
 * the editor's preview), inside a frame of `sandboxOrigin` (AppConfig) when there is one, so a
 * task that runs out of memory takes down that frame, not this tab; code and inputs come from
 * other nodes over libp2p, or from the API.
 */
export function ContributePage({ sandboxOrigin }: { sandboxOrigin?: string | undefined } = {}) {
  const workersId = useId();
  const shareId = useId();
  const [phase, setPhase] = useState<Phase>('idle');
  const [error, setError] = useState<unknown>();
  const [view, setView] = useState<NodeView>();
  const [workers, setWorkers] = useState(() =>
    Math.max(1, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1),
  );
  /** CPU share in percent. */
  const [share, setShare] = useState(100);
  const [autoPause, setAutoPause] = useState<AutoPauseSettings>({ whenHidden: false, onBattery: false });
  const [userPaused, setUserPaused] = useState(false);
  const [batteryKnown, setBatteryKnown] = useState<boolean>();
  const [link, setLink] = useState<StoredLink | undefined>(loadLink);
  const node = useRef<BrowserNode>(undefined);
  const pauser = useRef<AutoPause>(undefined);
  const hub = useRef<Hub>('connecting');

  // Reads only refs and sets state: the same function for the page's whole life.
  const refresh = useCallback(() => {
    const n = node.current;
    if (!n) return;
    const peer = n.dataPlane?.peer;
    setView({
      ...nodeStats(n),
      peerId: n.identity.peerId.toString(),
      fingerprint: n.fingerprint.class,
      hub: hub.current,
      connections: peer?.connections() ?? [],
      multiaddrs: peer?.multiaddrs() ?? [],
    });
    if (pauser.current) setBatteryKnown(pauser.current.batteryKnown);
  }, []);

  useEffect(() => {
    if (phase !== 'running') return;
    const timer = setInterval(refresh, 1000);
    return () => clearInterval(timer);
  }, [phase, refresh]);

  // The settings now, for a node that finishes starting after they changed.
  const settings = useRef({ share, autoPause, link });
  useEffect(() => {
    settings.current = { share, autoPause, link };
  }, [share, autoPause, link]);

  // Settings that apply to a running node at once.
  useEffect(() => {
    node.current?.node.setCpuShare(share / 100);
  }, [share]);
  useEffect(() => {
    pauser.current?.update(autoPause);
  }, [autoPause]);
  useEffect(() => {
    node.current?.node.setPaused('user', userPaused);
    refresh();
  }, [userPaused, refresh]);

  // Leaving the page stops the node (its workers and peer belong to this page).
  const left = useRef(false);
  useEffect(() => {
    left.current = false;
    return () => {
      left.current = true;
      pauser.current?.stop();
      pauser.current = undefined;
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
      const [{ startBrowserNode }, { watchAutoPause }, { loadOrCreateIdentity }, { IndexedDbKeyStore }] =
        await Promise.all([
          import('../../../browser-node/src/browser/browser-node.ts'),
          import('../../../browser-node/src/browser/auto-pause.ts'),
          import('../../../browser-node/src/core/identity.ts'),
          import('../../../browser-node/src/browser/indexeddb-key-store.ts'),
        ]);
      const identity = await loadOrCreateIdentity(new IndexedDbKeyStore());
      // A link made for another key (the browser's storage was reset) is of no use.
      const stored = loadLink();
      const owner = stored?.peerId === identity.peerId.toString() ? stored.link : undefined;
      const started = await startBrowserNode({
        workers,
        identity,
        cpuShare: share / 100,
        ...(owner ? { owner } : {}),
        allowLocalAddresses: isLocalPage(),
        ...(sandboxOrigin ? { sandboxOrigin } : {}),
        onEvent: (event) => {
          if (event.type === 'connected') hub.current = 'connected';
          else if (event.type === 'disconnected') hub.current = 'reconnecting';
          else if (event.type !== 'standing' && event.type !== 'paused') return;
          refresh();
        },
      });
      if (left.current) {
        // The page was left while the node started.
        await started.stop(0);
        return;
      }
      node.current = started;
      started.node.setPaused('user', userPaused);
      // What the user changed while the node started (the controls stay live meanwhile).
      const now = settings.current;
      if (now.share !== share) started.node.setCpuShare(now.share / 100);
      pauser.current = watchAutoPause(started.node, now.autoPause);
      const nowOwner = now.link?.peerId === identity.peerId.toString() ? now.link.link : undefined;
      if (nowOwner !== owner) started.node.setOwner(nowOwner ?? null);
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
        stats: () => nodeStats(started),
        reach: async (hint) => (started.dataPlane ? started.dataPlane.reach(hint) : false),
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
      pauser.current?.stop();
      pauser.current = undefined;
      await node.current?.stop();
    } finally {
      node.current = undefined;
      delete window.__monadmesh;
      setView(undefined);
      setPhase('idle');
    }
  };

  const linked = (next: StoredLink | undefined) => {
    saveLink(next);
    setLink(next);
    node.current?.node.setOwner(next?.link ?? null);
  };

  const direct = view?.connections.filter((c) => !c.limited) ?? [];
  const peers = new Set(direct.map((c) => c.peerId)).size;
  const status = view
    ? view.pausedFor.length && view.hub === 'connected'
      ? `Paused (${view.pausedFor.map((r) => PAUSE_LABEL[r]).join(', ')})`
      : HUB_LABEL[view.hub]
    : undefined;
  const reputation = view?.standing?.reputation;

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
            tasks at once, one Web Worker (a CPU core) each
          </span>
          {phase === 'idle' ? (
            <button type="button" className="primary" onClick={() => void start()}>
              Start contributing
            </button>
          ) : (
            <>
              <button
                type="button"
                onClick={() => setUserPaused((p) => !p)}
                disabled={phase !== 'running'}
                aria-pressed={userPaused}
              >
                {userPaused ? 'Resume' : 'Pause'}
              </button>
              <button type="button" onClick={() => void stop()} disabled={phase !== 'running'}>
                Stop
              </button>
            </>
          )}
        </div>
        <div className="actions share">
          <label htmlFor={shareId}>CPU share</label>
          <input
            id={shareId}
            type="range"
            min={10}
            max={100}
            step={5}
            value={share}
            onChange={(e) => setShare(Number(e.target.value))}
            aria-valuetext={`${share}%`}
            aria-describedby={`${shareId}-hint`}
          />
          <output htmlFor={shareId} data-testid="cpu-share">
            {share}%
          </output>
          <span id={`${shareId}-hint`} className="hint">
            of each worker's time; after a task a worker rests in proportion
          </span>
        </div>
        <fieldset className="actions pause-options">
          <legend className="visually-hidden">Pause automatically</legend>
          <label className="checkbox">
            <input
              type="checkbox"
              checked={autoPause.whenHidden}
              onChange={(e) => setAutoPause((a) => ({ ...a, whenHidden: e.target.checked }))}
            />{' '}
            Pause while this tab is hidden
          </label>
          <label className="checkbox">
            <input
              type="checkbox"
              checked={autoPause.onBattery}
              onChange={(e) => setAutoPause((a) => ({ ...a, onBattery: e.target.checked }))}
            />{' '}
            Pause on battery
          </label>
          {autoPause.onBattery && batteryKnown === false ? (
            <span className="hint">this browser does not say whether it runs on battery</span>
          ) : null}
        </fieldset>
        {error ? <ErrorBox title="The node could not start" error={error} /> : null}
        {phase === 'starting' ? <Loading>Starting workers and measuring this browser…</Loading> : null}
        {phase === 'stopping' ? <Loading>Finishing running tasks…</Loading> : null}
        {view ? (
          <>
            <dl className="counts" aria-live="polite">
              <div className="count">
                <dt>Status</dt>
                <dd data-testid="node-status">{status}</dd>
              </div>
              <div className="count">
                <dt>Tasks done</dt>
                <dd data-testid="tasks-done">{view.completed.toLocaleString()}</dd>
              </div>
              <div className="count">
                <dt>CPU time given</dt>
                <dd data-testid="cpu-time">{formatCpuTime(view.cpuMs)}</dd>
              </div>
              <div className="count">
                <dt>Peers connected</dt>
                <dd data-testid="peers-connected">{peers}</dd>
              </div>
              <div className="count">
                <dt>Reputation</dt>
                <dd
                  data-testid="reputation"
                  title={
                    reputation
                      ? `${reputation.accepted} accepted, ${reputation.rejected} rejected, ${reputation.late} late, ${reputation.lost} lost`
                      : undefined
                  }
                >
                  {reputation ? `${Math.round(reputation.score * 100)}%` : '—'}
                </dd>
              </div>
              <div className="count">
                <dt>Blocks from peers / from the API</dt>
                <dd data-testid="blocks">
                  {view.fromPeers} / {view.fromOrigin}
                </dd>
              </div>
              <div className="count">
                <dt>Sandboxes</dt>
                <dd
                  data-testid="sandboxes"
                  title={
                    view.sandbox.where === 'frame'
                      ? 'In a frame of another site: a task that runs out of memory takes down that frame, which is started again, not this tab'
                      : `In this tab${view.sandbox.fallbackReason ? ` (${view.sandbox.fallbackReason})` : ''}: a JavaScript task that runs out of memory can crash the tab`
                  }
                >
                  {view.sandbox.where === 'frame' ? 'Isolated frame' : 'In this tab'}
                  {view.sandbox.fallbackReason ? ' (the sandbox frame could not start)' : ''}
                  {view.sandbox.framesLost ? ` (restarted ${view.sandbox.framesLost}×)` : ''}
                </dd>
              </div>
              <div className="count">
                <dt>Runtime fingerprint</dt>
                <dd className="mono" data-testid="fingerprint">
                  {view.fingerprint}
                </dd>
              </div>
            </dl>
            <p className="hint" data-testid="current-task">
              {view.current.length
                ? `Running: ${view.current
                    .map((t) => `task ${t.index} of job ${short(t.jobId)} (${t.runtime})`)
                    .join('; ')}`
                : 'No task running'}
              {reputation
                ? ` · reputation from ${reputation.accepted} accepted, ${reputation.rejected} rejected, ${reputation.late} late and ${reputation.lost} lost results`
                : ''}
            </p>
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
      <OwnerPanel link={link} peerId={view?.peerId} standing={view?.standing} onLinked={linked} />
    </section>
  );
}

/**
 * Whose work this is: anonymous (the browser's key) by default, or a wallet the user links by
 * signing a message that names the node (no transaction). The hub checks the signature and
 * credits accepted results to the wallet.
 */
function OwnerPanel(props: {
  link: StoredLink | undefined;
  peerId: string | undefined;
  standing: NodeStanding | undefined;
  onLinked(link: StoredLink | undefined): void;
}) {
  const connection = useConnection();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const address = connection.address?.toLowerCase();
  const owner = props.standing?.owner ?? props.link?.address;

  const link = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const connector = connection.connector;
      if (!connector || !address) throw new Error('connect a wallet first');
      const [{ linkNodeWithEip1193 }, { loadOrCreateIdentity }, { IndexedDbKeyStore }] = await Promise.all([
        import('../../../client/node-link.ts'),
        import('../../../browser-node/src/core/identity.ts'),
        import('../../../browser-node/src/browser/indexeddb-key-store.ts'),
      ]);
      const peerId = props.peerId ?? (await loadOrCreateIdentity(new IndexedDbKeyStore())).peerId.toString();
      const provider = (await connector.getProvider()) as Eip1193Provider;
      const signed = await linkNodeWithEip1193({
        url: location.origin,
        peerId,
        provider,
        ...(connection.chainId ? { chainId: connection.chainId } : {}),
      });
      props.onLinked({ peerId, address, link: signed });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="panel">
      <h2>Whose work is this</h2>
      <p data-testid="owner">
        {owner ? (
          <>
            Work counts for wallet <span className="mono">{owner}</span>
            {props.standing && !props.standing.owner && !props.standing.ownerError
              ? ' (confirmed when the node connects)'
              : ''}
          </>
        ) : (
          "Anonymous: this browser's own key, kept in this browser only."
        )}
      </p>
      {props.standing?.work ? (
        <p className="hint" data-testid="credited">
          Accepted from this node so far: {props.standing.work.tasks.toLocaleString()} tasks,{' '}
          {formatCpuTime(props.standing.work.cpuMs)} of task time
        </p>
      ) : null}
      {props.standing?.ownerError ? (
        <ErrorBox title="The hub refused the wallet link" error={new Error(props.standing.ownerError)} />
      ) : null}
      {error ? <ErrorBox title="Could not link the wallet" error={error} /> : null}
      <div className="actions">
        {address && owner !== address ? (
          <button type="button" className="primary" disabled={busy} onClick={() => void link()}>
            Link to wallet {short(address)}
          </button>
        ) : null}
        {!address && !owner ? (
          <span className="hint">Connect a wallet above to have this work count for it.</span>
        ) : null}
        {owner ? (
          <button type="button" disabled={busy} onClick={() => props.onLinked(undefined)}>
            Make anonymous
          </button>
        ) : null}
      </div>
    </div>
  );
}
