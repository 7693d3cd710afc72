import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, test } from 'vitest';
import { migrate } from '../../durable-objects/migrations.ts';
import { migrateRoom, ROOM_STEPS } from '../../durable-objects/room/schema.ts';
import { jobRoom } from '../../durable-objects/stubs.ts';

/** Every column and index of the given tables, in a stable order, to compare two schemas. */
function shape(sql: SqlStorage, tables: string[]) {
  return tables.map((table) => ({
    table,
    columns: sql
      .exec('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY name', table)
      .toArray(),
    indexes: sql
      .exec(
        `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL
         ORDER BY name`,
        table,
      )
      .toArray()
      .map((i) => ({ name: i.name, sql: String(i.sql).replace(/\s+/g, ' ').replace(' IF NOT EXISTS', '') })),
  }));
}

const TABLES = ['meta', 'tasks', 'leases', 'replicas'];

describe('room schema migrations', () => {
  test("a new room's schema (made at once) equals the one every step leaves", async () => {
    const fresh = await runInDurableObject(
      env.JOB_ROOM.get(env.JOB_ROOM.idFromName('migrations-fresh')),
      (_i, state) => {
        // A room makes its tables when its job is stored (`init`), not before.
        migrateRoom(state.storage);
        return {
          shape: shape(state.storage.sql, TABLES),
          version: state.storage.sql.exec("SELECT version FROM _schema WHERE part = 'room'").one().version,
        };
      },
    );
    // The steps, one by one, in another object's storage (an Account: no table of the room's).
    const stepped = await runInDurableObject(
      env.ACCOUNT.get(env.ACCOUNT.idFromName('0xmigrations-steps')),
      (_i, state) => {
        migrate(state.storage, 'room', ROOM_STEPS);
        return {
          shape: shape(state.storage.sql, TABLES),
          version: state.storage.sql.exec("SELECT version FROM _schema WHERE part = 'room'").one().version,
        };
      },
    );
    expect(fresh.version).toBe(ROOM_STEPS.length);
    expect(stepped.version).toBe(ROOM_STEPS.length);
    expect(fresh.shape.every((t) => t.columns.length > 0)).toBe(true);
    expect(fresh.shape).toEqual(stepped.shape);
  });

  test('a room stored by an older build (tables, no version) is brought forward, keeping its leases', async () => {
    const result = await runInDurableObject(
      env.ACCOUNT.get(env.ACCOUNT.idFromName('0xmigrations-old')),
      (_i, state) => {
        const sql = state.storage.sql;
        // As the first build left it: step 1's tables, a leased task, no `_schema` row.
        ROOM_STEPS[0]!(sql);
        sql.exec(
          `INSERT INTO tasks (idx, state, input, attempts, lease_id, node_id, lease_expires)
           VALUES (0, 'leased', '1', 1, 'L1', 'n1', 12345), (1, 'queued', '2', 0, NULL, NULL, NULL)`,
        );
        const fresh = { tables: TABLES, create: () => sql.exec('CREATE TABLE must_not_run (x)') };
        migrate(state.storage, 'room', ROOM_STEPS, fresh);
        return {
          leases: sql.exec('SELECT lease_id, idx, node_id, expires_at, counted FROM leases').toArray(),
          tasks: sql.exec('SELECT idx, leased, drops FROM tasks ORDER BY idx').toArray(),
          freshRan: sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'must_not_run'").toArray().length,
          version: sql.exec("SELECT version FROM _schema WHERE part = 'room'").one().version,
        };
      },
    );
    expect(result.freshRan).toBe(0);
    expect(result.version).toBe(ROOM_STEPS.length);
    expect(result.leases).toEqual([{ lease_id: 'L1', idx: 0, node_id: 'n1', expires_at: 12345, counted: 0 }]);
    expect(result.tasks).toEqual([
      { idx: 0, leased: 1, drops: 0 },
      { idx: 1, leased: 0, drops: 0 },
    ]);
  });

  test("an older build's room is brought forward by the JobRoom itself when it wakes (it makes no tables for a room that has none)", async () => {
    const jobId = crypto.randomUUID();
    const stub = env.JOB_ROOM.get(env.JOB_ROOM.idFromName(jobId));
    await runInDurableObject(stub, (_i, state) => {
      const sql = state.storage.sql;
      // A new room has no tables until its job is stored.
      expect(sql.exec('SELECT name FROM sqlite_master').toArray()).toEqual([]);
      // As the first build left a job: step 1's tables, its meta row, a leased task, no `_schema` row.
      ROOM_STEPS[0]!(sql);
      const meta = {
        id: jobId,
        owner: '0x0000000000000000000000000000000000000001',
        runtime: 'js',
        codeCid: 'bafkreie2yqyext36pbdtprgfj6icwicukivmne5uwrbfn4nymcz5kh47ly',
        timeoutMs: 1000,
        maxAttempts: 3,
        memoryMb: 64,
        total: 2,
        state: 'running',
        createdAt: 1,
      };
      sql.exec(`INSERT INTO meta (k, v) VALUES ('job', ?)`, JSON.stringify(meta));
      sql.exec(
        `INSERT INTO tasks (idx, state, input, attempts, lease_id, node_id, lease_expires)
         VALUES (0, 'leased', '1', 1, 'L1', 'n1', 12345), (1, 'pending', '2', 0, NULL, NULL, NULL)`,
      );
    });
    // A new instance reads the old tables as they are.
    await evictDurableObject(stub);
    const status = await jobRoom(env, jobId).status();
    expect(status).toMatchObject({
      id: jobId,
      total: 2,
      state: 'running',
      counts: { leased: 1, pending: 1 },
    });
    const after = await runInDurableObject(stub, (_i, state) => ({
      version: state.storage.sql.exec("SELECT version FROM _schema WHERE part = 'room'").one().version,
      leases: state.storage.sql.exec('SELECT lease_id, idx, node_id FROM leases').toArray(),
    }));
    expect(after.version).toBe(ROOM_STEPS.length);
    expect(after.leases).toEqual([{ lease_id: 'L1', idx: 0, node_id: 'n1' }]);
  });
});
