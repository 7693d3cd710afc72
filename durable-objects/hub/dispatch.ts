import { type HubToNode, type LeasedTask, limits, type PeerHint } from '../../protocol/index.ts';
import { addColumn, migrate } from '../migrations.ts';
import type { AvailableJob, DoEnv, LeaseRequest } from '../rpc.ts';
import { sendJson } from '../sockets.ts';
import { allHubs, jobRoom } from '../stubs.ts';
import type { PeerRegistry } from './peer-registry.ts';
import type { Session, Sessions } from './sessions.ts';

/** The prefix of a task input that names a blob (see `protocol/job.ts`). */
const IPFS_PREFIX = 'ipfs://';
/** How long another shard's answer about a blob's holders is reused. */
const REMOTE_PROVIDERS_MS = 10_000;
/** A blob with fewer holders than this on the node's shard is looked up on the others too. */
const MIN_PROVIDERS = 2;
/** Most holders named for one blob. */
const MAX_PROVIDERS = 4;
/** How long another shard's answer that nobody there holds a blob is reused. */
const REMOTE_NONE_MS = 1_000;
/** Most tasks asked of one room in one call (for all the nodes of the call together). */
const MAX_TASKS_PER_CALL = 4096;
/**
 * The list of available jobs is written to storage at most this long after it changes, all
 * changes at once: a job that comes and goes within it (a small job) costs the shard no write.
 * A shard that restarts meanwhile has lost the announcement; the room announces again while it
 * has runnable tasks (see `JobRoom`'s alarm).
 */
const SAVE_AFTER_MS = 2_000;

/**
 * Dispatch for one shard: the jobs with runnable tasks (every room tells every shard) and the
 * loop that leases their tasks to this shard's nodes with room to spare.
 *
 * One loop runs at a time; a request that arrives meanwhile makes it go round once more. Each
 * round takes the jobs in turn (a rotating start, so jobs share the nodes) and asks each job's
 * room, in one call, for tasks for all the nodes that run its runtime and have room (nodes
 * already warm for the job first). A room that says it has no more runnable tasks leaves the
 * list until it announces some again.
 */
export class Dispatcher {
  readonly #ctx: DurableObjectState;
  readonly #env: DoEnv;
  readonly #shard: number;
  readonly #sessions: Sessions;
  readonly #peers: PeerRegistry;
  readonly #jobs = new Map<string, AvailableJob>();
  /** Jobs whose row is in `available`, and those whose row is to be written or deleted. */
  readonly #saved = new Set<string>();
  readonly #unsaved = new Set<string>();
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  /** Announcements per job, so a room's "nothing more" does not undo one that came meanwhile. */
  readonly #announced = new Map<string, number>();
  #cursor = 0;
  #running = false;
  /** Called with a node's id after leases reach it (the node map shows it busy). */
  onLeased: (nodeId: string) => void = () => {};
  #again = false;
  /** Other shards' holders of a blob, by CID, with when they were asked. */
  readonly #remote = new Map<string, { at: number; hints: PeerHint[] }>();

  constructor(ctx: DurableObjectState, env: DoEnv, shard: number, sessions: Sessions, peers: PeerRegistry) {
    this.#ctx = ctx;
    this.#env = env;
    this.#shard = shard;
    this.#sessions = sessions;
    this.#peers = peers;
    migrate(ctx.storage, 'jobs', [
      (sql) => {
        sql.exec(
          'CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, runtime TEXT NOT NULL, since INTEGER NOT NULL)',
        );
        addColumn(sql, 'jobs', 'code_cid TEXT');
      },
      // 2: the whole announcement as JSON.
      (sql) => {
        sql.exec(
          'CREATE TABLE available (job_id TEXT PRIMARY KEY, job TEXT NOT NULL, since INTEGER NOT NULL)',
        );
        sql.exec(`INSERT INTO available (job_id, job, since)
                  SELECT job_id, json_object('jobId', job_id, 'runtime', runtime, 'codeCid', code_cid), since
                  FROM jobs WHERE code_cid IS NOT NULL`);
        sql.exec('DROP TABLE jobs');
      },
    ]);
    for (const row of ctx.storage.sql
      .exec<{ job: string }>('SELECT job FROM available ORDER BY since')
      .toArray()) {
      const job = JSON.parse(row.job) as AvailableJob;
      this.#jobs.set(job.jobId, job);
      this.#saved.add(job.jobId);
    }
  }

