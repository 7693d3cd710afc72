import type { NodeReputation, NodeStanding } from '../../protocol/index.ts';
import { addColumn, migrate } from '../migrations.ts';
import { credibility } from '../room/quorum.ts';
import type { Verdict } from '../rpc.ts';

/** Rows kept at most; beyond it the rows of nodes with the least accepted work go first. */
export const MAX_STANDINGS = 100_000;
/** A row of a node that never had a result accepted is dropped once it has been quiet this long. */
const IDLE_NOBODY_MS = 24 * 60 * 60_000;
/** Any row is dropped once its node has been quiet this long. */
const IDLE_ANYONE_MS = 180 * 24 * 60 * 60_000;

/** What happened to one frame's results, or to a node's leases, as counted against the node. */
export interface StandingDelta {
  accepted?: number;
  rejected?: number;
  late?: number;
  lost?: number;
  /** Task time reported by the accepted results, in ms. */
  cpuMs?: number;
}

interface StandingRow {
  accepted: number;
  rejected: number;
  late: number;
  lost: number;
  cpu_ms: number;
  owner: string | null;
  owner_error: string | null;
  agreed: number;
  disagreed: number;
  streak: number;
  known_passed: number;
  known_failed: number;
  [key: string]: SqlStorageValue;
}

/**
 * `NodeReputation.score`: ½ for a new node, towards 1 with honoured leases; a rejected result
 * weighs five lost leases, a late one a quarter.
 */
export function reputationScore(c: Omit<NodeReputation, 'score'>): number {
  return (c.accepted + 1) / (c.accepted + 5 * c.rejected + 5 * (c.disagreed ?? 0) + c.lost + c.late / 4 + 2);
}

/** Recent results accepted on one node's word alone, kept per node (to verify again if it lies). */
const MAX_SOLO_PER_NODE = 256;

/**
 * How each node (by node id, bound to the key that proved itself under it) has behaved, in the hub's SQLite storage so that it outlives
 * reconnects and hub restarts: the counters of `NodeReputation`, the task time of its accepted
 * results, and the wallet it is linked to (or why its last link was refused). The socket
 * attachment keeps the owner too, for dispatch-time reads; this row is what survives.
 */
