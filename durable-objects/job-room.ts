import { DurableObject } from 'cloudflare:workers';
import {
  type JobState,
  type JobStatus,
  type JsonValue,
  jsonCid,
  type LeasedTask,
  leaseTiming,
  limits,
  outcomeJson,
  parseCid,
  type ResultsPage,
  type RoomToWatcher,
  type Runtime,
  retryableErrors,
  type TaskBrief,
  type TaskCounts,
  type TaskError,
  type TaskOutcome,
  type TaskReceipt,
  type TaskResult,
  type TaskState,
  type TaskUpdate,
  WatcherToRoom,
} from '../protocol/index.ts';
import { broadcast } from './broadcast.ts';
import { receiptVerifier } from './receipt-verifier.ts';
import { account, type DoEnv, meshHub } from './stubs.ts';

/** What the Worker hands a new room: the validated spec with code already stored as a blob. */
export interface JobInit {
  id: string;
  owner: string;
  runtime: Runtime;
  codeCid: string;
  timeoutMs: number;
  maxAttempts: number;
  memoryMb: number;
  label?: string;
  /** Inputs serialized as JSON, one per task, in input order. */
  inputs: string[];
  hubShard: number;
}

interface JobMeta extends Omit<JobInit, 'inputs'> {
  total: number;
  state: JobState;
  createdAt: number;
  finishedAt?: number;
}

export interface LeaseResult {
  tasks: LeasedTask[];
  /** True while the job has tasks that can be leased right now. */
  more: boolean;
}

export interface ReportResult {
  accepted: number;
  /**
   * Ignored results, by what they say of the node: `rejected` ones came for a lease it held but
   * without a receipt that checks; `late` ones for a lease it no longer held (expired, returned,
   * cancelled, finished, or never its own).
   */
  rejected: number;
  late: number;
  /** Task time the accepted results report (each at most the job's `timeoutMs`), in ms. */
  cpuMs: number;
  ignored: { jobId: string; index: number; reason: string }[];
  more: boolean;
}

/** Who sent a batch of results, as the hub knows it from the node's hello. */
export interface ResultSigner {
  /** The node's libp2p Ed25519 peer id; without one no result counts. */
  peerId?: string;
  /** The node's runtime fingerprint class, part of what it signs. */
  fingerprintClass?: string;
}

export interface CancelResult {
  status: JobStatus;
  revoked: { nodeId: string; leaseId: string }[];
}

type TaskRow = {
  idx: number;
  state: TaskState;
  attempts: number;
  lease_id: string | null;
  node_id: string | null;
};

/** What `#checkReceipts` found for one outcome: its JSON text and either its receipt or why it does not count. */
type ReceiptCheck = { attempt: number; json: string } & ({ receipt: TaskReceipt } | { reason: string });

/** Two CID strings name the same CID, whatever their multibase. */
const sameCid = (a: string, b: string) => a === b || (parseCid(a)?.equals(parseCid(b)) ?? false);
const emptyCounts = (): TaskCounts => ({ pending: 0, leased: 0, succeeded: 0, failed: 0, cancelled: 0 });
const terminal = (s: TaskState) => s === 'succeeded' || s === 'failed' || s === 'cancelled';
const backoffMs = (attempt: number) => Math.min(250 * 2 ** Math.max(0, attempt - 1), 10_000);
const truncateLogs = (logs: string) =>
  logs.length <= limits.maxLogBytes ? logs : `${logs.slice(0, limits.maxLogBytes)}…[truncated]`;

/**
 * One job: its spec, one SQLite row per task, leases, results and watchers.
 *
 * Lifecycle: `init` stores the tasks and registers the job with its MeshHub shard. The hub calls
 * `lease` for nodes with free capacity and `report` with their results; a result counts only if
 * it carries the task's current lease id, so duplicates and late results are ignored. Leases
 * live `leaseTtlMs` unless a node heartbeat `extend`s them; the alarm expires the others and
 * puts their tasks back (with backoff) until `maxAttempts`. Every change is broadcast to the
 * watchers (hibernatable WebSockets), who first get a snapshot.
 */
