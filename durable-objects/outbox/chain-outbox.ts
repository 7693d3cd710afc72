import { DurableObject } from 'cloudflare:workers';
import {
  BaseError,
  bytesToHex,
  encodeFunctionData,
  type Hex,
  hexToBytes,
  keccak256,
  parseEventLogs,
} from 'viem';
import { monadMeshRegistryAbi } from '../../contracts/abi.ts';
import { hexTree, type JobLeaf, jobLeafHash } from '../../protocol/anchor.ts';
import { migrate } from '../migrations.ts';
import type { AnchorEntry, AnchorRecord, ChainOutboxApi, DoEnv, FlushReport, OutboxStatus } from '../rpc.ts';
import { type ChainConfig, type ChainEnv, chainClients, chainConfig, relayerOf } from './chain.ts';

/**
 * One shard of the anchoring queue (finished jobs are spread over `ANCHOR_SHARDS` shards by job
 * id, so no object sits on every job's path, and submitting never waits on any of them).
 *
 * A finished job's room `enqueue`s its leaf. The cron's `flush` takes up to `ANCHOR_BATCH_MAX`
 * queued leaves, builds their RFC 9162 tree and, in one SQLite transaction, records the batch as
 * `prepared` (root, members) and takes its jobs off the queue: from then on the batch is the unit
 * of work, and nothing about it is decided by memory. Then it commits the root with viem and
 * records the transaction (`sent`), waits for the receipt, and marks it `anchored`.
 *
 * Idempotent by construction: before sending, the shard asks the registry whether the root is
 * already committed (`batch(root)`); the registry refuses a root twice (`DuplicateRoot`). So a
 * crash or retried cron after the send, before the record, finds the root on-chain and takes its
 * transaction from the `BatchCommitted` log instead of sending again; a batch whose transaction
 * was dropped is sent again. Failures (RPC unreachable, a relayer without funds) are recorded
 * for `GET /health` and retried on a later run with backoff (2 s doubling to 5 min); nothing
 * leaves the queue except into a batch, and no batch is dropped.
 */

const BACKOFF_BASE_MS = 2_000;
const BACKOFF_MAX_MS = 300_000;
/** Batches one run sends at most, one after another (a cron run has a bounded time). */
const MAX_BATCHES_PER_RUN = 8;
/** How long a run waits for a sent transaction's receipt before leaving it to the next run. */
const RECEIPT_TIMEOUT_MS = 30_000;

const SCHEMA = `
  CREATE TABLE queue (
    job_id TEXT PRIMARY KEY, version INTEGER NOT NULL, leaf TEXT NOT NULL, leaf_hash TEXT NOT NULL,
    queued_at INTEGER NOT NULL
  );
  CREATE INDEX queue_by_time ON queue (queued_at);
  CREATE TABLE batches (
    root TEXT PRIMARY KEY, size INTEGER NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL,
    tx_hash TEXT, raw_tx TEXT, sent_at INTEGER, block INTEGER, anchored_at INTEGER, chain_id INTEGER,
    registry TEXT
  );
  CREATE INDEX batches_open ON batches (state) WHERE state != 'anchored';
  CREATE TABLE members (
    root TEXT NOT NULL, idx INTEGER NOT NULL, job_id TEXT NOT NULL, version INTEGER NOT NULL,
    leaf TEXT NOT NULL, leaf_hash TEXT NOT NULL,
    PRIMARY KEY (root, idx)
  );
  CREATE INDEX members_by_job ON members (job_id, version);
  CREATE TABLE state (k TEXT PRIMARY KEY, v TEXT NOT NULL);
`;

interface BatchRow {
  root: string;
  size: number;
  state: 'prepared' | 'sent' | 'anchored';
  created_at: number;
  tx_hash: string | null;
  /** The signed transaction, kept so a run that died before broadcasting it can send the same one. */
  raw_tx: string | null;
  sent_at: number | null;
  [key: string]: SqlStorageValue;
}