export class NodeStandings {
  readonly #sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    this.#sql = storage.sql;
    migrate(storage, 'standings', [
      (sql) => {
        sql.exec(`
          CREATE TABLE IF NOT EXISTS standings (
            node_id TEXT PRIMARY KEY,
            accepted INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            late INTEGER NOT NULL DEFAULT 0,
            lost INTEGER NOT NULL DEFAULT 0,
            cpu_ms REAL NOT NULL DEFAULT 0,
            owner TEXT,
            owner_error TEXT,
            updated_at INTEGER NOT NULL
          );
        `);
        // The key that proved itself under this node id (see `claim`).
        addColumn(sql, 'standings', 'peer_id TEXT');
      },
      (sql) => sql.exec('CREATE INDEX IF NOT EXISTS standings_by_age ON standings (updated_at)'),
      // 3: what verification made of its answers, and its recent unchecked ones.
      (sql) => {
        addColumn(sql, 'standings', 'agreed INTEGER NOT NULL DEFAULT 0');
        addColumn(sql, 'standings', 'disagreed INTEGER NOT NULL DEFAULT 0');
        addColumn(sql, 'standings', 'streak INTEGER NOT NULL DEFAULT 0');
        addColumn(sql, 'standings', 'known_passed INTEGER NOT NULL DEFAULT 0');
        addColumn(sql, 'standings', 'known_failed INTEGER NOT NULL DEFAULT 0');
        sql.exec(`
          CREATE TABLE IF NOT EXISTS solo (
            node_id TEXT NOT NULL, job_id TEXT NOT NULL, idx INTEGER NOT NULL, at INTEGER NOT NULL
          );
          CREATE INDEX IF NOT EXISTS solo_by_node ON solo (node_id, at);
        `);
      },
    ]);
  }

  /**
   * Verification's verdicts on the node's answers: agreements lengthen its streak, a mismatch
   * resets it (its credibility falls back to a new identity's). Returns whether it was caught.
   */
  verdict(v: Verdict): boolean {
    const { nodeId, agreed, disagreed } = v;
    if (agreed <= 0 && disagreed <= 0) return false;
    this.#sql.exec(
      `INSERT INTO standings (node_id, agreed, disagreed, streak, known_passed, known_failed, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (node_id) DO UPDATE SET agreed = agreed + excluded.agreed,
         disagreed = disagreed + excluded.disagreed,
         streak = CASE WHEN excluded.disagreed > 0 THEN 0 ELSE streak + excluded.agreed END,
         known_passed = known_passed + excluded.known_passed,
         known_failed = known_failed + excluded.known_failed,
         updated_at = excluded.updated_at`,
      nodeId,
      Math.max(0, agreed),
      Math.max(0, disagreed),
      disagreed > 0 ? 0 : Math.max(0, agreed),
      Math.max(0, v.knownPassed ?? 0),
      Math.max(0, v.knownFailed ?? 0),
      Date.now(),
    );
    return disagreed > 0;
  }

  /** Results of `jobId` accepted on this node's word alone; the newest `MAX_SOLO_PER_NODE` are kept. */
  addSolo(nodeId: string, jobId: string, indices: number[]): void {
    if (!indices.length) return;
    const now = Date.now();
    this.#sql.exec(
      'INSERT INTO solo (node_id, job_id, idx, at) SELECT ?, ?, value, ? FROM json_each(?)',
      nodeId,
      jobId,
      now,
      JSON.stringify(indices),
    );
    this.#sql.exec(
      `DELETE FROM solo WHERE node_id = ? AND rowid NOT IN (
         SELECT rowid FROM solo WHERE node_id = ? ORDER BY at DESC, rowid DESC LIMIT ?)`,
      nodeId,
      nodeId,
      MAX_SOLO_PER_NODE,
    );
  }

  /** Take (and forget) the node's recent solo results, by job. */
  takeSolo(nodeId: string): Map<string, number[]> {
    const rows = this.#sql
      .exec<{ job_id: string; idx: number }>(
        'DELETE FROM solo WHERE node_id = ? RETURNING job_id, idx',
        nodeId,
      )
      .toArray();
    const byJob = new Map<string, number[]>();
    for (const r of rows) byJob.set(r.job_id, [...(byJob.get(r.job_id) ?? []), r.idx]);
    return byJob;
  }

  /**
   * Bound the table, which anonymous traffic could otherwise grow for ever (every fresh key that
   * says hello makes a row): rows of nodes not connected now are dropped when they never had a
   * result accepted and have been quiet a day, or have been quiet half a year; then, over
   * `MAX_STANDINGS`, the rows with the least accepted work. Returns how many went.
   */
  prune(connected: Set<string>, now: number): number {
    const keep = JSON.stringify([...connected]);
    let dropped = this.#sql.exec(
      `DELETE FROM standings WHERE node_id NOT IN (SELECT value FROM json_each(?))
       AND ((accepted = 0 AND updated_at < ?) OR updated_at < ?)`,
      keep,
      now - IDLE_NOBODY_MS,
      now - IDLE_ANYONE_MS,
    ).rowsWritten;
    const over = this.#sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM standings').one().n - MAX_STANDINGS;
    if (over > 0) {
      dropped += this.#sql.exec(
        `DELETE FROM standings WHERE node_id IN (
           SELECT node_id FROM standings WHERE node_id NOT IN (SELECT value FROM json_each(?))
           ORDER BY accepted, updated_at LIMIT ?)`,
        keep,
        over,
      ).rowsWritten;
    }
    return dropped;
  }

  /**
   * A node says hello as `nodeId`, with `peerId` proven. A node id belongs to the first key that
   * proves itself under it, so that nobody else can touch its counters or its wallet's credit:
   * the error says why the hello is refused when the id is bound to another key. An unbound id
   * is bound to `peerId` now, its counters so far included (rows from before binding).
   */
  claim(nodeId: string, peerId: string): Error | undefined {
    const bound = this.#sql
      .exec<{ peer_id: string | null }>('SELECT peer_id FROM standings WHERE node_id = ?', nodeId)
      .toArray()[0]?.peer_id;
    if (bound) {
      if (bound === peerId) return undefined;
      return new Error(
        `node id ${nodeId} belongs to another key (peer ${bound}): use that key, or another node id`,
      );
    }
    this.#sql.exec(
      `INSERT INTO standings (node_id, peer_id, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (node_id) DO UPDATE SET peer_id = excluded.peer_id, updated_at = excluded.updated_at`,
      nodeId,
      peerId,
      Date.now(),
    );
    return undefined;
  }

  /** The node's standing; a node never seen has a fresh one (score ½, nothing counted). */
  get(nodeId: string): NodeStanding {
    const row = this.#row(nodeId);
    const counts = {
      accepted: row?.accepted ?? 0,
      rejected: row?.rejected ?? 0,
      late: row?.late ?? 0,
      lost: row?.lost ?? 0,
      agreed: row?.agreed ?? 0,
      disagreed: row?.disagreed ?? 0,
      streak: row?.streak ?? 0,
      knownPassed: row?.known_passed ?? 0,
      knownFailed: row?.known_failed ?? 0,
    };
    const standing: NodeStanding = {
      reputation: { score: reputationScore(counts), ...counts, credibility: credibility(counts.streak) },
      work: { tasks: counts.accepted, cpuMs: row?.cpu_ms ?? 0 },
    };
    if (row?.owner) standing.owner = row.owner;
    if (row?.owner_error) standing.ownerError = row.owner_error;
    return standing;
  }

  /** Just the score, for `NodeInfo.reputation`. */
  score(nodeId: string): number {
    return this.get(nodeId).reputation.score;
  }

  /** Add to the node's counters. */
  count(nodeId: string, d: StandingDelta): void {
    const values = [d.accepted ?? 0, d.rejected ?? 0, d.late ?? 0, d.lost ?? 0, d.cpuMs ?? 0];
    if (values.every((v) => v === 0)) return;
    this.#sql.exec(
      `INSERT INTO standings (node_id, accepted, rejected, late, lost, cpu_ms, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (node_id) DO UPDATE SET
         accepted = accepted + excluded.accepted, rejected = rejected + excluded.rejected,
         late = late + excluded.late, lost = lost + excluded.lost, cpu_ms = cpu_ms + excluded.cpu_ms,
         updated_at = excluded.updated_at`,
      nodeId,
      ...values,
      Date.now(),
    );
  }

  /** Record the node's wallet (`null`: anonymous) and why the last link was refused (`null`: it was not). */
  setOwner(nodeId: string, owner: string | null, error: string | null): void {
    this.#sql.exec(
      `INSERT INTO standings (node_id, owner, owner_error, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (node_id) DO UPDATE SET
         owner = excluded.owner, owner_error = excluded.owner_error, updated_at = excluded.updated_at`,
      nodeId,
      owner,
      error,
      Date.now(),
    );
  }

  #row(nodeId: string): StandingRow | undefined {
    return this.#sql
      .exec<StandingRow>(
        `SELECT accepted, rejected, late, lost, cpu_ms, owner, owner_error, agreed, disagreed, streak,
           known_passed, known_failed
         FROM standings WHERE node_id = ?`,
        nodeId,
      )
      .toArray()[0];
  }
}