  add(job: AvailableJob): void {
    this.#announced.set(job.jobId, (this.#announced.get(job.jobId) ?? 0) + 1);
    if (!this.#jobs.has(job.jobId)) {
      this.#jobs.set(job.jobId, job);
      this.#changed(job.jobId);
    }
    this.schedule();
  }

  forget(jobId: string): void {
    this.#announced.delete(jobId);
    if (this.#jobs.delete(jobId)) this.#changed(jobId);
  }

  /** `jobId` joined or left the list: its row follows within SAVE_AFTER_MS. */
  #changed(jobId: string): void {
    // Back where the storage has it (a job that came and went before the write): nothing to do.
    if (this.#jobs.has(jobId) === this.#saved.has(jobId)) this.#unsaved.delete(jobId);
    else this.#unsaved.add(jobId);
    if (this.#unsaved.size && this.#saveTimer === undefined) {
      this.#saveTimer = setTimeout(() => this.#save(), SAVE_AFTER_MS);
    }
  }

  #save(): void {
    this.#saveTimer = undefined;
    const sql = this.#ctx.storage.sql;
    const now = Date.now();
    const ids = [...this.#unsaved];
    try {
      this.#ctx.storage.transactionSync(() => {
        for (const jobId of ids) {
          const job = this.#jobs.get(jobId);
          if (job) {
            sql.exec(
              'INSERT OR REPLACE INTO available (job_id, job, since) VALUES (?, ?, ?)',
              jobId,
              JSON.stringify(job),
              now,
            );
          } else sql.exec('DELETE FROM available WHERE job_id = ?', jobId);
        }
      });
    } catch (error) {
      // Nothing was written: try again later (the rooms announce again meanwhile).
      console.error(`hub ${this.#shard}: writing the list of available jobs failed`, error);
      this.#saveTimer = setTimeout(() => this.#save(), SAVE_AFTER_MS);
      return;
    }
    for (const jobId of ids) {
      if (this.#jobs.has(jobId)) this.#saved.add(jobId);
      else this.#saved.delete(jobId);
      this.#unsaved.delete(jobId);
    }
  }

  get jobs(): number {
    return this.#jobs.size;
  }

