import { type KeyboardEvent, useRef } from 'react';
import type { TaskView } from './watch-state.ts';

/** Cells per grid page: enough to see a job at a glance, few enough to render at once. */
export const GRID_PAGE = 500;

const LABEL: Record<TaskView['state'], string> = {
  pending: 'pending',
  leased: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
};

/**
 * One cell per task, coloured by state. One cell is in the tab order at a time (the selected
 * one); arrow keys, Home and End move between cells, Enter or a click opens the task.
 */
export function TaskGrid({
  tasks,
  offset,
  selected,
  onSelect,
}: {
  tasks: readonly TaskView[];
  offset: number;
  selected: number | undefined;
  onSelect(index: number): void;
}) {
  const ref = useRef<HTMLFieldSetElement>(null);
  const end = Math.min(tasks.length, offset + GRID_PAGE);
  const focusIndex = selected !== undefined && selected >= offset && selected < end ? selected : offset;

  const move = (e: KeyboardEvent, index: number) => {
    const columns = Math.max(1, Math.floor((ref.current?.clientWidth ?? 400) / 22));
    const delta: Record<string, number> = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: columns,
      ArrowUp: -columns,
      Home: offset - index,
      End: end - 1 - index,
    };
    const d = delta[e.key];
    if (d === undefined) return;
    e.preventDefault();
    const next = Math.max(offset, Math.min(end - 1, index + d));
    onSelect(next);
    ref.current?.querySelector<HTMLButtonElement>(`[data-index="${next}"]`)?.focus();
  };

  const cells = [];
  for (let i = offset; i < end; i++) {
    const t = tasks[i]!;
    cells.push(
      <button
        key={i}
        type="button"
        data-index={i}
        className={`cell cell-${t.state}${selected === i ? ' selected' : ''}`}
        tabIndex={i === focusIndex ? 0 : -1}
        aria-label={`Task ${i}: ${LABEL[t.state]}${t.attempts > 1 ? `, attempt ${t.attempts}` : ''}`}
        aria-pressed={selected === i}
        title={`Task ${i}: ${LABEL[t.state]}`}
        onClick={() => onSelect(i)}
        onKeyDown={(e) => move(e, i)}
      />,
    );
  }
  return (
    <fieldset ref={ref} className="task-grid">
      <legend className="visually-hidden">
        Tasks {offset} to {end - 1}
      </legend>
      {cells}
    </fieldset>
  );
}
