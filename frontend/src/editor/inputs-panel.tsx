import { useId } from 'react';
import type { InputSource, ParsedInputs } from './parse-inputs.ts';

export type InputMode = InputSource['kind'];

export interface InputsState {
  mode: InputMode;
  json: string;
  jsonl: { text: string; fileName?: string } | undefined;
  range: { start: number; end: number; step: number; inclusive: boolean };
}

export const sourceOf = (s: InputsState): InputSource | undefined =>
  s.mode === 'json'
    ? { kind: 'json', text: s.json }
    : s.mode === 'jsonl'
      ? s.jsonl && { kind: 'jsonl', ...s.jsonl }
      : { kind: 'range', ...s.range };

/** The job's inputs: a JSON array typed in, a JSON-lines file, or a range of numbers. */
export function InputsPanel({
  state,
  onChange,
  parsed,
}: {
  state: InputsState;
  onChange(next: InputsState): void;
  parsed: ParsedInputs | undefined;
}) {
  const id = useId();
  const set = (patch: Partial<InputsState>) => onChange({ ...state, ...patch });
  const setRange = (patch: Partial<InputsState['range']>) => set({ range: { ...state.range, ...patch } });
  return (
    <fieldset className="panel inputs">
      <legend>Inputs</legend>
      <div className="segmented" role="radiogroup" aria-label="How to give inputs">
        {(
          [
            ['json', 'JSON array'],
            ['jsonl', 'JSON-lines file'],
            ['range', 'Range'],
          ] as const
        ).map(([mode, label]) => (
          <label key={mode} className={state.mode === mode ? 'active' : ''}>
            <input
              type="radio"
              name={`${id}-mode`}
              value={mode}
              checked={state.mode === mode}
              onChange={() => set({ mode })}
            />
            {label}
          </label>
        ))}
      </div>
      {state.mode === 'json' ? (
        <>
          <label htmlFor={`${id}-json`}>One element per task</label>
          <textarea
            id={`${id}-json`}
            className="mono"
            rows={8}
            spellCheck={false}
            value={state.json}
            onChange={(e) => set({ json: e.target.value })}
            aria-describedby={`${id}-summary`}
          />
        </>
      ) : null}
      {state.mode === 'jsonl' ? (
        <>
          <label htmlFor={`${id}-file`}>A .jsonl file: one JSON value per line</label>
          <input
            id={`${id}-file`}
            type="file"
            accept=".jsonl,.ndjson,.json,.txt,application/x-ndjson"
            aria-describedby={`${id}-summary`}
            onChange={async (e) => {
              const file = e.target.files?.[0];
              if (file) set({ jsonl: { text: await file.text(), fileName: file.name } });
            }}
          />
        </>
      ) : null}
      {state.mode === 'range' ? (
        <div className="range-grid">
          <label>
            From
            <input
              type="number"
              value={state.range.start}
              onChange={(e) => setRange({ start: e.target.valueAsNumber })}
            />
          </label>
          <label>
            To
            <input
              type="number"
              value={state.range.end}
              onChange={(e) => setRange({ end: e.target.valueAsNumber })}
            />
          </label>
          <label>
            Step
            <input
              type="number"
              value={state.range.step}
              onChange={(e) => setRange({ step: e.target.valueAsNumber })}
            />
          </label>
          <label className="checkbox">
            <input
              type="checkbox"
              checked={state.range.inclusive}
              onChange={(e) => setRange({ inclusive: e.target.checked })}
            />
            Include the end
          </label>
        </div>
      ) : null}
      <p id={`${id}-summary`} className={parsed && !parsed.ok ? 'field-error' : 'muted'} role="status">
        {parsed === undefined
          ? 'Choose a file.'
          : parsed.ok
            ? `${parsed.inputs.length.toLocaleString()} input${parsed.inputs.length === 1 ? '' : 's'} → one task each`
            : parsed.error}
      </p>
    </fieldset>
  );
}
