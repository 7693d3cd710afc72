import { runDurableObjectAlarm } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, test } from 'vitest';
import { anchorShardOf, outboxShard } from '../../durable-objects/stubs.ts';
import {
  type AnchorHealth,
  type AnchorPending,
  type JobLeaf,
  sha256Text,
  ZERO32,
} from '../../protocol/anchor.ts';
import { api, signIn, submit } from './helpers.ts';

// Anchoring's queue inside workerd, without a chain: wrangler.toml leaves REGISTRY_ADDRESS empty
// and no RELAYER_KEY is set here, so anchoring is off. Finished jobs must still be queued (never
// lost), the cron's runs must say why they do nothing, and versions of one job must replace each
// other in order.

const leaf = (tag: string): JobLeaf => ({
  jobId: sha256Text(tag),
  specHash: sha256Text(`spec ${tag}`),
  codeCid: sha256Text('code'),
  owner: `0x${'11'.repeat(20)}`,
  inputsRoot: ZERO32,
  tasksRoot: sha256Text(`tasks ${tag}`),
  tasks: 1,
  state: 1,
});

describe('anchoring without a configured chain', () => {
  test('a finished (cancelled) job is queued by its room; its proof says so; health says what is missing', async () => {
    const token = await signIn();
    const id = await submit(token, { runtime: 'js', source: 'export default (x) => x', inputs: [1, 2, 3] });
    expect((await api(`/jobs/${id}/proof`, { token })).status).toBe(202);
    expect(((await (await api(`/jobs/${id}/proof`, { token })).json()) as AnchorPending).state).toBe(
      'running',
    );
    expect((await api(`/jobs/${id}/cancel`, { method: 'POST', token })).status).toBe(200);
    // The room's alarm queues the leaf.
    await runDurableObjectAlarm(env.JOB_ROOM.get(env.JOB_ROOM.idFromName(id)));
    const pending = (await (await api(`/jobs/${id}/proof`, { token })).json()) as AnchorPending;
    expect(pending).toMatchObject({ anchored: false, state: 'queued' });
    expect(pending.expectedBy).toBeGreaterThan(Date.now());

    const shard = anchorShardOf(env, id);
    const report = await outboxShard(env, shard).flush(shard);
    expect(report.state).toBe('not_configured');
    expect(report.error).toMatch(/REGISTRY_ADDRESS.*RELAYER_KEY/);
    const health = (await (await api('/health')).json()) as { anchoring: AnchorHealth };
    expect(health.anchoring).toMatchObject({ configured: false });
    expect(health.anchoring.problem).toMatch(/not set: .*REGISTRY_ADDRESS/);
    expect(health.anchoring.queued).toBeGreaterThanOrEqual(1);
    // Still queued after the run: nothing was dropped.
    expect(await outboxShard(env, shard).anchorOf(id)).toMatchObject({ state: 'queued' });
    // Someone else's job: 403, and bad input 400.
    const other = await signIn(1);
    expect((await api(`/jobs/${id}/proof`, { token: other })).status).toBe(403);
    expect((await api(`/jobs/${id}/proof?task=3`, { token })).status).toBe(400);
    expect((await api(`/jobs/${id.toUpperCase()}/proof`, { token })).status).toBe(400);
  });

  test("a job's newer version replaces an older one in the queue; an older one arriving late is ignored", async () => {
    const outbox = outboxShard(env, 0);
    const jobId = `versions-${crypto.randomUUID()}`;
    const before = (await outbox.status()).queued;
    await outbox.enqueue({ jobId, version: 2, leaf: leaf('v2') });
    await outbox.enqueue({ jobId, version: 3, leaf: leaf('v3') });
    await outbox.enqueue({ jobId, version: 1, leaf: leaf('v1') });
    expect((await outbox.status()).queued).toBe(before + 1);
    const queued = await outbox.anchorOf(jobId);
    expect(queued).toMatchObject({ state: 'queued' });
    // The newest leaf is the one queued: read it back through SQL.
    const { runInDurableObject } = await import('cloudflare:test');
    const stored = await runInDurableObject(
      env.CHAIN_OUTBOX.get(env.CHAIN_OUTBOX.idFromName('outbox-0')),
      (_o, state) =>
        state.storage.sql
          .exec<{ version: number; leaf: string }>('SELECT version, leaf FROM queue WHERE job_id = ?', jobId)
          .one(),
    );
    expect(stored.version).toBe(3);
    expect((JSON.parse(stored.leaf) as JobLeaf).tasksRoot).toBe(sha256Text('tasks v3'));
  });
});
