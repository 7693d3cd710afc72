import type { HubSummary } from '../durable-objects/rpc.ts';
import { allHubs } from '../durable-objects/stubs.ts';
import type { NodeInfo, Runtime } from '../protocol/index.ts';
import type { Env } from './env.ts';

/**
 * The mesh as the API shows it, read from every hub shard at once and kept for `TTL_MS` in this
 * isolate: status polls and node lists cost one call per shard per second per isolate at most,
 * however many clients ask.
 */
const TTL_MS = 1_000;

/** One value read at most once per `TTL_MS`; a failed read is not kept. */
class Cached<T> {
  #at = 0;
  #value: Promise<T> | undefined;
  get(read: () => Promise<T>): Promise<T> {
    const now = Date.now();
    if (this.#value && now - this.#at < TTL_MS) return this.#value;
    const value = read();
    this.#value = value;
    this.#at = now;
    value.catch(() => {
      if (this.#value === value) this.#value = undefined;
    });
    return value;
  }
}

const summaries = new Cached<HubSummary[]>();
const nodes = new Cached<NodeInfo[]>();

/** Every shard's connected nodes, merged. */
export function listNodes(env: Env): Promise<NodeInfo[]> {
  return nodes.get(async () => (await Promise.all(allHubs(env).map((hub) => hub.listNodes()))).flat());
}

/** Why a job's pending tasks wait, from what every shard says of its nodes. */
export async function waitingReason(env: Env, runtime: Runtime): Promise<string> {
  const all = await summaries.get(() => Promise.all(allHubs(env).map((hub) => hub.summary())));
  const connected = all.reduce((n, s) => n + s.nodes, 0);
  if (!connected) return 'no compute node is connected';
  const capable = all.reduce((n, s) => n + (s.runtimes[runtime]?.nodes ?? 0), 0);
  if (!capable) return `no connected node supports runtime '${runtime}'`;
  const idle = all.reduce((n, s) => n + (s.runtimes[runtime]?.idle ?? 0), 0);
  if (!idle) return `all ${capable} node${capable === 1 ? '' : 's'} that run '${runtime}' are busy`;
  return 'being dispatched to a node';
}
