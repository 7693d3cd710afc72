import { DurableObject } from 'cloudflare:workers';
import type { DoEnv, NonceStoreApi } from './rpc.ts';

/**
 * Single-use Sign-In With Ethereum nonces for one shard (nonces are spread over shards by their
 * first character). `consume` deletes and returns in one statement, so a nonce is accepted once.
 */
export class NonceStore extends DurableObject<DoEnv> implements NonceStoreApi {
  constructor(ctx: DurableObjectState, env: DoEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(
      'CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)',
    );
  }

  async issue(nonce: string, expiresAt: number): Promise<void> {
    this.ctx.storage.sql.exec('INSERT INTO nonces (nonce, expires_at) VALUES (?, ?)', nonce, expiresAt);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(expiresAt + 1000);
  }

  /** True exactly once for a nonce that was issued and has not expired. */
  consume(nonce: string): boolean {
    const row = this.ctx.storage.sql
      .exec<{ expires_at: number }>('DELETE FROM nonces WHERE nonce = ? RETURNING expires_at', nonce)
      .toArray()[0];
    return row !== undefined && row.expires_at > Date.now();
  }

  override async alarm(): Promise<void> {
    try {
      this.ctx.storage.sql.exec('DELETE FROM nonces WHERE expires_at <= ?', Date.now());
    } finally {
      const next = this.ctx.storage.sql
        .exec<{ at: number | null }>('SELECT MIN(expires_at) AS at FROM nonces')
        .toArray()[0];
      if (next?.at != null) await this.ctx.storage.setAlarm(next.at + 1000);
    }
  }
}
