import type { NodeInfo } from '../../protocol/index.ts';
import { migrate } from '../migrations.ts';
import type { DoEnv, HubMapUpdate } from '../rpc.ts';
import { nodeMap } from '../stubs.ts';

/** A shard sends a replica at most one update per this many ms, with every change since the last. */
export const MAP_THROTTLE_MS = 250;

/**
 * The hub's side of the node map. Watchers do not connect to hubs: they connect to a NodeMap
 * replica, which subscribes to every shard while it has watchers (renewing before `ttlMs` runs
 * out). A shard remembers its subscribers and sends each one the nodes that joined, changed or
 * left, coalesced into at most one update per `MAP_THROTTLE_MS`; with no subscriber it sends
 * nothing at all.
 */
export class MapFeed {
  readonly #ctx: DurableObjectState;
  readonly #env: DoEnv;
  readonly #shard: number;
  readonly #infos: () => Map<string, NodeInfo>;
  /** Replica name → subscribed until. */
  readonly #subs = new Map<string, number>();
  readonly #changed = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = 0;

  constructor(ctx: DurableObjectState, env: DoEnv, shard: number, infos: () => Map<string, NodeInfo>) {
    this.#ctx = ctx;
    this.#env = env;
    this.#shard = shard;
    this.#infos = infos;
    migrate(ctx.storage, 'map', [
      (sql) => sql.exec('CREATE TABLE map_subs (replica TEXT PRIMARY KEY, until INTEGER NOT NULL)'),
    ]);
    for (const r of ctx.storage.sql
      .exec<{ replica: string; until: number }>('SELECT replica, until FROM map_subs')
      .toArray()) {
      this.#subs.set(r.replica, r.until);
    }
  }

  /** A replica (re)subscribes for `ttlMs`: every node now; changes follow. */
  subscribe(replica: string, ttlMs: number): NodeInfo[] {
    const until = Date.now() + Math.min(Math.max(ttlMs, 1_000), 5 * 60_000);
    this.#subs.set(replica, until);
    this.#ctx.storage.sql.exec(
      'INSERT OR REPLACE INTO map_subs (replica, until) VALUES (?, ?)',
      replica,
      until,
    );
    return [...this.#infos().values()];
  }

  /** Node `nodeId` joined, changed or left. */
  touch(nodeId: string): void {
    if (!this.#live().length) return;
    this.#changed.add(nodeId);
    if (this.#timer) return;
    const wait = Math.max(0, this.#last + MAP_THROTTLE_MS - Date.now());
    this.#timer = setTimeout(() => this.#flush(), wait);
  }

  #live(): string[] {
    const now = Date.now();
    const live: string[] = [];
    for (const [replica, until] of this.#subs) {
      if (until > now) live.push(replica);
      else this.#drop(replica);
    }
    return live;
  }

  #drop(replica: string): void {
    this.#subs.delete(replica);
    this.#ctx.storage.sql.exec('DELETE FROM map_subs WHERE replica = ?', replica);
  }

  #flush(): void {
    this.#timer = undefined;
    this.#last = Date.now();
    const ids = [...this.#changed];
    this.#changed.clear();
    const replicas = this.#live();
    if (!ids.length || !replicas.length) return;
    const current = this.#infos();
    const update: HubMapUpdate = {
      shard: this.#shard,
      nodes: ids.flatMap((id) => current.get(id) ?? []),
      gone: ids.filter((id) => !current.has(id)),
      at: this.#last,
    };
    for (const replica of replicas) {
      this.#ctx.waitUntil(
        nodeMap(this.#env, replica)
          .hubUpdate(update)
          .catch(() => this.#drop(replica)),
      );
    }
  }
}