export class JobRoom extends DurableObject<DoEnv> {
  #meta: JobMeta | undefined;
  #counts: TaskCounts | undefined;
  #alarmAt: number | undefined;
  /** Order in which tasks reached a final state, for results in completion order. */
  #doneSeq = 0;

  constructor(ctx: DurableObjectState, env: DoEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS tasks (
        idx INTEGER PRIMARY KEY,
        state TEXT NOT NULL,
        input TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_id TEXT,
        node_id TEXT,
        lease_expires INTEGER,
        not_before INTEGER NOT NULL DEFAULT 0,
        output TEXT,
        error TEXT,
        logs TEXT,
        duration_ms REAL,
        reason TEXT,
        done_seq INTEGER,
        receipt TEXT
      );
      CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state, not_before, idx);
      CREATE INDEX IF NOT EXISTS tasks_by_node ON tasks (node_id) WHERE state = 'leased';
      CREATE INDEX IF NOT EXISTS tasks_by_done ON tasks (done_seq) WHERE done_seq IS NOT NULL;
    `);
    // Rooms created before receipts existed (a persisted local state) get the column now.
    const columns = ctx.storage.sql
      .exec<{ name: string }>(`SELECT name FROM pragma_table_info('tasks')`)
      .toArray();
    if (!columns.some((c) => c.name === 'receipt'))
      ctx.storage.sql.exec('ALTER TABLE tasks ADD COLUMN receipt TEXT');
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
  }

  // ---- creation -------------------------------------------------------------------------------

  /** Store the job and its tasks, then tell the hub there is work. */
  async init(init: JobInit): Promise<JobStatus> {
    if (this.#load()) throw new Error(`job ${init.id} already exists`);
    const { inputs, ...rest } = init;
    const meta: JobMeta = { ...rest, total: inputs.length, state: 'running', createdAt: Date.now() };
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec('INSERT INTO meta (k, v) VALUES (?, ?)', 'job', JSON.stringify(meta));
      inputs.forEach((input, idx) => {
        this.ctx.storage.sql.exec(
          'INSERT INTO tasks (idx, state, input) VALUES (?, ?, ?)',
          idx,
          'pending',
          input,
        );
      });
    });
    this.#meta = meta;
    this.#counts = { ...emptyCounts(), pending: inputs.length };
    await meshHub(this.env, meta.hubShard).jobAvailable(meta.id, meta.runtime, meta.codeCid);
    return this.#status();
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** Status with per-state counts, or null when no job lives here. */
  status(): JobStatus | null {
    return this.#load() ? this.#status() : null;
  }

  /**
   * A page of results. In `index` order the page starts at task index `cursor`; in `completion`
   * order it holds finished tasks in the order they finished, after completion sequence `cursor`
   * (0 for the start), and `nextCursor` continues from the last one.
   */
  results(
    cursor: number,
    limit: number,
    waiting?: string,
    order: 'index' | 'completion' = 'index',
  ): ResultsPage | null {
    const meta = this.#load();
    if (!meta) return null;
    const byCompletion = order === 'completion';
    const rows = this.ctx.storage.sql
      .exec<{
        idx: number;
        state: TaskState;
        attempts: number;
        node_id: string | null;
        output: string | null;
        error: string | null;
        logs: string | null;
        duration_ms: number | null;
        not_before: number;
        reason: string | null;
        done_seq: number | null;
        receipt: string | null;
      }>(
        `SELECT idx, state, attempts, node_id, output, error, logs, duration_ms, not_before, reason, done_seq, receipt
         FROM tasks WHERE ${byCompletion ? 'done_seq > ? ORDER BY done_seq' : 'idx >= ? ORDER BY idx'} LIMIT ?`,
        cursor,
        limit,
      )
      .toArray();
    const now = Date.now();
    const results = rows.map((r): TaskResult => {
      const result: TaskResult = { index: r.idx, state: r.state, attempts: r.attempts };
      if (r.node_id) result.nodeId = r.node_id;
      if (r.output !== null) result.output = JSON.parse(r.output) as JsonValue;
      if (r.error !== null) result.error = JSON.parse(r.error) as TaskError;
      if (r.logs) result.logs = r.logs;
      if (r.duration_ms !== null) result.durationMs = r.duration_ms;
      if (r.receipt !== null) result.receipt = JSON.parse(r.receipt) as TaskReceipt;
      if (r.state === 'pending') {
        result.waiting =
          r.not_before > now
            ? `retry ${r.attempts + 1} of ${meta.maxAttempts} after ${r.reason ?? 'a failure'}, not before ${new Date(r.not_before).toISOString()}`
            : (waiting ?? 'waiting for a node');
      }
      return result;
    });
    const last = rows.at(-1);
    const page: ResultsPage = { jobId: meta.id, state: meta.state, total: meta.total, results };
    if (byCompletion) page.nextCursor = last?.done_seq ?? cursor;
    else if (last && last.idx + 1 < meta.total) page.nextCursor = last.idx + 1;
    return page;
  }

  // ---- dispatch (called by the MeshHub) ---------------------------------------------------------

  /** Lease up to `max` runnable tasks to `nodeId`. */
  async lease(nodeId: string, max: number): Promise<LeaseResult> {
    const meta = this.#load();
    if (meta?.state !== 'running') return { tasks: [], more: false };
    const now = Date.now();
    const expiresAt = now + leaseTiming.leaseTtlMs;
    const n = Math.max(0, Math.min(max, limits.maxLeaseBatch));
    const tasks: LeasedTask[] = [];
    const updates: TaskUpdate[] = [];
    this.ctx.storage.transactionSync(() => {
      const rows = this.ctx.storage.sql
        .exec<{ idx: number; input: string; attempts: number }>(
          `SELECT idx, input, attempts FROM tasks WHERE state = 'pending' AND not_before <= ? ORDER BY idx LIMIT ?`,
          now,
          n,
        )
        .toArray();
      for (const row of rows) {
        const leaseId = crypto.randomUUID();
        const attempt = row.attempts + 1;
        this.ctx.storage.sql.exec(
          `UPDATE tasks SET state = 'leased', lease_id = ?, node_id = ?, lease_expires = ?, attempts = ?,
           reason = NULL WHERE idx = ?`,
          leaseId,
          nodeId,
          expiresAt,
          attempt,
          row.idx,
        );
        this.#move('pending', 'leased');
        tasks.push({
          jobId: meta.id,
          index: row.idx,
          leaseId,
          attempt,
          runtime: meta.runtime,
          codeCid: meta.codeCid,
          input: JSON.parse(row.input) as JsonValue,
          timeoutMs: meta.timeoutMs,
          memoryMb: meta.memoryMb,
          seed: `${meta.id}:${row.idx}`,
          clock: meta.createdAt,
          expiresAt,
        });
        updates.push({ index: row.idx, state: 'leased', attempt, nodeId });
      }
    });
    if (tasks.length) {
      this.#broadcast({ type: 'tasks.updated', updates, counts: this.#counts! });
      await this.#armAlarm(expiresAt);
    }
    return { tasks, more: this.#runnableNow(now) };
  }

  /**
   * Accept results. Only a result carrying the task's current lease counts, and only with a
   * receipt that the node's key (`signer.peerId`) signed over what this room knows of the task;
   * the rest are ignored, each with its reason.
   */
  async report(nodeId: string, outcomes: TaskOutcome[], signer: ResultSigner = {}): Promise<ReportResult> {
    const meta = this.#load();
    const ignored: ReportResult['ignored'] = [];
    if (!meta) {
      return {
        accepted: 0,
        rejected: 0,
        late: outcomes.length,
        cpuMs: 0,
        ignored: outcomes.map((o) => ({ jobId: o.jobId, index: o.index, reason: 'unknown job' })),
        more: false,
      };
    }
    // Receipts are checked first, outside the transaction (WebCrypto is asynchronous); the
    // transaction then checks the lease again, so a lease that changed meanwhile still fails.
    const checked = await this.#checkReceipts(meta, nodeId, outcomes, signer);
    const now = Date.now();
    const updates: TaskUpdate[] = [];
    let accepted = 0;
    let rejected = 0;
    let late = 0;
    let cpuMs = 0;
    let requeued = false;
    this.ctx.storage.transactionSync(() => {
      for (const o of outcomes) {
        const row = this.ctx.storage.sql
          .exec<TaskRow>('SELECT idx, state, attempts, lease_id, node_id FROM tasks WHERE idx = ?', o.index)
          .toArray()[0];
        const check = checked.get(o);
        // Not (or no longer) this node's lease: late. Its lease, but a receipt that fails: rejected.
        const gone = !row
          ? 'unknown task'
          : terminal(row.state)
            ? `task is already ${row.state}`
            : row.state !== 'leased' ||
                row.lease_id !== o.leaseId ||
                row.node_id !== nodeId ||
                !check ||
                check.attempt !== row.attempts
              ? 'lease is no longer valid'
              : undefined;
        if (gone || !row || !check) {
          late++;
          ignored.push({ jobId: meta.id, index: o.index, reason: gone ?? 'lease is no longer valid' });
          continue;
        }
        if ('reason' in check) {
          rejected++;
          ignored.push({ jobId: meta.id, index: o.index, reason: check.reason });
          continue;
        }
        accepted++;
        cpuMs += Math.min(o.durationMs, meta.timeoutMs);
        const logs = truncateLogs(o.logs);
        const receipt = JSON.stringify(check.receipt);
        let outcome: TaskOutcome = o;
        const output = o.ok ? check.json : undefined;
        if (o.ok && check.json.length > limits.maxOutputBytes) {
          outcome = {
            ...o,
            ok: false,
            error: {
              kind: 'output_invalid',
              message: `output is ${check.json.length} bytes as JSON; the limit is ${limits.maxOutputBytes}`,
            },
          };
        }
        if (outcome.ok) {
          this.ctx.storage.sql.exec(
            `UPDATE tasks SET state = 'succeeded', output = ?, logs = ?, duration_ms = ?, lease_id = NULL,
             lease_expires = NULL, error = NULL, receipt = ?, done_seq = ? WHERE idx = ?`,
            output!,
            logs,
            o.durationMs,
            receipt,
            ++this.#doneSeq,
            o.index,
          );
          this.#move('leased', 'succeeded');
          updates.push({
            index: o.index,
            state: 'succeeded',
            attempt: row.attempts,
            nodeId,
            durationMs: o.durationMs,
          });
        } else {
          const update = this.#failOrRetry(row, outcome.error, now, {
            logs,
            durationMs: o.durationMs,
            receipt,
          });
          if (update.state === 'pending') requeued = true;
          updates.push(update);
        }
      }
    });
    if (updates.length) this.#broadcast({ type: 'tasks.updated', updates, counts: this.#counts! });
    await this.#afterChange(requeued);
    return { accepted, rejected, late, cpuMs, ignored, more: this.#runnableNow(now) };
  }

  /**
   * Check the receipt of every outcome whose lease is still current: the room rebuilds the signed
   * bytes from its own copy of the lease, the stored input and the output it received, so a
   * receipt for anything else (another output, another input, another key) does not verify.
   * Outcomes whose lease is already gone are left out; the transaction ignores them.
   */
  async #checkReceipts(
    meta: JobMeta,
    nodeId: string,
    outcomes: TaskOutcome[],
    signer: ResultSigner,
  ): Promise<Map<TaskOutcome, ReceiptCheck>> {
    const checked = new Map<TaskOutcome, ReceiptCheck>();
    const current: { o: TaskOutcome; attempt: number; input: string }[] = [];
    for (const o of outcomes) {
      const row = this.ctx.storage.sql
        .exec<{ attempts: number; input: string }>(
          `SELECT attempts, input FROM tasks WHERE idx = ? AND state = 'leased' AND lease_id = ? AND node_id = ?`,
          o.index,
          o.leaseId,
          nodeId,
        )
        .toArray()[0];
      if (row) current.push({ o, attempt: row.attempts, input: row.input });
    }
    if (!current.length) return checked;
    const verifier = signer.peerId
      ? await receiptVerifier(signer.peerId)
      : new Error('the node sent no peerId in node.hello');
    await Promise.all(
      current.map(async ({ o, attempt, input }) => {
        const json = outcomeJson(o);
        const fail = (reason: string) => checked.set(o, { attempt, json, reason });
        if (verifier instanceof Error) return fail(`result is not signed: ${verifier.message}`);
        if (!o.receipt) return fail('result is not signed (no receipt)');
        // The stored input text is the JSON.stringify of the input as decoded: what the node hashed.
        const [inputCid, outputHash] = await Promise.all([jsonCid(input), jsonCid(json)]);
        if (!sameCid(o.receipt.inputCid, inputCid)) {
          return fail(`receipt is for another input (${o.receipt.inputCid})`);
        }
        if (!sameCid(o.receipt.outputHash, outputHash)) {
          return fail(`receipt is for another ${o.ok ? 'output' : 'error'} (${o.receipt.outputHash})`);
        }
        const fields = {
          jobId: meta.id,
          index: o.index,
          attempt,
          leaseId: o.leaseId,
          codeCid: meta.codeCid,
          inputCid,
          ok: o.ok,
          outputHash,
          ...(signer.fingerprintClass ? { fingerprintClass: signer.fingerprintClass } : {}),
        };
        if (!(await verifier.verify(fields, o.receipt.signature))) {
          return fail(`receipt signature does not verify for peer ${verifier.peerId}`);
        }
        checked.set(o, {
          attempt,
          json,
          receipt: { ...fields, peerId: verifier.peerId, signature: o.receipt.signature },
        });
      }),
    );
    return checked;
  }

  /** Heartbeat: extend the leases `nodeId` still holds. */
  async extend(nodeId: string, leaseIds: string[]): Promise<number> {
    if (!this.#load() || leaseIds.length === 0) return 0;
    const expiresAt = Date.now() + leaseTiming.leaseTtlMs;
    let extended = 0;
    this.ctx.storage.transactionSync(() => {
      for (const leaseId of leaseIds) {
        extended += this.ctx.storage.sql.exec(
          `UPDATE tasks SET lease_expires = ? WHERE lease_id = ? AND node_id = ? AND state = 'leased'`,
          expiresAt,
          leaseId,
          nodeId,
        ).rowsWritten;
      }
    });
    if (extended) await this.#armAlarm(expiresAt);
    return extended;
  }

  /** A node went away: put everything it held back in the queue now rather than at lease expiry. */
  async releaseNode(nodeId: string, reason: string): Promise<number> {
    if (!this.#load()) return 0;
    const now = Date.now();
    const rows = this.ctx.storage.sql
      .exec<TaskRow>(
        `SELECT idx, state, attempts, lease_id, node_id FROM tasks WHERE state = 'leased' AND node_id = ?`,
        nodeId,
      )
      .toArray();
    return this.#expire(rows, reason, now);
  }

  /**
   * The node gives back leases it has not started (it paused): their tasks are pending again at
   * once, without a backoff and without counting the attempt. Only leases `nodeId` holds now are
   * taken back; the others are left as they are. Returns how many went back.
   */
  async returnLeases(nodeId: string, leaseIds: string[]): Promise<number> {
    const meta = this.#load();
    if (meta?.state !== 'running' || leaseIds.length === 0) return 0;
    const wanted = new Set(leaseIds);
    const updates: TaskUpdate[] = [];
    this.ctx.storage.transactionSync(() => {
      const held = this.ctx.storage.sql
        .exec<{ idx: number; attempts: number; lease_id: string }>(
          `SELECT idx, attempts, lease_id FROM tasks WHERE state = 'leased' AND node_id = ?`,
          nodeId,
        )
        .toArray();
      for (const row of held) {
        if (!wanted.has(row.lease_id)) continue;
        const attempts = Math.max(0, row.attempts - 1);
        this.ctx.storage.sql.exec(
          `UPDATE tasks SET state = 'pending', lease_id = NULL, lease_expires = NULL, node_id = NULL,
           not_before = 0, reason = NULL, attempts = ? WHERE idx = ?`,
          attempts,
          row.idx,
        );
        this.#move('leased', 'pending');
        updates.push({
          index: row.idx,
          state: 'pending',
          attempt: attempts,
          reason: 'returned unstarted by its node',
        });
      }
    });
    if (!updates.length) return 0;
    this.#broadcast({ type: 'tasks.updated', updates, counts: this.#counts! });
    await meshHub(this.env, meta.hubShard).jobAvailable(meta.id, meta.runtime, meta.codeCid);
    return updates.length;
  }

  /** Cancel: every pending or leased task becomes `cancelled` and the hub revokes the leases. */
  async cancel(): Promise<CancelResult | null> {
    const meta = this.#load();
    if (!meta) return null;
    if (meta.state !== 'running') return { status: this.#status(), revoked: [] };
    const revoked: CancelResult['revoked'] = [];
    const updates: TaskUpdate[] = [];
    this.ctx.storage.transactionSync(() => {
      const rows = this.ctx.storage.sql
        .exec<TaskRow>(
          `SELECT idx, state, attempts, lease_id, node_id FROM tasks WHERE state IN ('pending', 'leased')`,
        )
        .toArray();
      for (const row of rows) {
        if (row.state === 'leased' && row.node_id && row.lease_id) {
          revoked.push({ nodeId: row.node_id, leaseId: row.lease_id });
        }
        this.#move(row.state, 'cancelled');
        updates.push({ index: row.idx, state: 'cancelled', attempt: row.attempts });
        this.ctx.storage.sql.exec(
          `UPDATE tasks SET state = 'cancelled', lease_id = NULL, lease_expires = NULL, done_seq = ? WHERE idx = ?`,
          ++this.#doneSeq,
          row.idx,
        );
      }
    });
    this.#broadcast({ type: 'tasks.updated', updates, counts: this.#counts! });
    await this.#finish('cancelled', revoked);
    return { status: this.#status(), revoked };
  }

  // ---- watchers -------------------------------------------------------------------------------

  /** `GET /jobs/:id/events`, already authorized by the Worker: upgrade and send a snapshot. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      return new Response('expected a WebSocket upgrade', { status: 426 });
    }
    const meta = this.#load();
    if (!meta) return new Response('no such job', { status: 404 });
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    const tasks = this.ctx.storage.sql
      .exec<{ idx: number; state: TaskState; attempts: number }>(
        'SELECT idx, state, attempts FROM tasks ORDER BY idx',
      )
      .toArray()
      .map((r): TaskBrief => [r.idx, r.state, r.attempts]);
    server.send(JSON.stringify({ type: 'job.snapshot', job: this.#status(), tasks } satisfies RoomToWatcher));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Pings are answered by the auto-response without waking us; anything else is a mistake.
    let parsed: unknown;
    try {
      parsed = typeof message === 'string' ? JSON.parse(message) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!WatcherToRoom.safeParse(parsed).success) {
      ws.send(
        JSON.stringify({
          type: 'error',
          code: 'bad_message',
          message: 'watchers only send {"type":"ping"}; events flow from the server',
        } satisfies RoomToWatcher),
      );
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 ? 1000 : code, 'closing');
    } catch {
      // already closed
    }
  }

  // ---- alarms: lease expiry and retry wake-ups ----------------------------------------------------

  override async alarm(): Promise<void> {
    this.#alarmAt = undefined;
    try {
      const meta = this.#load();
      if (meta?.state !== 'running') return;
      const now = Date.now();
      const expired = this.ctx.storage.sql
        .exec<TaskRow>(
          `SELECT idx, state, attempts, lease_id, node_id FROM tasks WHERE state = 'leased' AND lease_expires <= ?`,
          now,
        )
        .toArray();
      if (expired.length) await this.#expire(expired, 'lease expired', now);
      // Tasks whose retry backoff just ended are runnable again: tell the hub.
      if (this.#runnableNow(Date.now()))
        await meshHub(this.env, meta.hubShard).jobAvailable(meta.id, meta.runtime, meta.codeCid);
    } finally {
      await this.#rearm();
    }
  }

  // ---- internals --------------------------------------------------------------------------------

  #load(): JobMeta | undefined {
    if (this.#meta) return this.#meta;
    const row = this.ctx.storage.sql.exec<{ v: string }>(`SELECT v FROM meta WHERE k = 'job'`).toArray()[0];
    if (!row) return undefined;
    this.#meta = JSON.parse(row.v) as JobMeta;
    const counts = emptyCounts();
    for (const r of this.ctx.storage.sql
      .exec<{ state: TaskState; n: number }>('SELECT state, COUNT(*) AS n FROM tasks GROUP BY state')
      .toArray()) {
      counts[r.state] = r.n;
    }
    this.#counts = counts;
    this.#doneSeq =
      this.ctx.storage.sql.exec<{ s: number | null }>('SELECT MAX(done_seq) AS s FROM tasks').toArray()[0]
        ?.s ?? 0;
    return this.#meta;
  }

  #status(): JobStatus {
    const m = this.#meta!;
    const status: JobStatus = {
      id: m.id,
      owner: m.owner,
      state: m.state,
      runtime: m.runtime,
      codeCid: m.codeCid,
      total: m.total,
      counts: { ...this.#counts! },
      timeoutMs: m.timeoutMs,
      maxAttempts: m.maxAttempts,
      memoryMb: m.memoryMb,
      createdAt: m.createdAt,
    };
    if (m.label !== undefined) status.label = m.label;
    if (m.finishedAt !== undefined) status.finishedAt = m.finishedAt;
    return status;
  }

  #move(from: TaskState, to: TaskState) {
    const c = this.#counts!;
    c[from]--;
    c[to]++;
  }

  #runnableNow(now: number): boolean {
    if (this.#meta?.state !== 'running' || !this.#counts?.pending) return false;
    return (
      this.ctx.storage.sql
        .exec(`SELECT 1 FROM tasks WHERE state = 'pending' AND not_before <= ? LIMIT 1`, now)
        .toArray().length > 0
    );
  }

  /** Leased task that failed: back to pending with backoff if the failure is retryable and attempts remain. */
  #failOrRetry(
    row: TaskRow,
    error: TaskError,
    now: number,
    extra: { logs?: string; durationMs?: number; receipt?: string },
  ): TaskUpdate {
    const meta = this.#meta!;
    const retry = retryableErrors.has(error.kind) && row.attempts < meta.maxAttempts;
    if (retry) {
      const notBefore = now + backoffMs(row.attempts);
      this.ctx.storage.sql.exec(
        `UPDATE tasks SET state = 'pending', lease_id = NULL, lease_expires = NULL, not_before = ?, reason = ?,
         node_id = NULL WHERE idx = ?`,
        notBefore,
        error.message,
        row.idx,
      );
      this.#move('leased', 'pending');
      return { index: row.idx, state: 'pending', attempt: row.attempts, reason: error.message };
    }
    const finalError: TaskError = retryableErrors.has(error.kind)
      ? { ...error, message: `${error.message} (gave up after ${row.attempts} attempts)` }
      : error;
    this.ctx.storage.sql.exec(
      `UPDATE tasks SET state = 'failed', error = ?, logs = ?, duration_ms = ?, lease_id = NULL, lease_expires = NULL,
       receipt = ?, done_seq = ? WHERE idx = ?`,
      JSON.stringify(finalError),
      extra.logs ?? null,
      extra.durationMs ?? null,
      extra.receipt ?? null,
      ++this.#doneSeq,
      row.idx,
    );
    this.#move('leased', 'failed');
    const update: TaskUpdate = { index: row.idx, state: 'failed', attempt: row.attempts, error: finalError };
    if (row.node_id) update.nodeId = row.node_id;
    return update;
  }

  /** Expire the given leases (lease timeout or node gone). */
  async #expire(rows: TaskRow[], reason: string, now: number): Promise<number> {
    if (!rows.length) return 0;
    const updates: TaskUpdate[] = [];
    let requeued = false;
    this.ctx.storage.transactionSync(() => {
      for (const row of rows) {
        const update = this.#failOrRetry(row, { kind: 'lease_expired', message: reason }, now, {});
        if (update.state === 'pending') requeued = true;
        updates.push(update);
      }
    });
    this.#broadcast({ type: 'tasks.updated', updates, counts: this.#counts! });
    await this.#afterChange(requeued);
    return rows.length;
  }

  /** After results or expiries: finish the job when nothing is left, or wake the retry timer. */
  async #afterChange(requeued: boolean): Promise<void> {
    const meta = this.#meta!;
    const c = this.#counts!;
    if (meta.state === 'running' && c.pending === 0 && c.leased === 0) {
      await this.#finish(c.failed > 0 ? 'failed' : 'succeeded', []);
    } else if (requeued) {
      await this.#rearm();
    }
  }

  async #finish(state: JobState, revoked: CancelResult['revoked']): Promise<void> {
    const meta = this.#meta!;
    meta.state = state;
    meta.finishedAt = Date.now();
    this.ctx.storage.sql.exec(`UPDATE meta SET v = ? WHERE k = 'job'`, JSON.stringify(meta));
    this.#broadcast({ type: 'job.finished', state, counts: this.#counts!, finishedAt: meta.finishedAt });
    await this.ctx.storage.deleteAlarm();
    this.#alarmAt = undefined;
    const hub = meshHub(this.env, meta.hubShard);
    await Promise.all([
      hub.jobGone(meta.id, revoked, state === 'cancelled' ? 'job cancelled' : `job ${state}`),
      account(this.env, meta.owner).jobFinished(meta.id, state),
    ]);
  }

  /** Make sure an alarm fires by `at`. */
  async #armAlarm(at: number): Promise<void> {
    if (this.#alarmAt !== undefined && this.#alarmAt <= at) return;
    const current = await this.ctx.storage.getAlarm();
    if (current !== null && current <= at) {
      this.#alarmAt = current;
      return;
    }
    await this.ctx.storage.setAlarm(at);
    this.#alarmAt = at;
  }

  /** Set the alarm to the next lease expiry or retry time, whichever comes first. */
  async #rearm(): Promise<void> {
    if (this.#meta?.state !== 'running') return;
    const now = Date.now();
    const row = this.ctx.storage.sql
      .exec<{ at: number | null }>(
        `SELECT MIN(at) AS at FROM (
           SELECT MIN(lease_expires) AS at FROM tasks WHERE state = 'leased'
           UNION ALL
           SELECT MIN(not_before) AS at FROM tasks WHERE state = 'pending' AND not_before > ?
         )`,
        now,
      )
      .toArray()[0];
    if (row?.at == null) return;
    this.#alarmAt = undefined;
    await this.ctx.storage.setAlarm(Math.max(row.at, now + 1));
    this.#alarmAt = Math.max(row.at, now + 1);
  }

  /** Send to every watcher; sockets that fail are closed after the loop. */
  #broadcast(message: RoomToWatcher): void {
    const sockets = this.ctx.getWebSockets();
    if (!sockets.length) return;
    broadcast(sockets, [JSON.stringify(message)]);
  }
}
