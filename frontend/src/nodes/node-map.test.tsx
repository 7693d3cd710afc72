import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, test } from 'vitest';
import { nodeInfo } from './fixtures.ts';
import { NodeMap } from './node-map.tsx';

afterEach(cleanup);

describe('NodeMap', () => {
  test('default: a circle per node with its kind and state, links between peers, the unknown strip', () => {
    const nodes = [
      nodeInfo('a', { peerId: 'PA', peers: ['PB', 'PC'] }),
      nodeInfo('b', { peerId: 'PB', running: 1 }),
      nodeInfo('c', { peerId: 'PC', kind: 'browser', location: {} }),
      nodeInfo('d', { peerId: 'PD', location: { latitude: 52.5, longitude: 13.4 }, peers: ['PA'] }),
    ];
    const { container } = render(<NodeMap nodes={nodes} />);
    const dots = [...container.querySelectorAll<SVGCircleElement>('circle.node-dot')];
    const described = dots.map((d) => [d.dataset.nodeId, d.dataset.kind, d.dataset.state, d.dataset.located]);
    expect(described.sort()).toEqual([
      ['a', 'headless', 'idle', 'yes'],
      ['b', 'headless', 'busy', 'yes'],
      ['c', 'browser', 'idle', 'no'],
      ['d', 'headless', 'idle', 'yes'],
    ]);
    const links = [...container.querySelectorAll<SVGPathElement>('path.peer-link')];
    expect(links.map((l) => `${l.dataset.from}-${l.dataset.to}`).sort()).toEqual(['a-b', 'a-c', 'a-d']);
    // Austin to Berlin is a great circle (many points); co-located a and b a straight segment.
    const d = (from: string, to: string) =>
      links.find((l) => l.dataset.from === from && l.dataset.to === to)!.getAttribute('d')!;
    expect(d('a', 'd').split('L').length).toBeGreaterThan(20);
    expect(d('a', 'b').split('L').length).toBe(2);
    expect(screen.getByTestId('location-unknown').textContent).toContain('location unknown');
    expect(screen.getByRole('figure').getAttribute('aria-label')).toBe(
      'World map of 4 connected nodes, 1 busy, with 3 peer links',
    );
  });

  test('behavior: co-located nodes are drawn apart', () => {
    const { container } = render(<NodeMap nodes={['x', 'y', 'z'].map((id) => nodeInfo(id))} />);
    const spots = [...container.querySelectorAll('g.node')].map((g) => g.getAttribute('transform'));
    expect(new Set(spots).size).toBe(3);
  });

  test('behavior: focusing a node shows what it is', () => {
    render(<NodeMap nodes={[nodeInfo('a', { running: 2, capacity: 4, relay: true })]} />);
    fireEvent.focus(screen.getByLabelText('a: headless, busy, 2 tasks leased, 4 slots, Austin, US'));
    expect(screen.getByRole('tooltip').textContent).toBe(
      'a · headless · busy, 2 tasks leased, 4 slotsAustin, US · 0 peers · relay',
    );
  });
});
