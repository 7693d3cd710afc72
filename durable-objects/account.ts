import { DurableObject } from 'cloudflare:workers';
import type { AccountWork, ApiKeyInfo, JobState, JobSummary, Runtime } from '../protocol/index.ts';
import type { AccountApi, DoEnv } from './rpc.ts';

const hex = (bytes: ArrayBuffer | Uint8Array) =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');

async function sha256Hex(text: string): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

/**
 * One wallet: its API keys (only their SHA-256 is stored), the list of its jobs, and the work of
 * the compute nodes linked to it (per node id, credited by the hub as their results are
 * accepted). Addressed by the lowercase address, so every wallet is its own shard.
 */
export class Account extends DurableObject<DoEnv> implements AccountApi {
  constructor(ctx: DurableObjectState, env: DoEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS keys (
        id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, label TEXT, created_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, runtime TEXT NOT NULL, label TEXT, total INTEGER NOT NULL,
        state TEXT NOT NULL, created_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (created_at DESC);
      CREATE TABLE IF NOT EXISTS work (
        node_id TEXT PRIMARY KEY, tasks INTEGER NOT NULL, cpu_ms REAL NOT NULL, last_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS credited (batch TEXT PRIMARY KEY, at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS credited_by_time ON credited (at);
    `);
  }

  /** Make a key for scripts; the secret is returned once and only its hash is kept. */
  async createKey(label: string | undefined): Promise<{ id: string; secret: string; createdAt: number }> {
    const secret = hex(crypto.getRandomValues(new Uint8Array(32)));
    const hash = await sha256Hex(secret);
    const id = hash.slice(0, 12);
    const createdAt = Date.now();
    this.ctx.storage.sql.exec(
      'INSERT INTO keys (id, hash, label, created_at) VALUES (?, ?, ?, ?)',
      id,
      hash,
      label ?? null,
      createdAt,
    );
    return { id, secret, createdAt };
  }

  async verifyKey(secret: string): Promise<boolean> {
    const hash = await sha256Hex(secret);
    return this.ctx.storage.sql.exec('SELECT 1 FROM keys WHERE hash = ?', hash).toArray().length > 0;
  }

  listKeys(): ApiKeyInfo[] {
    return this.ctx.storage.sql
      .exec<{ id: string; label: string | null; created_at: number }>(
        'SELECT id, label, created_at FROM keys ORDER BY created_at',
      )
      .toArray()
      .map((r) =>
        r.label === null
          ? { id: r.id, createdAt: r.created_at }
          : { id: r.id, label: r.label, createdAt: r.created_at },
      );
  }

  revokeKey(id: string): boolean {
    return this.ctx.storage.sql.exec('DELETE FROM keys WHERE id = ?', id).rowsWritten > 0;
  }

  addJob(job: JobSummary): void {
    this.ctx.storage.sql.exec(
      'INSERT OR REPLACE INTO jobs (id, runtime, label, total, state, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      job.id,
      job.runtime,
      job.label ?? null,
      job.total,
      job.state,
      job.createdAt,
    );
  }

  jobFinished(id: string, state: JobState): void {
    this.ctx.storage.sql.exec('UPDATE jobs SET state = ? WHERE id = ?', state, id);
  }

  /** Newest first; `before` is a createdAt to page backwards from. */
  listJobs(limit: number, before?: number): JobSummary[] {
    return this.ctx.storage.sql
      .exec<{
        id: string;
        runtime: Runtime;
        label: string | null;
        total: number;
        state: JobState;
        created_at: number;
      }>(
        'SELECT id, runtime, label, total, state, created_at FROM jobs WHERE created_at < ? ORDER BY created_at DESC LIMIT ?',
        before ?? Number.MAX_SAFE_INTEGER,
        limit,
      )
      .toArray()
      .map((r) => {
        const job: JobSummary = {
          id: r.id,
          runtime: r.runtime,
          total: r.total,
          state: r.state,
          createdAt: r.created_at,
        };
        if (r.label !== null) job.label = r.label;
        return job;
      });
  }

  /**
   * Results of a linked node were accepted: count them (and the task time they report) for this
   * wallet. `batch` names the hub's record of them: a batch sent again (its first answer was
   * lost) is counted once. Batch ids are kept a week.
   */
  creditWork(nodeId: string, tasks: number, cpuMs: number, batch: string): void {
    if (tasks <= 0) return;
    const sql = this.ctx.storage.sql;
    const now = Date.now();
    const fresh = sql.exec(
      'INSERT INTO credited (batch, at) VALUES (?, ?) ON CONFLICT DO NOTHING',
      batch,
      now,
    ).rowsWritten;
    if (!fresh) return;
    sql.exec('DELETE FROM credited WHERE at < ?', now - 7 * 24 * 60 * 60_000);
    sql.exec(
      `INSERT INTO work (node_id, tasks, cpu_ms, last_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (node_id) DO UPDATE SET
         tasks = tasks + excluded.tasks, cpu_ms = cpu_ms + excluded.cpu_ms, last_at = excluded.last_at`,
      nodeId,
      tasks,
      cpuMs,
      now,
    );
  }

  /** The work of the wallet's nodes, in total and per node (most recent first); zeros for none. */
  work(): AccountWork['work'] {
    const nodes = this.ctx.storage.sql
      .exec<{ node_id: string; tasks: number; cpu_ms: number; last_at: number }>(
        'SELECT node_id, tasks, cpu_ms, last_at FROM work ORDER BY last_at DESC',
      )
      .toArray()
      .map((r) => ({ nodeId: r.node_id, tasks: r.tasks, cpuMs: r.cpu_ms, lastAt: r.last_at }));
    return {
      tasks: nodes.reduce((a, n) => a + n.tasks, 0),
      cpuMs: nodes.reduce((a, n) => a + n.cpuMs, 0),
      nodes,
    };
  }
}
