/**
 * Versioned schema changes for one part of a Durable Object's SQLite storage (a part: the room's
 * tasks, the hub's peers, ...). Each part's version is kept in `_schema`; a step runs once, in
 * order, inside a transaction with the version bump, so a failed step leaves the old schema
 * whole. Step 1 of a part is its schema as first written, so objects stored by an older build
 * (which had the tables but no `_schema` row) are brought forward by the steps after it: step 1
 * uses `CREATE TABLE IF NOT EXISTS`, and later steps check the tables as they are.
 *
 * `fresh`, when given, is the part's schema as the steps leave it, in one step: storage that has
 * none of `fresh.tables` yet (a new object) runs it instead of every step, so a new object does
 * not replay history (a new job's room ran two steps of table rewrites before its first task).
 * `test/integration/migrations.test.ts` checks both paths end with the same tables.
 *
 * @example
 * migrate(ctx.storage, 'tasks', [
 *   (sql) => sql.exec('CREATE TABLE IF NOT EXISTS tasks (idx INTEGER PRIMARY KEY, state TEXT NOT NULL)'),
 *   (sql) => addColumn(sql, 'tasks', 'drops INTEGER NOT NULL DEFAULT 0'),
 * ]);
 */
export function migrate(
  storage: DurableObjectStorage,
  part: string,
  steps: ((sql: SqlStorage) => void)[],
  fresh?: { tables: string[]; create: (sql: SqlStorage) => void },
): void {
  const sql = storage.sql;
  sql.exec('CREATE TABLE IF NOT EXISTS _schema (part TEXT PRIMARY KEY, version INTEGER NOT NULL)');
  const current =
    sql.exec<{ version: number }>('SELECT version FROM _schema WHERE part = ?', part).toArray()[0]?.version ??
    0;
  if (current === 0 && fresh && !hasAnyTable(sql, fresh.tables)) {
    storage.transactionSync(() => {
      fresh.create(sql);
      sql.exec('INSERT INTO _schema (part, version) VALUES (?, ?)', part, steps.length);
    });
    return;
  }
  for (let v = current; v < steps.length; v++) {
    storage.transactionSync(() => {
      steps[v]!(sql);
      sql.exec(
        'INSERT INTO _schema (part, version) VALUES (?, ?) ON CONFLICT (part) DO UPDATE SET version = excluded.version',
        part,
        v + 1,
      );
    });
  }
}

/** Whether any of `tables` exists (reads only). */
export function hasAnyTable(sql: SqlStorage, tables: string[]): boolean {
  return (
    sql
      .exec(
        `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name IN (SELECT value FROM json_each(?))`,
        JSON.stringify(tables),
      )
      .toArray().length > 0
  );
}

/** Add a column unless the table has it already (a table made by a build that had added it). */
export function addColumn(sql: SqlStorage, table: string, definition: string): void {
  const name = definition.split(/\s+/)[0]!;
  const has = sql
    .exec<{ name: string }>('SELECT name FROM pragma_table_info(?)', table)
    .toArray()
    .some((c) => c.name === name);
  if (!has) sql.exec(`ALTER TABLE ${table} ADD COLUMN ${definition}`);
}

/** Drop a column if the table has it. */
export function dropColumn(sql: SqlStorage, table: string, name: string): void {
  const has = sql
    .exec<{ name: string }>('SELECT name FROM pragma_table_info(?)', table)
    .toArray()
    .some((c) => c.name === name);
  if (has) sql.exec(`ALTER TABLE ${table} DROP COLUMN ${name}`);
}
