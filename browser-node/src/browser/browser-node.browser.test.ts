import { generateKeyPair } from '@libp2p/crypto/keys';
import { afterEach, describe, expect, test } from 'vitest';
import { identityFromKey } from '../core/identity.ts';
import { type BrowserNode, NodeAlreadyRunningError, startBrowserNode } from './browser-node.ts';

// startBrowserNode in Chromium, without an API (the node keeps trying to reach it): its parts
// are wired (Web Workers, fingerprint, the libp2p peer and data plane) and one key runs one node
// per browser, whichever tab starts it.

const running: BrowserNode[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.stop(0)));
});

const options = { api: 'http://127.0.0.1:9', workers: 1, pyodideUrl: '/node_modules/pyodide/' };

describe('startBrowserNode', () => {
  test('default: a tab node has its libp2p peer (the key’s peer id) and a data plane, and no address of its own', async () => {
    const identity = identityFromKey(await generateKeyPair('Ed25519'));
    const node = await startBrowserNode({ ...options, identity });
    running.push(node);
    expect(node.dataPlane?.peer.peerId.toString()).toBe(identity.peerId.toString());
    expect(node.fingerprint.class).toMatch(/^[0-9a-f]{16}$/);
    // A tab listens on nothing of its own: its addresses come from relay reservations.
    expect(node.dataPlane?.peer.multiaddrs()).toEqual([]);
    expect(node.node.connected).toBe(false);
  });

  test('error: a second node with the same key is refused until the first stops', async () => {
    const identity = identityFromKey(await generateKeyPair('Ed25519'));
    const first = await startBrowserNode({ ...options, identity, mesh: false });
    await expect(startBrowserNode({ ...options, identity, mesh: false })).rejects.toThrow(
      NodeAlreadyRunningError,
    );
    await first.stop(0);
    const again = await startBrowserNode({ ...options, identity, mesh: false });
    running.push(again);
    expect(again.dataPlane).toBeUndefined();
  });
});
