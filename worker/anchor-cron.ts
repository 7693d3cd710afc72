import { chainConfig } from '../durable-objects/outbox/chain.ts';
import { describeMissing } from '../durable-objects/outbox/chain-outbox.ts';
import type { FlushReport } from '../durable-objects/rpc.ts';
import { anchorShards, outboxShard } from '../durable-objects/stubs.ts';
import type { AnchorHealth } from '../protocol/anchor.ts';
import type { Env } from './env.ts';

/**
 * The anchoring cron (`[triggers] crons` in wrangler.toml): each ChainOutbox shard commits what it
 * has queued. Shards that sign with the same relayer key run one after another, since that
 * account's transactions take nonces in turn; shards of different keys (`RELAYER_KEY` may list
 * several) run at once. A shard that fails (RPC down, no funds) is reported and the others still run.
 */
export async function runAnchoring(env: Env): Promise<FlushReport[]> {
  const config = chainConfig(env);
  const keys = 'chain' in config ? config.relayers.length : 1;
  const shards = anchorShards(env);
  const reports: FlushReport[] = [];
  await Promise.all(
    Array.from({ length: Math.min(keys, shards) }, async (_, key) => {
      for (let shard = key; shard < shards; shard += keys) {
        try {
          reports.push(await outboxShard(env, shard).flush(shard));
        } catch (error) {
          reports.push({ state: 'failed', batches: 0, jobs: 0, error: String(error) });
        }
      }
    }),
  );
  // What health reports changed: read it afresh.
  cached = undefined;
  const failed = reports.filter((r) => r.state === 'failed');
  if (failed.length) console.error('anchoring:', failed.map((r) => r.error).join('; '));
  return reports;
}

/** When the next run of the every-minute cron starts. */
export function nextAnchorRun(now: number): number {
  return Math.ceil((now + 1) / 60_000) * 60_000;
}

/** Health is public: the shards are asked at most once a second per isolate. */
let cached: { at: number; health: Promise<AnchorHealth> } | undefined;

/** Anchoring's state over every outbox shard, for `GET /health` (kept for a second). */
export function anchorHealth(env: Env): Promise<AnchorHealth> {
  const now = Date.now();
  if (!cached || now - cached.at > 1000) {
    cached = { at: now, health: readHealth(env) };
    // A failure is not kept: the next request asks again.
    cached.health.catch(() => {
      cached = undefined;
    });
  }
  return cached.health;
}

async function readHealth(env: Env): Promise<AnchorHealth> {
  const config = chainConfig(env);
  const statuses = await Promise.all(
    Array.from({ length: anchorShards(env) }, (_, shard) => outboxShard(env, shard).status()),
  );
  const health: AnchorHealth = {
    configured: 'chain' in config,
    queued: statuses.reduce((n, s) => n + s.queued, 0),
    inFlight: statuses.reduce((n, s) => n + s.inFlight, 0),
    anchoredBatches: statuses.reduce((n, s) => n + s.anchoredBatches, 0),
  };
  if ('chain' in config) {
    health.chainId = config.chain.id;
    health.registry = config.registry;
    health.relayer = config.relayers.map((r) => r.address).join(',');
  } else {
    health.problem = describeMissing(config);
  }
  const anchored = statuses.map((s) => s.lastAnchoredAt ?? 0);
  if (Math.max(...anchored) > 0) health.lastAnchoredAt = Math.max(...anchored);
  const failing = statuses
    .filter((s) => s.lastError !== undefined)
    .sort((a, b) => b.lastErrorAt! - a.lastErrorAt!)[0];
  if (failing) {
    health.lastError = failing.lastError!;
    health.lastErrorAt = failing.lastErrorAt!;
    if (failing.retryAt !== undefined) health.retryAt = failing.retryAt;
  }
  return health;
}
