import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, test } from 'vitest';
import { nodeInfo } from './fixtures.ts';
import { NodeList } from './node-list.tsx';

afterEach(cleanup);

const nodes = [
  nodeInfo('relay-node', { peerId: 'PA', peers: ['PB'], relay: true, connectedAt: 1 }),
  nodeInfo('worker-node', { peerId: 'PB', peers: ['PA'], running: 2, capacity: 4, connectedAt: 2 }),
  nodeInfo('a-browser-tab', {
    peerId: 'PC',
    kind: 'browser',
    name: 'my laptop',
    location: {},
    runtimes: ['js', 'python'],
    connectedAt: 3,
  }),
];

describe('NodeList', () => {
  test('default: one row per node, oldest connection first, with kind, state, place, peers and runtimes', () => {
    render(<NodeList nodes={nodes} />);
    const table = screen.getByRole('table', { name: /connected nodes/i });
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows.map((r) => r.dataset.nodeId)).toEqual(['relay-node', 'worker-node', 'a-browser-tab']);
    const cells = (row: HTMLElement) => [...row.querySelectorAll('th, td')].map((c) => c.textContent);
    expect(cells(rows[0]!).slice(0, 6)).toEqual([
      'relay-node',
      'headless (relay)',
      'idle',
      'Austin, US',
      '1: worker-node',
      'js, wasm',
    ]);
    expect(cells(rows[1]!).slice(0, 5)).toEqual([
      'worker-node',
      'headless',
      'busy, 2 tasks leased, 4 slots',
      'Austin, US',
      '1: relay-node',
    ]);
    expect(cells(rows[2]!).slice(0, 6)).toEqual([
      'my laptop',
      'browser',
      'idle',
      'location unknown',
      'none',
      'js, python',
    ]);
  });

  test('behavior: the node column is a row header, so each cell is announced with its node', () => {
    render(<NodeList nodes={nodes} />);
    expect(screen.getAllByRole('rowheader').map((h) => h.textContent)).toEqual([
      'relay-node',
      'worker-node',
      'my laptop',
    ]);
    expect(screen.getAllByRole('columnheader').map((h) => h.textContent)).toEqual([
      'Node',
      'Kind',
      'State',
      'Location',
      'Peers',
      'Runtimes',
      'Connected',
    ]);
  });
});
