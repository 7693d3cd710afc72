import { migrate } from '../migrations.ts';
import type { DoEnv } from '../rpc.ts';
import { account } from '../stubs.ts';

/** Accepted work is credited to wallets at most this long after the ack. */
export const CREDIT_AFTER_MS = 1_000;
/** After a failed call, the next try waits twice as long as the last, up to this. */
const RETRY_MAX_MS = 60_000;

/**
 * Work of linked nodes on its way to their wallets' `Account`s, credited exactly once.
 *
 * Each results frame's accepted work is added to the node's open row of `credits_due` (one more
 * row written beside its standing, in the same transaction). At most CREDIT_AFTER_MS later the
 * open rows become batches, each with an id of its own, and each batch goes to its `Account` in
 * one call (not a call per frame, which would make a wallet with many busy nodes a hot spot); a
 * batch's row is deleted once its `Account` answers. A batch whose call failed, or whose hub was
 * evicted or redeployed before the answer, is sent again under the same id, and the `Account`
 * counts an id once. A shard that stopped before sending finds its rows when it next wakes.
 */
export class WalletCredits {
  readonly #ctx: DurableObjectState;
  readonly #env: DoEnv;
  readonly #shard: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Batches whose call is out now. */
  readonly #sending = new Set<string>();
  /** Failed calls since the last that went through: the retry backs off. */
  #failures = 0;

  constructor(ctx: DurableObjectState, env: DoEnv, shard: number) {
    this.#ctx = ctx;
    this.#env = env;
    this.#shard = shard;
    migrate(ctx.storage, 'credits', [
      // `batch` is '' for the row still adding up, and the batch's id once it is being sent.
      (sql) =>
        sql.exec(`
          CREATE TABLE IF NOT EXISTS credits_due (
            owner TEXT NOT NULL,
            node_id TEXT NOT NULL,
            batch TEXT NOT NULL DEFAULT '',
            tasks INTEGER NOT NULL,
            cpu_ms REAL NOT NULL,
            PRIMARY KEY (owner, node_id, batch)
          );
        `),
    ]);
    // Left by an instance that stopped before its batches were answered.
    if (ctx.storage.sql.exec('SELECT 1 FROM credits_due LIMIT 1').toArray().length) this.#arm();
  }

  /** Count accepted work of `nodeId` for wallet `owner`; it is sent within CREDIT_AFTER_MS. */
  add(owner: string, nodeId: string, tasks: number, cpuMs: number): void {
    if (tasks <= 0) return;
    this.#ctx.storage.sql.exec(
      `INSERT INTO credits_due (owner, node_id, batch, tasks, cpu_ms) VALUES (?, ?, '', ?, ?)
       ON CONFLICT (owner, node_id, batch) DO UPDATE SET
         tasks = tasks + excluded.tasks, cpu_ms = cpu_ms + excluded.cpu_ms`,
      owner,
      nodeId,
      tasks,
      cpuMs,
    );
    this.#arm();
  }

  #arm(): void {
    const delay = this.#failures
      ? Math.min(CREDIT_AFTER_MS * 2 ** this.#failures, RETRY_MAX_MS)
      : CREDIT_AFTER_MS;
    this.#timer ??= setTimeout(() => this.#send(), delay);
  }

  #send(): void {
    this.#timer = undefined;
    const sql = this.#ctx.storage.sql;
    // The open rows become batches: an id each, unique across shards and instances.
    sql.exec(
      `UPDATE credits_due SET batch = ? || '-' || rowid WHERE batch = ''`,
      `hub-${this.#shard}-${crypto.randomUUID()}`,
    );
    const due = sql
      .exec<{ owner: string; node_id: string; batch: string; tasks: number; cpu_ms: number }>(
        'SELECT owner, node_id, batch, tasks, cpu_ms FROM credits_due',
      )
      .toArray()
      .filter((r) => !this.#sending.has(r.batch));
    for (const { owner, node_id: nodeId, batch, tasks, cpu_ms: cpuMs } of due) {
      this.#sending.add(batch);
      account(this.#env, owner)
        .creditWork(nodeId, tasks, cpuMs, batch)
        .then(
          () => {
            sql.exec('DELETE FROM credits_due WHERE batch = ?', batch);
            this.#failures = 0;
          },
          (err: unknown) => {
            console.error(
              `hub ${this.#shard}: crediting ${owner} for ${nodeId} failed; sending it again`,
              err,
            );
            this.#failures++;
            this.#arm();
          },
        )
        .finally(() => this.#sending.delete(batch));
    }
  }
}
