import type { NodeKind, NodeLocation, PeerHint } from '../../protocol/index.ts';
import { addColumn, migrate } from '../migrations.ts';

/** How many relays a node is handed (it keeps connections to two of them). */
const RELAYS_PER_NODE = 8;
/** How many holders of a blob a lease names. */
const PROVIDERS_PER_BLOB = 4;
/**
 * How long a node that was leased a task needing a blob counts as fetching it (a provider to
 * name, after the nodes that hold it whole), unless it announces the blob or leaves before.
 */
const FETCHING_MS = 60_000;
/** Blobs one node may announce it holds; past it the node is told to announce fewer. */
export const MAX_HOLDS_PER_NODE = 4096;

interface PeerRow {
  node_id: string;
  peer_id: string;
  kind: NodeKind;
  relay: number;
  multiaddrs: string;
  latitude: number | null;
  longitude: number | null;
  /** JSON array of the peer ids it is connected to (`node.mesh` `peers`), for the node map. */
  links: string | null;
  [key: string]: SqlStorageValue;
}

/**
 * The hub's view of the data plane, in its SQLite storage (a socket attachment is limited to
 * 2 KiB, too small for addresses and holdings): each connected node's libp2p peer (peer id,
 * addresses, whether it relays, the peers it is connected to) and the blobs (root CIDs) it holds
 * whole. From it the hub hands out relays to connect to (nearest first) and, with each lease,
 * the peers that hold the task's blobs; it tells dispatch which nodes are warm for a job's code,
 * and the node map which nodes are linked.
 */
