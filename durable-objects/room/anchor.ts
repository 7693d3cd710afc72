import {
  cidLeafHash,
  hexTree,
  inputsRootOfHashes,
  type JobLeaf,
  jobLeafState,
  jobSpecHash,
  outcomeLeafHash,
  sha256Text,
  type TaskLeaf,
  taskLeafHash,
  taskLeafState,
  verificationLeaf,
} from '../../protocol/anchor.ts';
import type { JsonValue, TaskError, TaskState, TaskVerification } from '../../protocol/index.ts';
import type { JobMeta } from './views.ts';

/** A task row as anchoring reads it. */
interface AnchorRow {
  idx: number;
  state: TaskState;
  input: string;
  output: string | null;
  error: string | null;
  verification: string | null;
  [key: string]: SqlStorageValue;
}

/** A finished job's anchor: its job leaf, and its task leaves with their tree (for task proofs). */
export interface JobAnchor {
  leaf: JobLeaf;
  tasks: TaskLeaf[];
  tree: ReturnType<typeof hexTree>;
}

/** The anchor of the finished job in `sql` (every task row read once). */
export function jobAnchor(sql: SqlStorage, meta: JobMeta): JobAnchor {
  const rows = sql
    .exec<AnchorRow>('SELECT idx, state, input, output, error, verification FROM tasks ORDER BY idx')
    .toArray();
  const tasks = rows.map(
    (r): TaskLeaf => ({
      index: r.idx,
      state: taskLeafState(r.state),
      inputHash: sha256Text(r.input),
      outputHash: outcomeLeafHash({
        ...(r.output === null ? {} : { output: JSON.parse(r.output) as JsonValue }),
        ...(r.error === null ? {} : { error: JSON.parse(r.error) as TaskError }),
      }),
      verification: verificationLeaf(
        r.verification === null ? undefined : (JSON.parse(r.verification) as TaskVerification).digest,
      ),
    }),
  );
  const tree = hexTree(tasks.map(taskLeafHash));
  // Each input hashed once, for its task leaf and the input tree.
  const inputs = inputsRootOfHashes(tasks.map((t) => t.inputHash));
  const leaf: JobLeaf = {
    jobId: sha256Text(meta.id),
    specHash: jobSpecHash({ ...meta, inputsRoot: inputs, tasks: rows.length }),
    codeCid: cidLeafHash(meta.codeCid),
    owner: meta.owner.toLowerCase() as `0x${string}`,
    inputsRoot: inputs,
    tasksRoot: tree.root,
    tasks: rows.length,
    state: jobLeafState(meta.state),
  };
  return { leaf, tasks, tree };
}