interface RunState {
  attempts: number;
  retryAt?: number;
  lastError?: string;
  lastErrorAt?: number;
  lastAnchoredAt?: number;
}

/** A short, actionable message for a failed chain call. */
export function chainErrorMessage(error: unknown, relayer?: string): string {
  const base = error instanceof BaseError ? error : undefined;
  const text = `${base?.shortMessage ?? (error as Error)?.message ?? String(error)}`;
  const all = `${text} ${base?.details ?? ''} ${(error as Error)?.message ?? ''}`;
  if (/insufficient funds|InsufficientFunds/i.test(all)) {
    return `the relayer ${relayer ?? ''} has too little to pay for gas: fund it (${text})`;
  }
  if (/NotRelayer/.test(all)) {
    return `the registry does not allow the relayer ${relayer ?? ''}: its owner must call setRelayer`;
  }
  if (/fetch failed|ECONNREFUSED|HTTP request failed|timed out|Timeout|network/i.test(all)) {
    // Not the URL itself: a relayer's RPC URL may carry a key (RELAYER_RPC_URL), and health is public.
    return `the chain's RPC is unreachable: ${text.replace(/https?:\/\/\S+/g, '<rpc>')}`;
  }
  return text.slice(0, 500);
}

export class ChainOutbox extends DurableObject<DoEnv & ChainEnv> implements ChainOutboxApi {
  /** The run in progress: runs of one shard never overlap (a cron may fire while one waits). */
  #running: Promise<FlushReport> | undefined;

  constructor(ctx: DurableObjectState, env: DoEnv & ChainEnv) {
    super(ctx, env);
    migrate(ctx.storage, 'outbox', [(sql) => sql.exec(SCHEMA)]);
  }

  // ---- the queue ---------------------------------------------------------------------------------

  enqueue(entry: AnchorEntry): void {
    const sql = this.ctx.storage.sql;
    const leafHash = bytesToHex(jobLeafHash(entry.leaf));
    const newest = sql
      .exec<{ leaf_hash: string; version: number }>(
        'SELECT leaf_hash, version FROM members WHERE job_id = ? ORDER BY version DESC LIMIT 1',
        entry.jobId,
      )
      .toArray()[0];
    // A version no newer than one already batched arrives late: it changes nothing.
    if (newest && newest.version >= entry.version) return;
    // The job came back to exactly what is batched (verified again, same outcome): nothing to add,
    // and an intermediate version still queued is out of date.
    if (newest && newest.leaf_hash === leafHash) {
      sql.exec('DELETE FROM queue WHERE job_id = ?', entry.jobId);
      return;
    }
    sql.exec(
      `INSERT INTO queue (job_id, version, leaf, leaf_hash, queued_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (job_id) DO UPDATE SET version = excluded.version, leaf = excluded.leaf,
         leaf_hash = excluded.leaf_hash
       WHERE excluded.version > queue.version`,
      entry.jobId,
      entry.version,
      JSON.stringify(entry.leaf),
      leafHash,
      Date.now(),
    );
  }

