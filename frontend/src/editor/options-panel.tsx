import { useId } from 'react';
import { jobDefaults } from '../../../protocol/index.ts';

export interface JobOptions {
  timeoutMs: number;
  memoryMb: number;
  maxAttempts: number;
  label: string;
  /** `adaptive` (the default trust), or a fixed redundancy of 1 to 5 identities. */
  verification: 'adaptive' | '1' | '2' | '3' | '4' | '5';
  /** Register the job's spec hash on the registry from the wallet before submitting. */
  registerSpec: boolean;
}

export const defaultOptions = (): JobOptions => ({
  timeoutMs: jobDefaults.timeoutMs,
  memoryMb: jobDefaults.memoryMb,
  maxAttempts: jobDefaults.maxAttempts,
  label: '',
  verification: 'adaptive',
  registerSpec: false,
});

/** The JobSpec fields of the verification option. */
export const verificationSpec = (o: JobOptions): { redundancy?: number } =>
  o.verification === 'adaptive' ? {} : { redundancy: Number(o.verification) };

const VERIFICATION_HINT: Record<JobOptions['verification'], string> = {
  adaptive: `Replicas are added until the nodes that agree reach ${jobDefaults.trust} confidence, weighted by their records: new anonymous nodes never decide alone, proven ones are spot-checked, and your own wallet's nodes are trusted with your jobs.`,
  '1': "One node's answer is taken as it is: fast, and unverified.",
  '2': 'Two different wallets (or anonymous nodes) must give the same answer.',
  '3': 'Three different wallets (or anonymous nodes) must give the same answer.',
  '4': 'Four different wallets (or anonymous nodes) must give the same answer.',
  '5': 'Five different wallets (or anonymous nodes) must give the same answer.',
};

/**
 * The job's options. "Zero-knowledge proof" switches the editor to proven jobs (circuit templates,
 * runtime `circom`): there the proof decides, so the verification choice does not apply.
 */
export function OptionsPanel({
  options,
  onChange,
  canRegister = false,
  zk = false,
  onZkChange,
}: {
  options: JobOptions;
  onChange(next: JobOptions): void;
  /** Whether a registry is configured, so the spec hash can be registered on-chain. */
  canRegister?: boolean;
  /** Proven jobs: the "Zero-knowledge proof" toggle is on. */
  zk?: boolean;
  onZkChange?(on: boolean): void;
}) {
  const id = useId();
  const set = (patch: Partial<JobOptions>) => onChange({ ...options, ...patch });
  return (
    <fieldset className="panel options">
      <legend>Options</legend>
      <div className="options-grid">
        <label>
          Timeout per task (seconds)
          <input
            type="number"
            min={0.01}
            max={300}
            step="any"
            value={options.timeoutMs / 1000}
            onChange={(e) => set({ timeoutMs: Math.round(e.target.valueAsNumber * 1000) })}
          />
        </label>
        <label>
          Memory per task (MB)
          <input
            type="number"
            min={16}
            max={1024}
            value={options.memoryMb}
            onChange={(e) => set({ memoryMb: e.target.valueAsNumber })}
          />
        </label>
        <label>
          Attempts when a node fails
          <input
            type="number"
            min={1}
            max={10}
            value={options.maxAttempts}
            onChange={(e) => set({ maxAttempts: e.target.valueAsNumber })}
          />
        </label>
        <label>
          Label
          <input
            type="text"
            maxLength={200}
            placeholder="optional"
            value={options.label}
            onChange={(e) => set({ label: e.target.value })}
          />
        </label>
        <label>
          Verification
          <select
            aria-describedby={`${id}-verification`}
            disabled={zk}
            value={options.verification}
            onChange={(e) => set({ verification: e.target.value as JobOptions['verification'] })}
          >
            <option value="adaptive">Adaptive (trust {jobDefaults.trust})</option>
            <option value="1">1 node per task (unverified)</option>
            {(['2', '3', '4', '5'] as const).map((n) => (
              <option key={n} value={n}>
                {n} agreeing identities
              </option>
            ))}
          </select>
          <span id={`${id}-verification`} className="hint">
            {zk
              ? "A proof decides: each task's Groth16 proof is checked in the Worker before its result counts, so no replicas are needed."
              : VERIFICATION_HINT[options.verification]}
          </span>
        </label>
        <label className="checkbox">
          <input
            type="checkbox"
            disabled={!canRegister}
            checked={canRegister && options.registerSpec}
            aria-describedby={`${id}-register`}
            onChange={(e) => set({ registerSpec: e.target.checked })}
          />
          Register the spec on-chain first
          <span id={`${id}-register`} className="hint">
            {canRegister
              ? "Your wallet signs one transaction recording this job's spec hash (code, inputs, limits) before it is submitted; the job's on-chain anchor then links to it."
              : 'No registry is configured on this deployment, so jobs are not anchored on-chain.'}
          </span>
        </label>
        <label className="checkbox">
          <input
            type="checkbox"
            checked={zk}
            aria-describedby={`${id}-zk`}
            onChange={(e) => onZkChange?.(e.target.checked)}
          />
          Zero-knowledge proof
          <span id={`${id}-zk`} className="hint">
            {zk
              ? 'Each task is proven with Groth16 on the node that runs it (a circom circuit); the proof is checked in the Worker, and a task can be checked on-chain from the job page.'
              : 'Prove every result with a zero-knowledge proof instead of replicas: the editor switches to circom circuits (Groth16).'}
          </span>
        </label>
      </div>
    </fieldset>
  );
}
