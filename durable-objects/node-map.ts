import { DurableObject } from 'cloudflare:workers';
import { type HubToWatcher, NODES_PER_FRAME, type NodeInfo, WatcherToHub } from '../protocol/index.ts';
import type { DoEnv, HubMapUpdate, NodeMapApi } from './rpc.ts';
import {
  acceptSocket,
  answerPings,
  broadcast,
  echoClose,
  isUpgrade,
  sendJson,
  upgradeRequired,
} from './sockets.ts';
import { allHubs } from './stubs.ts';

/** A subscription to a hub shard lasts this long; a replica with watchers renews it at a third of that. */
const SUBSCRIPTION_MS = 60_000;
const RENEW_MS = SUBSCRIPTION_MS / 3;
/** Watchers get at most one `nodes.updated` frame per this many ms, with every change since the last. */
const WATCH_THROTTLE_MS = 250;

/**
 * One replica of the node map: the live feed of `GET /api/v1/nodes/events` (the web app's map).
 * Watchers connect here, never to a hub, so a crowd of map viewers costs the dispatch path
 * nothing; the Worker spreads them over `NODE_MAP_REPLICAS` replicas. While it has watchers a
 * replica subscribes to every hub shard (`MeshHubApi.subscribeMap`, renewed every `RENEW_MS`),
 * which answers with its nodes and then sends what changes; the replica merges the shards and
 * sends each watcher a snapshot when it connects, then the nodes that joined, changed or left,
 * coalesced. With no watchers it stops renewing and the shards stop sending.
 */
export class NodeMap extends DurableObject<DoEnv> implements NodeMapApi {
  /** Node id → its shard and info. Empty after the object wakes from hibernation until `#sync`. */
  readonly #nodes = new Map<string, { shard: number; info: NodeInfo }>();
  #syncedAt = 0;
  readonly #changed = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = 0;

  constructor(ctx: DurableObjectState, env: DoEnv) {
    super(ctx, env);
    answerPings(ctx);
  }

  override async fetch(request: Request): Promise<Response> {
    if (!isUpgrade(request)) return upgradeRequired();
    // What we hold is stale when nobody watched (updates were dropped) or the renewal is due.
    if (!this.ctx.getWebSockets().length || Date.now() - this.#syncedAt > RENEW_MS) await this.#sync(false);
    return acceptSocket(this.ctx, [], { ready: (ws) => this.#snapshot([ws]) });
  }

  async hubUpdate(update: HubMapUpdate): Promise<void> {
    // Nobody watches: let the subscriptions lapse, and read the shards afresh for the next watcher.
    if (!this.ctx.getWebSockets().length) {
      this.#syncedAt = 0;
      return;
    }
    // Woken from hibernation: what we hold is gone, so read every shard again (and tell watchers).
    if (this.#syncedAt === 0) return this.#sync(true);
    for (const info of update.nodes) {
      this.#nodes.set(info.nodeId, { shard: update.shard, info });
      this.#touch(info.nodeId);
    }
    for (const id of update.gone) {
      // A node that moved to another shard is not gone.
      if (this.#nodes.get(id)?.shard !== update.shard) continue;
      this.#nodes.delete(id);
      this.#touch(id);
    }
  }

  override async alarm(): Promise<void> {
    if (this.ctx.getWebSockets().length) await this.#sync(this.#syncedAt === 0);
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    // Pings are answered by the auto-response without waking us; anything else is a mistake.
    let json: unknown;
    try {
      json = typeof data === 'string' ? JSON.parse(data) : undefined;
    } catch {
      json = undefined;
    }
    if (WatcherToHub.safeParse(json).success) return;
    sendJson(ws, {
      type: 'error',
      code: 'bad_message',
      message: 'watchers only send {"type":"ping"}; node events flow from the server',
    } satisfies HubToWatcher);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    echoClose(ws, code);
  }

  /**
   * (Re)subscribe to every shard and take its nodes as they are now; the differences go to the
   * watchers as updates, or (`resnapshot`) as a fresh snapshot. Renews itself while there are
   * watchers.
   */
  async #sync(resnapshot: boolean): Promise<void> {
    const replica = this.ctx.id.name ?? 'map-0';
    const answers = await Promise.all(
      allHubs(this.env).map((hub, shard) =>
        hub
          .subscribeMap(replica, SUBSCRIPTION_MS)
          .then((nodes) => ({ shard, nodes }))
          .catch((err: unknown) => {
            console.error(`node map: shard ${shard} did not answer`, err);
            return undefined;
          }),
      ),
    );
    for (const answer of answers) {
      if (!answer) continue;
      const now = new Set(answer.nodes.map((n) => n.nodeId));
      for (const [id, entry] of this.#nodes) {
        if (entry.shard === answer.shard && !now.has(id)) {
          this.#nodes.delete(id);
          this.#touch(id);
        }
      }
      for (const info of answer.nodes) {
        this.#nodes.set(info.nodeId, { shard: answer.shard, info });
        this.#touch(info.nodeId);
      }
    }
    this.#syncedAt = Date.now();
    if (resnapshot) {
      this.#changed.clear();
      this.#snapshot(this.ctx.getWebSockets());
    }
    await this.ctx.storage.setAlarm(Date.now() + RENEW_MS);
  }

  /** Every node now, in frames of at most `NODES_PER_FRAME`. */
  #snapshot(sockets: WebSocket[]): void {
    const nodes = [...this.#nodes.values()].map((e) => e.info);
    const at = Date.now();
    const frames: HubToWatcher[] = [{ type: 'nodes.snapshot', nodes: nodes.slice(0, NODES_PER_FRAME), at }];
    for (let i = NODES_PER_FRAME; i < nodes.length; i += NODES_PER_FRAME) {
      frames.push({ type: 'nodes.updated', nodes: nodes.slice(i, i + NODES_PER_FRAME), gone: [], at });
    }
    broadcast(
      sockets,
      frames.map((f) => JSON.stringify(f)),
    );
  }

  #touch(nodeId: string): void {
    if (!this.ctx.getWebSockets().length) return;
    this.#changed.add(nodeId);
    if (this.#timer) return;
    const wait = Math.max(0, this.#last + WATCH_THROTTLE_MS - Date.now());
    this.#timer = setTimeout(() => this.#flush(), wait);
  }

  #flush(): void {
    this.#timer = undefined;
    this.#last = Date.now();
    const ids = [...this.#changed];
    this.#changed.clear();
    const watchers = this.ctx.getWebSockets();
    if (!ids.length || !watchers.length) return;
    const changed = ids.flatMap((id) => this.#nodes.get(id)?.info ?? []);
    const gone = ids.filter((id) => !this.#nodes.has(id));
    const frames: HubToWatcher[] = [];
    for (let i = 0; i === 0 || i < changed.length; i += NODES_PER_FRAME) {
      frames.push({
        type: 'nodes.updated',
        nodes: changed.slice(i, i + NODES_PER_FRAME),
        gone: i === 0 ? gone : [],
        at: this.#last,
      });
    }
    broadcast(
      watchers,
      frames.map((f) => JSON.stringify(f)),
    );
  }
}
