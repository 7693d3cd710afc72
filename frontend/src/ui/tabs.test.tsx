import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, expect, test } from 'vitest';
import { Tabs } from './tabs.tsx';

afterEach(cleanup);

function Harness() {
  const [v, setV] = useState<'a' | 'b' | 'c'>('a');
  return (
    <Tabs
      label="Letters"
      value={v}
      onChange={setV}
      tabs={[
        ['a', 'A'],
        ['b', 'B'],
        ['c', 'C'],
      ]}
    />
  );
}

test('default: one tab in the tab order; arrows, Home and End select and focus (wrapping)', () => {
  render(<Harness />);
  const tab = (name: string) => screen.getByRole('tab', { name });
  expect(tab('A').getAttribute('aria-selected')).toBe('true');
  expect([tab('A'), tab('B'), tab('C')].map((t) => t.tabIndex)).toEqual([0, -1, -1]);
  tab('A').focus();
  fireEvent.keyDown(tab('A'), { key: 'ArrowRight' });
  expect(tab('B').getAttribute('aria-selected')).toBe('true');
  expect(document.activeElement).toBe(tab('B'));
  fireEvent.keyDown(tab('B'), { key: 'End' });
  expect(document.activeElement).toBe(tab('C'));
  fireEvent.keyDown(tab('C'), { key: 'ArrowRight' });
  expect(document.activeElement).toBe(tab('A'));
  fireEvent.keyDown(tab('A'), { key: 'ArrowLeft' });
  expect(tab('C').getAttribute('aria-selected')).toBe('true');
  fireEvent.click(tab('B'));
  expect(tab('B').tabIndex).toBe(0);
});
