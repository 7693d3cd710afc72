import { addColumn, dropColumn, hasAnyTable, migrate } from '../migrations.ts';

/**
 * A room's tables. `tasks`: one row per input (its state, the counted `attempts`, the times it
 * was `leased` and lost without counting, `drops`, its result, the fingerprint `class` its
 * replicas are compared in, how it was `verification`-ed, and whether it was `reverified` after its
 * lone node was caught); `leases`: the leases out now, each
 * with its expiry (moved by heartbeats) and its `deadline` (never moved), `known` for a lease of a
 * task already decided, planted as a known-answer check; `replicas`: verified
 * jobs' answers, one per identity per task; `meta`: the job. A proven (`circom`) task keeps its
 * Groth16 `proof`.
 */
export function migrateRoom(storage: DurableObjectStorage): void {
  migrate(
    storage,
    'room',
    ROOM_STEPS,
    // A new room: the tables as the steps leave them, at once.
    { tables: ['meta', 'tasks', 'leases'], create: (sql) => sql.exec(ROOM_SCHEMA) },
  );
}

/** Whether this storage holds a room's tables (of any version): reads only. */
export const hasRoom = (sql: SqlStorage): boolean => hasAnyTable(sql, ['meta', '_schema']);

/** Verified jobs' answers, one per identity per task (see \`quorum.ts\`). */
const REPLICAS = `
  CREATE TABLE replicas (
    idx INTEGER NOT NULL, identity TEXT NOT NULL, node_id TEXT NOT NULL, peer_id TEXT NOT NULL,
    answer TEXT NOT NULL, credibility REAL NOT NULL, streak INTEGER NOT NULL, trusted INTEGER NOT NULL,
    ok INTEGER NOT NULL, result TEXT NOT NULL, logs TEXT, duration_ms REAL, receipt TEXT NOT NULL,
    fingerprint_class TEXT, at INTEGER NOT NULL,
    PRIMARY KEY (idx, identity)
  );
  CREATE INDEX replicas_by_node ON replicas (node_id);
`;

/** The room's tables as the steps below leave them. */
export const ROOM_SCHEMA = `
  CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
  CREATE TABLE tasks (
    idx INTEGER PRIMARY KEY, state TEXT NOT NULL, input TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, node_id TEXT,
    not_before INTEGER NOT NULL DEFAULT 0, output TEXT, error TEXT, logs TEXT, duration_ms REAL,
    reason TEXT, done_seq INTEGER, receipt TEXT,
    leased INTEGER NOT NULL DEFAULT 0, drops INTEGER NOT NULL DEFAULT 0,
    class TEXT, verification TEXT, reverified INTEGER NOT NULL DEFAULT 0, proof TEXT
  );
  CREATE INDEX tasks_by_state ON tasks (state, not_before, idx);
  CREATE INDEX tasks_by_done ON tasks (done_seq) WHERE done_seq IS NOT NULL;
  CREATE TABLE leases (
    lease_id TEXT PRIMARY KEY, idx INTEGER NOT NULL, node_id TEXT NOT NULL, seq INTEGER NOT NULL,
    leased_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, deadline INTEGER NOT NULL,
    counted INTEGER NOT NULL, known INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX leases_by_expiry ON leases (expires_at);
  CREATE INDEX leases_by_node ON leases (node_id);
  CREATE INDEX leases_by_task ON leases (idx);
  ${REPLICAS}
`;

/** The room's schema history, for rooms stored by older builds. */
export const ROOM_STEPS: ((sql: SqlStorage) => void)[] = [
  // 1: the schema as first written (lease columns on the task row).
  (sql) => {
    sql.exec(`
        CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS tasks (
          idx INTEGER PRIMARY KEY, state TEXT NOT NULL, input TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0, lease_id TEXT, node_id TEXT, lease_expires INTEGER,
          not_before INTEGER NOT NULL DEFAULT 0, output TEXT, error TEXT, logs TEXT, duration_ms REAL,
          reason TEXT, done_seq INTEGER
        );
        CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state, not_before, idx);
        CREATE INDEX IF NOT EXISTS tasks_by_done ON tasks (done_seq) WHERE done_seq IS NOT NULL;
      `);
    addColumn(sql, 'tasks', 'receipt TEXT');
  },
  // 2: leases in their own table (a lease number, an expiry and a deadline each), and lost
  // leases counted apart from attempts.
  (sql) => {
    sql.exec(`
        CREATE TABLE leases (
          lease_id TEXT PRIMARY KEY, idx INTEGER NOT NULL, node_id TEXT NOT NULL, seq INTEGER NOT NULL,
          leased_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, deadline INTEGER NOT NULL,
          counted INTEGER NOT NULL
        );
        CREATE INDEX leases_by_expiry ON leases (expires_at);
        CREATE INDEX leases_by_node ON leases (node_id);
        CREATE INDEX leases_by_task ON leases (idx);
      `);
    addColumn(sql, 'tasks', 'leased INTEGER NOT NULL DEFAULT 0');
    addColumn(sql, 'tasks', 'drops INTEGER NOT NULL DEFAULT 0');
    sql.exec('UPDATE tasks SET leased = attempts');
    // Leases out under the old schema: into the new table, as the old expiry, uncounted.
    sql.exec(`
        INSERT INTO leases (lease_id, idx, node_id, seq, leased_at, expires_at, deadline, counted)
        SELECT lease_id, idx, node_id, attempts, COALESCE(lease_expires, 0), COALESCE(lease_expires, 0),
               COALESCE(lease_expires, 0), 0
        FROM tasks WHERE state = 'leased' AND lease_id IS NOT NULL
      `);
    sql.exec('DROP INDEX IF EXISTS tasks_by_node');
    dropColumn(sql, 'tasks', 'lease_id');
    dropColumn(sql, 'tasks', 'lease_expires');
  },
  // 3: verification: each task's fingerprint class and how it was verified, the replicas, and
  // leases of known-answer checks.
  (sql) => {
    addColumn(sql, 'tasks', 'class TEXT');
    addColumn(sql, 'tasks', 'verification TEXT');
    addColumn(sql, 'leases', 'known INTEGER NOT NULL DEFAULT 0');
    sql.exec(REPLICAS);
  },
  // 4: tasks sent back to be verified again when their lone credible node was caught.
  (sql) => {
    addColumn(sql, 'tasks', 'reverified INTEGER NOT NULL DEFAULT 0');
  },
  // 5: proven (circom) tasks keep their Groth16 proof beside the output.
  (sql) => {
    addColumn(sql, 'tasks', 'proof TEXT');
  },
];
