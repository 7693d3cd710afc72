import type { KeyboardEvent, ReactNode } from 'react';

/**
 * A row of tabs with the ARIA tabs keyboard contract: one tab in the tab order (the selected one),
 * arrow keys, Home and End move between tabs and select them.
 */
export function Tabs<T extends string>({
  label,
  tabs,
  value,
  onChange,
  idPrefix,
  controls,
}: {
  label: string;
  tabs: readonly (readonly [T, ReactNode])[];
  value: T;
  onChange(value: NoInfer<T>): void;
  /** Tab ids are `${idPrefix}-${value}`, for a tabpanel's aria-labelledby. */
  idPrefix?: string;
  /** Id of the tabpanel the tabs control, when there is one. */
  controls?: string;
}) {
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const i = tabs.findIndex(([v]) => v === value);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    const [v] = tabs[(next + tabs.length) % tabs.length]!;
    onChange(v);
    e.currentTarget.querySelector<HTMLButtonElement>(`[data-value="${v}"]`)?.focus();
  };
  return (
    <div className="tabs" role="tablist" aria-label={label} onKeyDown={onKeyDown}>
      {tabs.map(([v, text]) => (
        <button
          key={v}
          type="button"
          role="tab"
          data-value={v}
          {...(idPrefix ? { id: `${idPrefix}-${v}` } : {})}
          {...(controls ? { 'aria-controls': controls } : {})}
          aria-selected={value === v}
          tabIndex={value === v ? 0 : -1}
          className={value === v ? 'active' : ''}
          onClick={() => onChange(v)}
        >
          {text}
        </button>
      ))}
    </div>
  );
}