export class PeerRegistry {
  readonly #sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    this.#sql = storage.sql;
    migrate(storage, 'peers', [
      (sql) => {
        sql.exec(`
          CREATE TABLE IF NOT EXISTS peers (
            node_id TEXT PRIMARY KEY, peer_id TEXT NOT NULL, kind TEXT NOT NULL, relay INTEGER NOT NULL,
            multiaddrs TEXT NOT NULL, latitude REAL, longitude REAL
          );
          CREATE TABLE IF NOT EXISTS holds (node_id TEXT NOT NULL, cid TEXT NOT NULL, PRIMARY KEY (node_id, cid));
          CREATE INDEX IF NOT EXISTS holds_by_cid ON holds (cid);
        `);
        // NULL: held whole; else when the node was leased work that needs it (fetching).
        addColumn(sql, 'holds', 'fetching_since INTEGER');
        sql.exec(
          'CREATE INDEX IF NOT EXISTS holds_fetching ON holds (fetching_since) WHERE fetching_since IS NOT NULL',
        );
        addColumn(sql, 'peers', 'links TEXT');
      },
      // 2: other shards' relays, so a node here can reach the mesh through a relay there.
      (sql) => sql.exec('CREATE TABLE remote_relays (shard INTEGER PRIMARY KEY, relays TEXT NOT NULL)'),
    ]);
  }

  /** Forget nodes that are not connected any more (e.g. the hub restarted without their close events). */
  retain(connected: Set<string>): void {
    for (const { node_id } of this.#sql.exec<{ node_id: string }>('SELECT node_id FROM peers').toArray()) {
      if (!connected.has(node_id)) this.leave(node_id);
    }
  }

  join(
    nodeId: string,
    peer: { peerId: string; kind: NodeKind; relay: boolean; multiaddrs: string[]; location: NodeLocation },
  ): void {
    this.#sql.exec(
      'INSERT OR REPLACE INTO peers (node_id, peer_id, kind, relay, multiaddrs, latitude, longitude) VALUES (?, ?, ?, ?, ?, ?, ?)',
      nodeId,
      peer.peerId,
      peer.kind,
      peer.relay ? 1 : 0,
      JSON.stringify(peer.multiaddrs),
      peer.location.latitude ?? null,
      peer.location.longitude ?? null,
    );
    this.#sql.exec('DELETE FROM holds WHERE node_id = ?', nodeId);
  }

  /**
   * Applies a `node.mesh` update: 'no peer' when the node has no peer here, 'too many holds' when
   * the blobs it would hold are over `MAX_HOLDS_PER_NODE` (nothing of the update is applied then).
   */
  update(
    nodeId: string,
    update: { multiaddrs?: string[]; holds?: { add?: string[]; remove?: string[] }; peers?: string[] },
  ): 'ok' | 'no peer' | 'too many holds' {
    if (!this.#sql.exec('SELECT 1 FROM peers WHERE node_id = ?', nodeId).toArray().length) return 'no peer';
    if (update.holds?.add?.length) {
      const held = this.#sql
        .exec<{ n: number }>('SELECT COUNT(*) AS n FROM holds WHERE node_id = ?', nodeId)
        .one().n;
      if (held - (update.holds.remove?.length ?? 0) + update.holds.add.length > MAX_HOLDS_PER_NODE) {
        return 'too many holds';
      }
    }
    if (update.multiaddrs) {
      this.#sql.exec(
        'UPDATE peers SET multiaddrs = ? WHERE node_id = ?',
        JSON.stringify(update.multiaddrs),
        nodeId,
      );
    }
    if (update.peers) {
      this.#sql.exec('UPDATE peers SET links = ? WHERE node_id = ?', JSON.stringify(update.peers), nodeId);
    }
    for (const cid of update.holds?.add ?? []) {
      this.#sql.exec(
        'INSERT OR REPLACE INTO holds (node_id, cid, fetching_since) VALUES (?, ?, NULL)',
        nodeId,
        cid,
      );
    }
    for (const cid of update.holds?.remove ?? []) {
      this.#sql.exec('DELETE FROM holds WHERE node_id = ? AND cid = ?', nodeId, cid);
    }
    return 'ok';
  }

  leave(nodeId: string): void {
    this.#sql.exec('DELETE FROM peers WHERE node_id = ?', nodeId);
    this.#sql.exec('DELETE FROM holds WHERE node_id = ?', nodeId);
  }

  isRelay(nodeId: string): boolean {
    return this.#sql.exec('SELECT 1 FROM peers WHERE node_id = ? AND relay = 1', nodeId).toArray().length > 0;
  }

  /**
   * Relays for `nodeId`: this shard's, nearest first when both locations are known, then other
   * shards' (as they last announced them), `RELAYS_PER_NODE` at most.
   */
  relaysFor(nodeId: string): PeerHint[] {
    const self = this.#sql.exec<PeerRow>('SELECT * FROM peers WHERE node_id = ?', nodeId).toArray()[0];
    const relays = this.#sql
      .exec<PeerRow>('SELECT * FROM peers WHERE relay = 1 AND node_id != ?', nodeId)
      .toArray();
    const distance = (row: PeerRow) =>
      self?.latitude == null || row.latitude == null || self.longitude == null || row.longitude == null
        ? Number.POSITIVE_INFINITY
        : (row.latitude - self.latitude) ** 2 + (row.longitude - self.longitude) ** 2;
    const local = relays.sort((a, b) => distance(a) - distance(b)).map(hintOf);
    const remote = this.#sql
      .exec<{ relays: string }>('SELECT relays FROM remote_relays ORDER BY shard')
      .toArray()
      .flatMap((r) => JSON.parse(r.relays) as PeerHint[])
      .filter((h) => h.peerId !== self?.peer_id);
    return [...local, ...remote].slice(0, RELAYS_PER_NODE);
  }

  /** This shard's relays, for the other shards. */
  localRelays(): PeerHint[] {
    return this.#sql
      .exec<PeerRow>('SELECT * FROM peers WHERE relay = 1 ORDER BY node_id LIMIT ?', RELAYS_PER_NODE * 2)
      .toArray()
      .map(hintOf);
  }

  /** Another shard's relays, as it announced them (its whole list). */
  setRemoteRelays(shard: number, relays: PeerHint[]): void {
    if (relays.length) {
      this.#sql.exec(
        'INSERT OR REPLACE INTO remote_relays (shard, relays) VALUES (?, ?)',
        shard,
        JSON.stringify(relays.slice(0, RELAYS_PER_NODE * 2)),
      );
    } else {
      this.#sql.exec('DELETE FROM remote_relays WHERE shard = ?', shard);
    }
  }

  /**
   * Providers of each of `cids` for `nodeId`: the nodes that hold it whole (relays, reachable
   * directly, first), then nodes fetching it right now. Naming those matters when a new blob
   * reaches many nodes at once: the first node leased it asks the origin, the others ask that
   * node (bitswap hands on each block as it arrives), so the origin serves it about once.
   * With `since` (another shard asking for its node `nodeId`, by CID when it started fetching),
   * only fetchers that started before it are named (ties broken by node id): both shards compare
   * the same two numbers, so of two first fetchers on two shards exactly one waits on the other.
   */
  providers(
    cids: Iterable<string>,
    nodeId: string,
    now = Date.now(),
    since?: Record<string, number>,
  ): Record<string, PeerHint[]> {
    const out: Record<string, PeerHint[]> = {};
    for (const cid of new Set(cids)) {
      const before = since?.[cid] ?? Number.MAX_SAFE_INTEGER;
      const rows = this.#sql
        .exec<PeerRow>(
          `SELECT p.* FROM holds h JOIN peers p ON p.node_id = h.node_id
           WHERE h.cid = ? AND h.node_id != ? AND (h.fetching_since IS NULL OR (h.fetching_since > ?
             AND (h.fetching_since < ? OR (h.fetching_since = ? AND h.node_id < ?))))
           ORDER BY h.fetching_since IS NOT NULL, p.relay DESC, h.fetching_since LIMIT ?`,
          cid,
          nodeId,
          now - FETCHING_MS,
          before,
          before,
          nodeId,
          PROVIDERS_PER_BLOB,
        )
        .toArray();
      if (rows.length) out[cid] = rows.map(hintOf);
    }
    return out;
  }

  /**
   * `nodeId` was leased work that needs `cids`: until it announces them (or a minute passes), it
   * is named as a provider after the nodes that hold them. Only nodes with a peer count. Returns
   * when the node started fetching each blob it does not hold (a fetch already under way keeps
   * its start), or undefined for a node without a peer (what it holds is not known here).
   */
  fetching(nodeId: string, cids: Iterable<string>, now = Date.now()): Record<string, number> | undefined {
    const since: Record<string, number> = {};
    this.#sql.exec(
      'DELETE FROM holds WHERE fetching_since IS NOT NULL AND fetching_since <= ?',
      now - FETCHING_MS,
    );
    if (!this.#sql.exec('SELECT 1 FROM peers WHERE node_id = ?', nodeId).toArray().length) return undefined;
    for (const cid of new Set(cids)) {
      // Read first: a node that holds the blob (whole, or a fetch under way) costs no write.
      const row = this.#sql
        .exec<{ fetching_since: number | null }>(
          'SELECT fetching_since FROM holds WHERE node_id = ? AND cid = ?',
          nodeId,
          cid,
        )
        .toArray()[0];
      if (row) {
        if (row.fetching_since !== null) since[cid] = row.fetching_since;
        continue;
      }
      this.#sql.exec('INSERT INTO holds (node_id, cid, fetching_since) VALUES (?, ?, ?)', nodeId, cid, now);
      since[cid] = now;
    }
    return since;
  }

  /** Does `nodeId` hold blob `cid` whole? (Dispatch prefers such nodes for the job.) */
  holds(nodeId: string, cid: string): boolean {
    return (
      this.#sql
        .exec('SELECT 1 FROM holds WHERE node_id = ? AND cid = ? AND fetching_since IS NULL', nodeId, cid)
        .toArray().length > 0
    );
  }

  holdCount(nodeId: string): number {
    return Number(
      this.#sql
        .exec<{ n: number }>(
          'SELECT COUNT(*) AS n FROM holds WHERE node_id = ? AND fetching_since IS NULL',
          nodeId,
        )
        .one().n,
    );
  }

  /** Addresses, relay flag and connected peers of a node, for `GET /nodes` and the node map. */
  describe(nodeId: string): { multiaddrs: string[]; relay: boolean; peers: string[] } | undefined {
    const row = this.#sql.exec<PeerRow>('SELECT * FROM peers WHERE node_id = ?', nodeId).toArray()[0];
    if (!row) return undefined;
    return {
      multiaddrs: JSON.parse(row.multiaddrs) as string[],
      relay: row.relay === 1,
      peers: row.links ? (JSON.parse(row.links) as string[]) : [],
    };
  }
}

function hintOf(row: PeerRow): PeerHint {
  return {
    peerId: row.peer_id,
    kind: row.kind,
    relay: row.relay === 1,
    multiaddrs: JSON.parse(row.multiaddrs) as string[],
  };
}