  anchorOf(jobId: string): AnchorRecord | { state: 'queued' | 'sending'; since: number } | null {
    const sql = this.ctx.storage.sql;
    const member = sql
      .exec<{ root: string; idx: number; version: number; leaf: string; leaf_hash: string; state: string }>(
        `SELECT m.root, m.idx, m.version, m.leaf, m.leaf_hash, b.state FROM members m JOIN batches b ON b.root = m.root
         WHERE m.job_id = ? AND b.state = 'anchored' ORDER BY m.version DESC LIMIT 1`,
        jobId,
      )
      .toArray()[0];
    const queued = sql
      .exec<{ queued_at: number }>('SELECT queued_at FROM queue WHERE job_id = ?', jobId)
      .toArray()[0];
    const sending = sql
      .exec<{ created_at: number; version: number }>(
        `SELECT b.created_at, m.version FROM members m JOIN batches b ON b.root = m.root
         WHERE m.job_id = ? AND b.state != 'anchored' ORDER BY m.version DESC LIMIT 1`,
        jobId,
      )
      .toArray()[0];
    // The newest anchored version answers; a newer one still waiting is anchored by a later batch.
    if (member) {
      const batch = sql
        .exec<{
          size: number;
          tx_hash: string;
          block: number;
          anchored_at: number;
          chain_id: number;
          registry: string;
        }>(
          'SELECT size, tx_hash, block, anchored_at, chain_id, registry FROM batches WHERE root = ?',
          member.root,
        )
        .one();
      const leaves = sql
        .exec<{ leaf_hash: string }>('SELECT leaf_hash FROM members WHERE root = ? ORDER BY idx', member.root)
        .toArray()
        .map((r) => hexToBytes(r.leaf_hash as Hex));
      const tree = hexTree(leaves);
      return {
        leaf: JSON.parse(member.leaf) as JobLeaf,
        leafHash: member.leaf_hash,
        index: member.idx,
        size: batch.size,
        proof: tree.proof(member.idx),
        root: member.root,
        txHash: batch.tx_hash,
        blockNumber: batch.block,
        anchoredAt: batch.anchored_at,
        chainId: batch.chain_id,
        registry: batch.registry,
        version: member.version,
      };
    }
    if (sending) return { state: 'sending', since: sending.created_at };
    if (queued) return { state: 'queued', since: queued.queued_at };
    return null;
  }

