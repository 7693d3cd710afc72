import { describe, expect, test } from 'vitest';
import { nodeInfo } from './fixtures.ts';
import {
  applyNodesMessage,
  countsOf,
  emptyNodesState,
  linksOf,
  neighboursOf,
  nodeLabel,
  placeOf,
} from './nodes-state.ts';

describe('applyNodesMessage', () => {
  test('default: a snapshot, then nodes join, change and leave', () => {
    let s = emptyNodesState();
    expect(s.synced).toBe(false);
    s = applyNodesMessage(s, { type: 'nodes.snapshot', nodes: [nodeInfo('a'), nodeInfo('b')], at: 10 });
    expect([...s.nodes.keys()]).toEqual(['a', 'b']);
    expect(s).toMatchObject({ synced: true, at: 10, version: 1 });

    s = applyNodesMessage(s, {
      type: 'nodes.updated',
      nodes: [nodeInfo('a', { running: 2 }), nodeInfo('c', { kind: 'browser' })],
      gone: ['b'],
      at: 20,
    });
    expect([...s.nodes.keys()].sort()).toEqual(['a', 'c']);
    expect(s.nodes.get('a')?.running).toBe(2);
    expect(s.nodes.get('c')?.kind).toBe('browser');
    expect(s).toMatchObject({ at: 20, version: 2 });
  });

  test('behavior: a snapshot replaces everything known (a reconnect resyncs)', () => {
    let s = applyNodesMessage(emptyNodesState(), { type: 'nodes.snapshot', nodes: [nodeInfo('a')], at: 1 });
    s = applyNodesMessage(s, { type: 'nodes.snapshot', nodes: [nodeInfo('z')], at: 2 });
    expect([...s.nodes.keys()]).toEqual(['z']);
  });

  test('behavior: updates never change the previous state (React sees a new map)', () => {
    const before = applyNodesMessage(emptyNodesState(), {
      type: 'nodes.snapshot',
      nodes: [nodeInfo('a')],
      at: 1,
    });
    const after = applyNodesMessage(before, { type: 'nodes.updated', nodes: [], gone: ['a'], at: 2 });
    expect(before.nodes.size).toBe(1);
    expect(after.nodes.size).toBe(0);
    expect(after.nodes).not.toBe(before.nodes);
  });

  test('behavior: pongs and errors change nothing', () => {
    const s = emptyNodesState();
    expect(applyNodesMessage(s, { type: 'pong' })).toBe(s);
    expect(applyNodesMessage(s, { type: 'error', code: 'bad_message', message: 'x' })).toBe(s);
  });
});

describe('links and counts', () => {
  const a = nodeInfo('a', { peerId: 'PA', peers: ['PB', 'PC', 'P-elsewhere'] });
  const b = nodeInfo('b', { peerId: 'PB', peers: ['PA'], running: 1 });
  const c = nodeInfo('c', { peerId: 'PC', kind: 'browser' });

  test('default: a link per connected pair, once, whichever end reports it', () => {
    expect(linksOf([a, b, c])).toEqual([
      { from: 'a', to: 'b' },
      { from: 'a', to: 'c' },
    ]);
    expect(neighboursOf('a', linksOf([a, b, c]))).toEqual(['b', 'c']);
    expect(neighboursOf('c', linksOf([a, b, c]))).toEqual(['a']);
  });

  test('behavior: peers that are not listed nodes draw no link', () => {
    expect(linksOf([a])).toEqual([]);
    expect(linksOf([b, c])).toEqual([]);
  });

  test('default: counts by kind and state', () => {
    expect(countsOf([a, b, c])).toEqual({ total: 3, headless: 2, browser: 1, busy: 1, idle: 2, links: 2 });
    expect(countsOf([])).toEqual({ total: 0, headless: 0, browser: 0, busy: 0, idle: 0, links: 0 });
  });

  test('default: labels and places', () => {
    expect(nodeLabel({ nodeId: '12D3KooWQmVeryLongPeerIdentifier' })).toBe('…entifier');
    expect(nodeLabel({ nodeId: 'short-id' })).toBe('short-id');
    expect(nodeLabel({ nodeId: 'x', name: 'laptop' })).toBe('laptop');
    expect(placeOf(a)).toBe('Austin, US');
    expect(placeOf(nodeInfo('x', { location: {} }))).toBe('location unknown');
  });
});