  /** Run the loop now, or once more after the current round. */
  schedule(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#ctx.waitUntil(
      this.#loop()
        .catch((err: unknown) => console.error(`hub ${this.#shard}: dispatch failed`, err))
        .finally(() => {
          this.#running = false;
        }),
    );
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      while (await this.#round()) {
        // a round that leased something may leave room for more
      }
    } while (this.#again);
  }

  /** One pass over the jobs; true when something was leased. */
  async #round(): Promise<boolean> {
    const jobs = [...this.#jobs.values()];
    if (!jobs.length) return false;
    const needy = [...this.#sessions.nodes()].filter((s) => s.spare > 0);
    if (!needy.length) return false;
    this.#cursor = (this.#cursor + 1) % jobs.length;
    let leased = false;
    for (const job of [...jobs.slice(this.#cursor), ...jobs.slice(0, this.#cursor)]) {
      const nodes = needy.filter(
        (s) => s.spare > 0 && !s.closing && s.a.hello!.runtimes.includes(job.runtime),
      );
      if (!nodes.length) continue;
      const warm = (s: Session) => s.byJob.has(job.jobId) || this.#peers.holds(s.nodeId!, job.codeCid);
      nodes.sort((a, b) => Number(warm(b)) - Number(warm(a)));
      const requests: LeaseRequest[] = [];
      const asked: Session[] = [];
      let total = 0;
      for (const s of nodes) {
        if (total >= MAX_TASKS_PER_CALL) break;
        const max = Math.min(s.spare, limits.maxLeaseBatch);
        requests.push({ nodeId: s.nodeId!, max, established: s.established, voter: s.voter });
        asked.push(s);
        total += max;
      }
      const announced = this.#announced.get(job.jobId);
      const result = await jobRoom(this.#env, job.jobId).lease(requests);
      // An announcement that arrived while the room answered means work came back since.
      if (!result.more && this.#announced.get(job.jobId) === announced) this.forget(job.jobId);
      for (const [i, s] of asked.entries()) {
        const tasks = result.leases[i] ?? [];
        if (!tasks.length) continue;
        leased = true;
        await this.#deliver(s, job, tasks);
      }
      if (!needy.some((s) => s.spare > 0)) break;
    }
    return leased;
  }

  /** Send the leases to the node; leases it cannot receive go straight back, not its fault. */
  async #deliver(s: Session, job: AvailableJob, tasks: LeasedTask[]): Promise<void> {
    s.a.credit = Math.max(0, s.a.credit - tasks.length);
    s.save();
    this.#sessions.hold(
      s,
      tasks.map((t) => ({ leaseId: t.leaseId, jobId: t.jobId })),
    );
    const blobs = blobsOf(job, tasks);
    // Named as fetching before anyone is asked, so a node leased the blob meanwhile (here or on
    // another shard) finds this one.
    const since = this.#peers.fetching(s.nodeId!, blobs);
    // A peer that holds a blob whole needs no hints for it: only the blobs it is fetching are
    // looked up (a warm node's every delivery asked for its job's code, ~3 ms of the hub's time).
    const needed = since ? blobs.filter((cid) => since[cid] !== undefined) : blobs;
    const providers = needed.length ? await this.#providers(needed, s.nodeId!, since ?? {}) : {};
    const frame: HubToNode = {
      type: 'task.leased',
      tasks,
      ...(Object.keys(providers).length ? { providers } : {}),
    };
    if (!s.closing && s.ws.readyState === WebSocket.OPEN && sendJson(s.ws, frame)) {
      this.onLeased(s.nodeId!);
      return;
    }
    const ids = tasks.map((t) => t.leaseId);
    this.#sessions.release(s, ids);
    await jobRoom(this.#env, job.jobId).returnLeases(s.nodeId!, ids);
  }

  /**
   * Holders of each blob: this shard's, and for a blob nobody here holds, the other shards'
   * (asked once per `REMOTE_PROVIDERS_MS`), so the origin serves a blob about once for the whole
   * mesh rather than once per shard.
   */
  async #providers(
    cids: string[],
    nodeId: string,
    since: Record<string, number>,
  ): Promise<Record<string, PeerHint[]>> {
    const out = this.#peers.providers(cids, nodeId);
    const now = Date.now();
    // Fewer than two holders here: the other shards' too, so that one slow or departed peer does
    // not send the node to the origin.
    const missing = [...new Set(cids)].filter((c) => (out[c]?.length ?? 0) < MIN_PROVIDERS);
    // A known answer is reused; an empty one only briefly (a fetch may have started since).
    const fresh = (c: string) => {
      const known = this.#remote.get(c);
      return known && known.at > now - (known.hints.length ? REMOTE_PROVIDERS_MS : REMOTE_NONE_MS);
    };
    const ask = missing.filter((c) => !fresh(c));
    // Stubs for the other shards are made only when there is something to ask them: making one
    // hashes the shard's name, about a millisecond per delivery with two shards.
    const others = ask.length ? allHubs(this.#env).filter((_, shard) => shard !== this.#shard) : [];
    if (others.length) {
      const asker = {
        nodeId,
        since: Object.fromEntries(ask.flatMap((c) => (since[c] ? [[c, since[c]]] : []))),
      };
      const answers = await Promise.all(
        others.map((hub) => hub.providers(ask, asker).catch(() => ({}) as Record<string, PeerHint[]>)),
      );
      for (const cid of ask) {
        const hints = answers.flatMap((a) => a[cid] ?? []).slice(0, 8);
        // Fetchers that started before this node also started before the next node here.
        this.#remote.set(cid, { at: now, hints });
      }
      if (this.#remote.size > 4096) {
        for (const [cid, v] of this.#remote) if (v.at < now - REMOTE_PROVIDERS_MS) this.#remote.delete(cid);
      }
    }
    for (const cid of missing) {
      const local = out[cid] ?? [];
      const remote = (this.#remote.get(cid)?.hints ?? []).filter(
        (h) => !local.some((l) => l.peerId === h.peerId),
      );
      if (local.length + remote.length) out[cid] = [...local, ...remote].slice(0, MAX_PROVIDERS);
    }
    return out;
  }
}

/** The blobs a lease needs: the job's code and the tasks' `ipfs://` inputs. */
function blobsOf(job: AvailableJob, tasks: { input: unknown }[]): string[] {
  const cids = [job.codeCid];
  for (const { input } of tasks) {
    if (typeof input === 'string' && input.startsWith(IPFS_PREFIX))
      cids.push(input.slice(IPFS_PREFIX.length));
  }
  return cids;
}
