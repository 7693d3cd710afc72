import { useId } from 'react';
import { jobDefaults } from '../../../protocol/index.ts';
import type { EditorRuntime } from './templates.ts';

export interface JobOptions {
  timeoutMs: number;
  memoryMb: number;
  maxAttempts: number;
  label: string;
}

export const defaultOptions = (): JobOptions => ({ ...jobDefaults, label: '' });

/**
 * Whether a runtime can produce zero-knowledge proofs of its results. None can today: JS, Python
 * and WebAssembly tasks run in plain sandboxes, and proving needs circom circuits, which the API
 * does not accept yet. The toggle stays visible (disabled) so the reason is discoverable.
 */
export function zkSupport(runtime: EditorRuntime): { supported: boolean; reason: string } {
  const name = { js: 'JavaScript', python: 'Python', wasm: 'WebAssembly' }[runtime];
  return {
    supported: false,
    reason: `${name} tasks run in ordinary sandboxes that cannot prove their results. Proofs come with circom circuits, which no node runs yet.`,
  };
}

const REDUNDANCY_REASON =
  'Each task runs on one node for now. Running tasks on several nodes and comparing the results is part of result verification, which is not built yet.';

export function OptionsPanel({
  runtime,
  options,
  onChange,
}: {
  runtime: EditorRuntime;
  options: JobOptions;
  onChange(next: JobOptions): void;
}) {
  const id = useId();
  const set = (patch: Partial<JobOptions>) => onChange({ ...options, ...patch });
  const zk = zkSupport(runtime);
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
          Redundancy
          <select disabled aria-describedby={`${id}-redundancy`} value="1">
            <option value="1">1 node per task</option>
          </select>
          <span id={`${id}-redundancy`} className="hint">
            {REDUNDANCY_REASON}
          </span>
        </label>
        <label className="checkbox">
          <input
            type="checkbox"
            disabled={!zk.supported}
            checked={false}
            aria-describedby={`${id}-zk`}
            readOnly
          />
          Zero-knowledge proof
          <span id={`${id}-zk`} className="hint">
            {zk.reason}
          </span>
        </label>
      </div>
    </fieldset>
  );
}
