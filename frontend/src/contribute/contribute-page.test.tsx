import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, expect, test, vi } from 'vitest';
import type { BrowserNodeOptions } from '../../../browser-node/src/browser/browser-node.ts';
import type { PauseReason } from '../../../browser-node/src/core/compute-node.ts';
import type { NodeStanding } from '../../../protocol/index.ts';
import { ContributePage, formatCpuTime } from './contribute-page.tsx';

// The contribute page with stand-ins for startBrowserNode, the key store, the wallet and its
// signature (the real ones run in the e2e test): the form, what it passes, the status it shows,
// throttling and pausing a running node, linking a wallet, stopping, and a start that fails.

const started: BrowserNodeOptions[] = [];
const stop = vi.fn(async () => {});
const setCpuShare = vi.fn();
const setOwner = vi.fn();
const paused = new Set<PauseReason>();
let failWith: Error | undefined;
/** When set, starting waits for it (settings can change meanwhile). */
let gate: Promise<void> | undefined;
const standing: NodeStanding = {
  reputation: { score: 0.8, accepted: 3, rejected: 0, late: 1, lost: 0 },
  work: { tasks: 3, cpuMs: 4200 },
};
const wallet = { address: undefined as string | undefined };

vi.mock('wagmi', () => ({
  useConnection: () => ({
    address: wallet.address,
    chainId: 31337,
    connector: wallet.address ? { getProvider: async () => ({ request: async () => null }) } : undefined,
  }),
}));
vi.mock('../../../client/node-link.ts', () => ({
  linkNodeWithEip1193: async ({ peerId }: { peerId: string }) => ({
    message: `link ${peerId}`,
    signature: '0xabcd',
  }),
}));
vi.mock('../../../browser-node/src/browser/indexeddb-key-store.ts', () => ({
  IndexedDbKeyStore: class {},
}));
vi.mock('../../../browser-node/src/core/identity.ts', () => ({
  loadOrCreateIdentity: async () => ({ peerId: { toString: () => '12D3KooWTabPeer' } }),
}));
vi.mock('../../../browser-node/src/browser/browser-node.ts', () => ({
  startBrowserNode: async (options: BrowserNodeOptions) => {
    if (failWith) throw failWith;
    await gate;
    started.push(options);
    queueMicrotask(() => options.onEvent?.({ type: 'connected', nodeId: 'n' }));
    return {
      identity: { peerId: { toString: () => '12D3KooWTabPeer' } },
      fingerprint: { class: '0123456789abcdef' },
      node: {
        stats: { completed: 3, failed: 0, cpuMs: 4200 },
        running: 1,
        connected: true,
        current: [{ jobId: 'job-0123456789abcdef', index: 7, runtime: 'python', startedAt: 0 }],
        get pausedFor() {
          return [...paused];
        },
        standing,
        cpuShare: 1,
        setCpuShare,
        setOwner,
        setPaused: (reason: PauseReason, on: boolean) => {
          if (on) paused.add(reason);
          else paused.delete(reason);
          options.onEvent?.({ type: 'paused', reasons: [...paused] });
        },
      },
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
  setCpuShare.mockClear();
  setOwner.mockClear();
  paused.clear();
  failWith = undefined;
  gate = undefined;
  wallet.address = undefined;
  localStorage.clear();
});

const startNode = async () => {
  fireEvent.click(screen.getByRole('button', { name: 'Start contributing' }));
  await waitFor(() => expect(screen.getByTestId('node-status').textContent).toBe('Connected'));
};

test('default: start runs a node in the tab with the workers and share asked for, shows its status, and stop ends it', async () => {
  render(<ContributePage />);
  fireEvent.change(screen.getByRole('spinbutton', { name: 'Workers' }), { target: { value: '3' } });
  fireEvent.change(screen.getByRole('slider', { name: 'CPU share' }), { target: { value: '50' } });
  await startNode();
  // jsdom serves the page from localhost: a local mesh's ws:// relays may be dialed.
  expect(started[0]).toMatchObject({ workers: 3, cpuShare: 0.5, allowLocalAddresses: true });
  expect(started[0]).not.toHaveProperty('owner');
  expect(screen.getByTestId('tasks-done').textContent).toBe('3');
  expect(screen.getByTestId('cpu-time').textContent).toBe('4.2 s');
  expect(screen.getByTestId('peers-connected').textContent).toBe('2');
  expect(screen.getByTestId('blocks').textContent).toBe('7 / 1');
  expect(screen.getByTestId('fingerprint').textContent).toBe('0123456789abcdef');
  expect(screen.getByTestId('reputation').textContent).toBe('80%');
  expect(screen.getByTestId('current-task').textContent).toContain('task 7 of job job-01…cdef (python)');
  expect(screen.getByTestId('owner').textContent).toContain('Anonymous');
  expect(screen.getByTestId('credited').textContent).toBe(
    'Accepted from this node so far: 3 tasks, 4.2 s of task time',
  );
  expect(screen.getAllByRole('cell').map((c) => c.textContent)).toContain('WebRTC');
  expect(window.__monadmesh?.peerId).toBe('12D3KooWTabPeer');
  expect(screen.getByRole('spinbutton', { name: 'Workers' })).toHaveProperty('disabled', true);

  fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
  await screen.findByRole('button', { name: 'Start contributing' });
  expect(stop).toHaveBeenCalledOnce();
  expect(window.__monadmesh).toBeUndefined();
});

test('throttle and pause: the share changes a running node at once; Pause and Resume; pause when hidden if asked', async () => {
  render(<ContributePage />);
  await startNode();
  fireEvent.change(screen.getByRole('slider', { name: 'CPU share' }), { target: { value: '25' } });
  expect(setCpuShare).toHaveBeenLastCalledWith(0.25);
  expect(screen.getByTestId('cpu-share').textContent).toBe('25%');

  fireEvent.click(screen.getByRole('button', { name: 'Pause' }));
  await waitFor(() => expect(screen.getByTestId('node-status').textContent).toBe('Paused (paused by you)'));
  fireEvent.click(screen.getByRole('button', { name: 'Resume' }));
  await waitFor(() => expect(screen.getByTestId('node-status').textContent).toBe('Connected'));

  fireEvent.click(screen.getByRole('checkbox', { name: 'Pause while this tab is hidden' }));
  const visibility = vi.spyOn(document, 'visibilityState', 'get').mockReturnValue('hidden');
  act(() => void document.dispatchEvent(new Event('visibilitychange')));
  await waitFor(() => expect(screen.getByTestId('node-status').textContent).toBe('Paused (tab hidden)'));
  visibility.mockReturnValue('visible');
  act(() => void document.dispatchEvent(new Event('visibilitychange')));
  await waitFor(() => expect(screen.getByTestId('node-status').textContent).toBe('Connected'));
  visibility.mockRestore();

  // jsdom has no Battery Status API: the page says so instead of pretending.
  fireEvent.click(screen.getByRole('checkbox', { name: 'Pause on battery' }));
  await screen.findByText('this browser does not say whether it runs on battery');
});

test('throttle: a share chosen while the node starts applies once it runs', async () => {
  let open!: () => void;
  gate = new Promise((resolve) => {
    open = resolve;
  });
  render(<ContributePage />);
  fireEvent.click(screen.getByRole('button', { name: 'Start contributing' }));
  await screen.findByText('Starting workers and measuring this browser…');
  fireEvent.change(screen.getByRole('slider', { name: 'CPU share' }), { target: { value: '40' } });
  open();
  await waitFor(() => expect(screen.getByTestId('node-status').textContent).toBe('Connected'));
  expect(started[0]?.cpuShare).toBe(1);
  expect(setCpuShare).toHaveBeenLastCalledWith(0.4);
});

test('wallet: linking signs for this node, tells the running node, is kept for the next start; anonymous again on request', async () => {
  wallet.address = '0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
  render(<ContributePage />);
  await startNode();
  fireEvent.click(screen.getByRole('button', { name: 'Link to wallet 0xf39f…2266' }));
  await waitFor(() =>
    expect(setOwner).toHaveBeenCalledWith({ message: 'link 12D3KooWTabPeer', signature: '0xabcd' }),
  );
  expect(screen.getByTestId('owner').textContent).toContain('0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266');
  expect(JSON.parse(localStorage.getItem('monadmesh.node-link') ?? '{}')).toMatchObject({
    peerId: '12D3KooWTabPeer',
    address: '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266',
  });
  fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
  await screen.findByRole('button', { name: 'Start contributing' });
  await startNode();
  expect(started[1]?.owner).toEqual({ message: 'link 12D3KooWTabPeer', signature: '0xabcd' });

  fireEvent.click(screen.getByRole('button', { name: 'Make anonymous' }));
  expect(setOwner).toHaveBeenLastCalledWith(null);
  expect(localStorage.getItem('monadmesh.node-link')).toBeNull();
  expect(screen.getByTestId('owner').textContent).toContain('Anonymous');
});

test('wallet: a link made for another key (storage reset) is not sent', async () => {
  localStorage.setItem(
    'monadmesh.node-link',
    JSON.stringify({ peerId: '12D3KooWOldKey', address: '0xabc', link: { message: 'm', signature: '0x1' } }),
  );
  render(<ContributePage />);
  await startNode();
  expect(started[0]).not.toHaveProperty('owner');
});

test('error: a node that cannot start says why, and the page can try again', async () => {
  failWith = new Error('another tab of this browser already runs a node as 12D3KooWTabPeer');
  render(<ContributePage />);
  fireEvent.click(screen.getByRole('button', { name: 'Start contributing' }));
  expect((await screen.findByRole('alert')).textContent).toContain('already runs a node');
  expect(screen.getByRole('button', { name: 'Start contributing' })).toHaveProperty('disabled', false);
});

test('formatCpuTime: seconds, minutes, hours', () => {
  expect(formatCpuTime(1234)).toBe('1.2 s');
  expect(formatCpuTime(125_000)).toBe('2 min 5 s');
  expect(formatCpuTime(3_725_000)).toBe('1 h 2 min');
});
