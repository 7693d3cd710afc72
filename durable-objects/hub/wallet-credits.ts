import { migrate } from '../migrations.ts';
import type { DoEnv } from '../rpc.ts';
import { account } from '../stubs.ts';

/** Accepted work is credited to wallets at most this long after the ack. */
export const CREDIT_AFTER_MS = 1_000;

/**
 * Work of linked nodes on its way to their wallets' `Account`s. Each results frame's accepted work
 * is added to a row of `credits_due` (one more row written beside the node's standing, in the same
 * transaction), and at most CREDIT_AFTER_MS later the rows go to the Accounts, one call per node:
 * not a call per frame, which would make a wallet with many busy nodes a hot spot. The rows are
 * deleted before the calls go out (the output gate holds the calls until the delete is stored)
 * and added back when a call fails, to go again; a shard evicted or redeployed before sending
 * finds its rows when it next wakes and sends them then (before, that work was lost).
 */
export class WalletCredits {
  readonly #ctx: DurableObjectState;
  readonly #env: DoEnv;
  readonly #shard: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ctx: DurableObjectState, env: DoEnv, shard: number) {
    this.#ctx = ctx;
    this.#env = env;
    this.#shard = shard;
    migrate(ctx.storage, 'credits', [
      (sql) =>
        sql.exec(`
          CREATE TABLE IF NOT EXISTS credits_due (
            owner TEXT NOT NULL,
            node_id TEXT NOT NULL,
            tasks INTEGER NOT NULL,
            cpu_ms REAL NOT NULL,
            PRIMARY KEY (owner, node_id)
          );
        `),
    ]);
    // Left by an instance that stopped before sending them.
    if (ctx.storage.sql.exec('SELECT 1 FROM credits_due LIMIT 1').toArray().length) this.#arm();
  }

  /** Count accepted work of `nodeId` for wallet `owner`; it is sent within CREDIT_AFTER_MS. */
  add(owner: string, nodeId: string, tasks: number, cpuMs: number): void {
    if (tasks <= 0) return;
    this.#ctx.storage.sql.exec(
      `INSERT INTO credits_due (owner, node_id, tasks, cpu_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (owner, node_id) DO UPDATE SET tasks = tasks + excluded.tasks, cpu_ms = cpu_ms + excluded.cpu_ms`,
      owner,
      nodeId,
      tasks,
      cpuMs,
    );
    this.#arm();
  }

  #arm(): void {
    this.#timer ??= setTimeout(() => this.#send(), CREDIT_AFTER_MS);
  }

  #send(): void {
    this.#timer = undefined;
    const due = this.#ctx.storage.sql
      .exec<{ owner: string; node_id: string; tasks: number; cpu_ms: number }>(
        'DELETE FROM credits_due RETURNING owner, node_id, tasks, cpu_ms',
      )
      .toArray();
    for (const { owner, node_id: nodeId, tasks, cpu_ms: cpuMs } of due) {
      this.#ctx.waitUntil(
        account(this.#env, owner)
          .creditWork(nodeId, tasks, cpuMs)
          .catch((err: unknown) => {
            console.error(`hub ${this.#shard}: crediting ${owner} for ${nodeId} failed; trying again`, err);
            this.add(owner, nodeId, tasks, cpuMs);
          }),
      );
    }
  }
}
