import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, expect, test } from 'vitest';
import { GRID_PAGE, TaskGrid } from './task-grid.tsx';
import type { TaskView } from './watch-state.ts';

afterEach(cleanup);

const tasks: TaskView[] = [
  { state: 'succeeded', attempts: 1 },
  { state: 'failed', attempts: 1 },
  { state: 'leased', attempts: 2 },
  { state: 'pending', attempts: 0 },
];

function Harness({ offset = 0, all = tasks }: { offset?: number; all?: TaskView[] }) {
  const [selected, setSelected] = useState<number | undefined>();
  return <TaskGrid tasks={all} offset={offset} selected={selected} onSelect={setSelected} />;
}

test('default: a labelled cell per task, one in the tab order; arrows move and select', () => {
  render(<Harness />);
  const cells = screen.getAllByRole('button');
  expect(cells.map((c) => c.getAttribute('aria-label'))).toEqual([
    'Task 0: succeeded',
    'Task 1: failed',
    'Task 2: running, attempt 2',
    'Task 3: pending',
  ]);
  expect(cells.map((c) => c.tabIndex)).toEqual([0, -1, -1, -1]);
  fireEvent.keyDown(cells[0]!, { key: 'ArrowRight' });
  expect(document.activeElement).toBe(cells[1]);
  expect(cells[1]!.getAttribute('aria-pressed')).toBe('true');
  fireEvent.keyDown(cells[1]!, { key: 'End' });
  expect(document.activeElement).toBe(cells[3]);
  fireEvent.keyDown(cells[3]!, { key: 'ArrowRight' });
  expect(document.activeElement).toBe(cells[3]);
});

test('behavior: only one page of cells is drawn', () => {
  const many = Array.from({ length: GRID_PAGE + 10 }, () => ({ state: 'pending' as const, attempts: 0 }));
  render(<Harness all={many} offset={GRID_PAGE} />);
  const cells = screen.getAllByRole('button');
  expect(cells).toHaveLength(10);
  expect(cells[0]!.getAttribute('aria-label')).toBe(`Task ${GRID_PAGE}: pending`);
});