  status(): OutboxStatus {
    const sql = this.ctx.storage.sql;
    const run = this.#runState();
    const status: OutboxStatus = {
      queued: sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM queue').one().n,
      inFlight: sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM batches WHERE state != 'anchored'`).one()
        .n,
      anchoredBatches: sql
        .exec<{ n: number }>(`SELECT COUNT(*) AS n FROM batches WHERE state = 'anchored'`)
        .one().n,
    };
    if (run.lastAnchoredAt !== undefined) status.lastAnchoredAt = run.lastAnchoredAt;
    if (run.lastError !== undefined) {
      status.lastError = run.lastError;
      status.lastErrorAt = run.lastErrorAt!;
      if (run.retryAt !== undefined) status.retryAt = run.retryAt;
    }
    return status;
  }

  // ---- a run ---------------------------------------------------------------------------------------

  flush(shard: number): Promise<FlushReport> {
    this.#running ??= this.#flush(shard).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #flush(shard: number): Promise<FlushReport> {
    const config = chainConfig(this.env);
    if (!('chain' in config)) {
      return {
        state: 'not_configured',
        batches: 0,
        jobs: 0,
        error: describeMissing(config),
      };
    }
    const run = this.#runState();
    if (run.retryAt !== undefined && Date.now() < run.retryAt) {
      return { state: 'waiting', batches: 0, jobs: 0, error: run.lastError ?? 'backing off' };
    }
    const report: FlushReport = { state: 'idle', batches: 0, jobs: 0 };
    try {
      for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
        const batch = this.#openBatch() ?? this.#prepare();
        if (!batch) break;
        await this.#settle(batch, config, shard);
        report.state = 'anchored';
        report.batches++;
        report.jobs += batch.size;
      }
      this.#saveRunState({ attempts: 0, lastAnchoredAt: report.batches ? Date.now() : run.lastAnchoredAt });
      return report;
    } catch (error) {
      const attempts = run.attempts + 1;
      const message = chainErrorMessage(error, relayerOf(config, shard).address);
      const now = Date.now();
      this.#saveRunState({
        attempts,
        lastError: message,
        lastErrorAt: now,
        retryAt: now + Math.min(BACKOFF_BASE_MS * 2 ** (attempts - 1), BACKOFF_MAX_MS),
        lastAnchoredAt: run.lastAnchoredAt,
      });
      return { ...report, state: 'failed', error: message };
    }
  }

  /** A batch prepared or sent by an earlier run, not yet seen on-chain. */
  #openBatch(): BatchRow | undefined {
    return this.ctx.storage.sql
      .exec<BatchRow>(`SELECT * FROM batches WHERE state != 'anchored' ORDER BY created_at LIMIT 1`)
      .toArray()[0];
  }

  /** Take the oldest queued leaves into a new batch, in one transaction. */
  #prepare(): BatchRow | undefined {
    const sql = this.ctx.storage.sql;
    const max = batchMax(this.env);
    let batch: BatchRow | undefined;
    this.ctx.storage.transactionSync(() => {
      // A leaf already in a batch (the same job, the same outcome) is not committed again; so no
      // new batch can have the root of an old one.
      sql.exec('DELETE FROM queue WHERE leaf_hash IN (SELECT leaf_hash FROM members)');
      const rows = sql
        .exec<{ job_id: string; version: number; leaf: string; leaf_hash: string }>(
          'SELECT job_id, version, leaf, leaf_hash FROM queue ORDER BY queued_at, job_id LIMIT ?',
          max,
        )
        .toArray();
      if (!rows.length) return;
      const root = hexTree(rows.map((r) => hexToBytes(r.leaf_hash as Hex))).root;
      const now = Date.now();
      sql.exec(
        `INSERT INTO batches (root, size, state, created_at) VALUES (?, ?, 'prepared', ?)`,
        root,
        rows.length,
        now,
      );
      sql.exec(
        `INSERT INTO members (root, idx, job_id, version, leaf, leaf_hash)
         SELECT ?, key, value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?)`,
        root,
        JSON.stringify(rows.map((r) => [r.job_id, r.version, r.leaf, r.leaf_hash])),
      );
      sql.exec(
        'DELETE FROM queue WHERE job_id IN (SELECT value FROM json_each(?))',
        JSON.stringify(rows.map((r) => r.job_id)),
      );
      batch = {
        root,
        size: rows.length,
        state: 'prepared',
        created_at: now,
        tx_hash: null,
        raw_tx: null,
        sent_at: null,
      };
    });
    return batch;
  }

  /** See the batch's root committed on-chain: find it there, or send it, and record where it is. */
  async #settle(batch: BatchRow, config: ChainConfig, shard: number): Promise<void> {
    const relayer = relayerOf(config, shard);
    const { public: reader, wallet } = chainClients(config, relayer);
    const root = batch.root as Hex;
    const wait = (hash: Hex) =>
      reader.waitForTransactionReceipt({
        hash,
        timeout: RECEIPT_TIMEOUT_MS,
        confirmations: config.confirmations,
      });
    const onChain = async () => {
      const [blockNumber, , size] = await reader.readContract({
        address: config.registry,
        abi: monadMeshRegistryAbi,
        functionName: 'batch',
        args: [root],
      });
      return size > 0 ? blockNumber : undefined;
    };

    let block = await onChain();
    if (block === undefined && batch.tx_hash && batch.raw_tx) {
      // Signed and recorded by an earlier run: mined (reverted, or just now), still pending, or
      // never broadcast (that run died first) or dropped: then the very same transaction goes out.
      const hash = batch.tx_hash as Hex;
      const receipt = await reader.getTransactionReceipt({ hash }).catch(() => undefined);
      if (!receipt) {
        const pending = await reader.getTransaction({ hash }).catch(() => undefined);
        const sent =
          pending !== undefined ||
          (await reader
            .sendRawTransaction({ serializedTransaction: batch.raw_tx as Hex })
            .then(() => true)
            // Its nonce was used meanwhile (by a transaction of another run): make a new one below.
            .catch(() => false));
        if (sent) await wait(hash);
      }
      block = await onChain();
    }
    if (block === undefined) {
      const gas = await reader.estimateContractGas({
        address: config.registry,
        abi: monadMeshRegistryAbi,
        functionName: 'commitBatch',
        args: [root, batch.size],
        account: relayer,
      });
      // Signed here, recorded, then broadcast: a run that dies at any point leaves either nothing
      // sent or a transaction whose hash is on record (and which the next run finds or resends).
      // Monad charges the gas limit, not the gas used: the estimate and an eighth, no more.
      const request = await wallet.prepareTransactionRequest({
        to: config.registry,
        data: encodeFunctionData({
          abi: monadMeshRegistryAbi,
          functionName: 'commitBatch',
          args: [root, batch.size],
        }),
        gas: gas + gas / 8n,
      });
      const raw = await wallet.signTransaction(request);
      const hash = keccak256(raw);
      this.ctx.storage.sql.exec(
        `UPDATE batches SET state = 'sent', tx_hash = ?, raw_tx = ?, sent_at = ? WHERE root = ?`,
        hash,
        raw,
        Date.now(),
        root,
      );
      if (this.env.ANCHOR_FAULT === 'crash-before-send') {
        // Tests: the object dies after recording the transaction, before broadcasting it.
        this.ctx.abort('fault injection: crash before broadcasting the batch');
      }
      await reader.sendRawTransaction({ serializedTransaction: raw });
      if (this.env.ANCHOR_FAULT === 'crash-after-send') {
        // Tests: the object dies between the send and recording its outcome (a killed Worker).
        this.ctx.abort('fault injection: crash after sending the batch');
      }
      const receipt = await wait(hash);
      if (receipt.status !== 'success') throw new Error(`the batch transaction ${hash} reverted`);
      block = await onChain();
      if (block === undefined)
        throw new Error(`the batch transaction ${hash} succeeded but the root is not there`);
    }
    // On-chain: the transaction is the BatchCommitted log of this root in that block.
    const logs = await reader.getLogs({
      address: config.registry,
      event: batchCommitted,
      args: { root },
      fromBlock: block,
      toBlock: block,
    });
    const [event] = parseEventLogs({ abi: monadMeshRegistryAbi, logs, eventName: 'BatchCommitted' });
    if (!event) throw new Error(`no BatchCommitted log for ${root} in block ${block}`);
    this.ctx.storage.sql.exec(
      `UPDATE batches SET state = 'anchored', tx_hash = ?, block = ?, anchored_at = ?, chain_id = ?, registry = ?
       WHERE root = ?`,
      event.transactionHash,
      Number(block),
      Date.now(),
      config.chain.id,
      config.registry,
      root,
    );
  }

  #runState(): RunState {
    const row = this.ctx.storage.sql.exec<{ v: string }>(`SELECT v FROM state WHERE k = 'run'`).toArray()[0];
    return row ? (JSON.parse(row.v) as RunState) : { attempts: 0 };
  }

  #saveRunState(state: RunState): void {
    this.ctx.storage.sql.exec(
      `INSERT INTO state (k, v) VALUES ('run', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
      JSON.stringify(state),
    );
  }
}

const batchCommitted = monadMeshRegistryAbi.find(
  (item): item is Extract<(typeof monadMeshRegistryAbi)[number], { type: 'event'; name: 'BatchCommitted' }> =>
    item.type === 'event' && item.name === 'BatchCommitted',
)!;

function batchMax(env: DoEnv): number {
  const n = Number(env.ANCHOR_BATCH_MAX ?? 256);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 4096) : 256;
}

export function describeMissing(config: { missing: string[]; invalid: string[] }): string {
  const parts = [];
  if (config.missing.length) parts.push(`not set: ${config.missing.join(', ')}`);
  if (config.invalid.length) parts.push(`invalid: ${config.invalid.join(', ')}`);
  return `anchoring is off (${parts.join('; ')}); finished jobs wait in the queue until it is configured`;
}
