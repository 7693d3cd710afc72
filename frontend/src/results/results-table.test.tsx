import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { headline, ResultsTable } from './results-table.tsx';

afterEach(cleanup);

describe('ResultsTable', () => {
  test('default: outputs, errors by their headline, waiting reasons; opening a task', () => {
    const onOpen = vi.fn();
    render(
      <ResultsTable
        onOpen={onOpen}
        results={[
          { index: 0, state: 'succeeded', output: { pi: 3.14 }, attempts: 1, nodeId: 'n1', durationMs: 12 },
          {
            index: 1,
            state: 'failed',
            attempts: 1,
            error: {
              kind: 'user_error',
              message:
                'Traceback (most recent call last):\n  File "<task>", line 2, in main\nValueError: bad',
            },
          },
          { index: 2, state: 'pending', attempts: 0, waiting: 'no compute node is connected' },
        ]}
      />,
    );
    const rows = screen.getAllByRole('row');
    expect(rows[1]!.textContent).toContain('{"pi":3.14}');
    expect(rows[2]!.textContent).toContain('user_error: ValueError: bad');
    expect(rows[3]!.textContent).toContain('waiting: no compute node is connected');
    fireEvent.click(screen.getByRole('button', { name: 'Open task 1' }));
    expect(onOpen).toHaveBeenCalledWith(1);
  });
});

test('headline: the last line of a traceback, the first line otherwise', () => {
  expect(headline('Traceback (most recent call last):\n  File "<task>", line 1\nKeyError: 1\n')).toBe(
    'KeyError: 1',
  );
  expect(headline('  File "<task>", line 3\n    return n +\n SyntaxError: invalid syntax')).toBe(
    'SyntaxError: invalid syntax',
  );
  expect(headline('Error: boom\n    at main (task.js:3:11)')).toBe('Error: boom');
});
