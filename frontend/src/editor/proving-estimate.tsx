import type { PreviewTask } from '../preview/run-preview.ts';
import { formatDuration } from '../ui/format.ts';

/** The median of some numbers (the preview runs at most five). */
const median = (xs: readonly number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * What proving the job will cost, from the preview's proofs in this tab: the median time of one
 * proof (witness and Groth16 proof, as a node makes it) times the number of inputs, the node time
 * the whole job takes, spread over however many nodes run it. Each proof is then checked in the
 * Worker (about 20 ms) and needs no replicas.
 */
export function ProvingEstimate({
  tasks,
  inputs,
  constraints,
}: {
  tasks: readonly PreviewTask[];
  inputs: number;
  /** The circuit's constraints, when it was compiled here. */
  constraints?: number | undefined;
}) {
  const proven = tasks.filter((t) => t.result.ok);
  if (proven.length === 0) {
    return (
      <p className="status status-error" data-testid="proving-estimate">
        No input of the preview could be proven, so there is no estimate: see why below.
      </p>
    );
  }
  const perProof = median(proven.map((t) => t.result.durationMs));
  return (
    <section className="panel proving-estimate" aria-label="Proving cost" data-testid="proving-estimate">
      <h2>Proving cost</h2>
      <p>
        One proof took <strong>{formatDuration(perProof)}</strong> in this tab (median of {proven.length}
        {constraints === undefined
          ? ''
          : `; a circuit of ${constraints.toLocaleString()} constraint${constraints === 1 ? '' : 's'}`}
        ). The job's {inputs.toLocaleString()} input{inputs === 1 ? '' : 's'}: about{' '}
        <strong>{formatDuration(perProof * inputs)}</strong> of node time in all, spread over the nodes that
        run it; each proof is checked in the Worker before its result counts, and no task is run twice.
      </p>
      <p className="hint">
        Checking one task's proof on-chain (from the job page, once anchored) is a free call through your
        wallet; as a transaction it would cost about 0.3–0.5M gas at Ethereum's prices.
      </p>
    </section>
  );
}
