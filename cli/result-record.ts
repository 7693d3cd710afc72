import type { JsonValue, TaskError, TaskResult, TaskVerification } from '../protocol/index.ts';

/**
 * One line of `run`/`results` output: `{"index":0,"output":…}` for a success,
 * `{"index":3,"error":{kind,message,stack?},"logs"?:…}` for a failure, `{"index":5,"state":"cancelled"}`
 * for a task that never ran. Logs of successful tasks stay out (see `monadmesh logs`). With
 * `verbose`, a `verified` field says how the result was verified (`monadmesh results --verbose`).
 */
export type ResultRecord = (
  | { index: number; output: JsonValue }
  | { index: number; error: TaskError; logs?: string }
  | { index: number; state: TaskResult['state'] }
) & { verified?: ReturnType<typeof verifiedOf> };

export function toResultRecord(r: TaskResult, verbose = false): ResultRecord {
  const record = recordOf(r);
  return verbose && r.verification ? { ...record, verified: verifiedOf(r.verification) } : record;
}

function recordOf(r: TaskResult): ResultRecord {
  if (r.state === 'succeeded') return { index: r.index, output: (r.output ?? null) as JsonValue };
  if (r.state === 'failed') {
    const error = r.error ?? { kind: 'node_error', message: 'failed without an error report' };
    return r.logs ? { index: r.index, error, logs: r.logs } : { index: r.index, error };
  }
  return { index: r.index, state: r.state };
}

/** How a result was verified, for `--verbose` lines: who answered what, and how sure. */
export function verifiedOf(v: TaskVerification) {
  return {
    how: v.how,
    confidence: Number(v.confidence.toFixed(6)),
    ...(v.spotCheck ? { spotCheck: true } : {}),
    ...(v.reverified ? { reverified: true } : {}),
    replicas: v.replicas.map((p) => ({
      identity: p.identity,
      nodeId: p.nodeId,
      answer: p.answer,
      ...(p.agreed === undefined ? {} : { agreed: p.agreed }),
    })),
    digest: v.digest,
  };
}

/** A failed task for people: index, kind, the remote stack (or message), then its logs. */
export function formatFailure(r: TaskResult): string {
  const error = r.error ?? { kind: 'node_error', message: 'failed without an error report' };
  const where = [r.attempts > 0 ? `attempt ${r.attempts}` : '', r.nodeId ? `node ${r.nodeId}` : ''].filter(
    Boolean,
  );
  const lines = [`task ${r.index} failed: ${error.kind}${where.length ? ` (${where.join(', ')})` : ''}`];
  lines.push(indent(error.stack || error.message, '  '));
  if (r.logs) lines.push('  logs:', indent(r.logs.replace(/\n$/, ''), '    '));
  return lines.join('\n');
}

/** The logs and error of one task for `monadmesh logs`. */
export function formatTaskLogs(r: TaskResult): string {
  const facts = [
    r.state,
    r.attempts > 0 ? `${r.attempts} attempt${r.attempts === 1 ? '' : 's'}` : '',
    r.nodeId ? `node ${r.nodeId}` : '',
    r.durationMs !== undefined ? `${r.durationMs.toFixed(1)} ms` : '',
  ].filter(Boolean);
  const lines = [`── task ${r.index} · ${facts.join(' · ')}`];
  if (r.error) lines.push(`error: ${r.error.kind}`, indent(r.error.stack || r.error.message, '  '));
  lines.push(r.logs ? `logs:\n${indent(r.logs.replace(/\n$/, ''), '  ')}` : 'logs: (none)');
  return lines.join('\n');
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n');
}
