import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, expect, test, vi } from 'vitest';
import type { BrowserNodeOptions } from '../../../browser-node/src/browser/browser-node.ts';
import { ContributePage } from './contribute-page.tsx';

// The contribute page with a stand-in for startBrowserNode (the real one runs in the e2e test):
// the form, what it passes, the status it shows, stopping, and a start that fails.

const started: BrowserNodeOptions[] = [];
const stop = vi.fn(async () => {});
let failWith: Error | undefined;

vi.mock('../../../browser-node/src/browser/browser-node.ts', () => ({
  startBrowserNode: async (options: BrowserNodeOptions) => {
    if (failWith) throw failWith;
    started.push(options);
    queueMicrotask(() => options.onEvent?.({ type: 'connected', nodeId: 'n' }));
    return {
      identity: { peerId: { toString: () => '12D3KooWTabPeer' } },
      fingerprint: { class: '0123456789abcdef' },
      node: { stats: { completed: 3, failed: 0 }, running: 1, connected: true },
      dataPlane: {
        stats: { fromPeers: 7, fromOrigin: 1 },
        peer: {
          connections: () => [
            {
              peerId: '12D3KooWRelayPeer0001',
              remoteAddr: '/ip4/127.0.0.1/tcp/1/ws/p2p/x',
              direction: 'outbound',
              limited: false,
              openedAt: 0,
            },
            {
              peerId: '12D3KooWOtherPeer0002',
              remoteAddr: '/ip4/127.0.0.1/tcp/1/ws/p2p/x/p2p-circuit/webrtc/p2p/y',
              direction: 'inbound',
              limited: false,
              openedAt: 0,
            },
          ],
          multiaddrs: () => ['/ip4/127.0.0.1/tcp/1/ws/p2p/x/p2p-circuit/webrtc/p2p/12D3KooWTabPeer'],
          libp2p: { addEventListener: () => {} },
        },
      },
      stop,
    };
  },
}));

afterEach(() => {
  cleanup();
  started.length = 0;
  stop.mockClear();
  failWith = undefined;
});

test('default: start runs a node in the tab with the workers asked for, shows its status, and stop ends it', async () => {
  render(<ContributePage />);
  fireEvent.change(screen.getByRole('spinbutton', { name: 'Workers' }), { target: { value: '3' } });
  fireEvent.click(screen.getByRole('button', { name: 'Start contributing' }));
  await waitFor(() => expect(screen.getByTestId('node-status').textContent).toBe('Connected'));
  // jsdom serves the page from localhost: a local mesh's ws:// relays may be dialed.
  expect(started[0]).toMatchObject({ workers: 3, allowLocalAddresses: true });
  expect(screen.getByTestId('tasks-done').textContent).toBe('3');
  expect(screen.getByTestId('peers-connected').textContent).toBe('2');
  expect(screen.getByTestId('blocks').textContent).toBe('7 / 1');
  expect(screen.getByTestId('fingerprint').textContent).toBe('0123456789abcdef');
  expect(screen.getAllByRole('cell').map((c) => c.textContent)).toContain('WebRTC');
  expect(window.__monadmesh?.peerId).toBe('12D3KooWTabPeer');
  expect(screen.getByRole('spinbutton', { name: 'Workers' })).toHaveProperty('disabled', true);

  fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
  await screen.findByRole('button', { name: 'Start contributing' });
  expect(stop).toHaveBeenCalledOnce();
  expect(window.__monadmesh).toBeUndefined();
});

test('error: a node that cannot start says why, and the page can try again', async () => {
  failWith = new Error('another tab of this browser already runs a node as 12D3KooWTabPeer');
  render(<ContributePage />);
  fireEvent.click(screen.getByRole('button', { name: 'Start contributing' }));
  expect((await screen.findByRole('alert')).textContent).toContain('already runs a node');
  expect(screen.getByRole('button', { name: 'Start contributing' })).toHaveProperty('disabled', false);
});
