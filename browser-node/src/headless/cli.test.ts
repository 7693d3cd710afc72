import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ROOT, startProcess } from '../../../scripts/local-mesh.ts';
import { loadOrCreateIdentity } from '../core/identity.ts';
import { FileKeyStore } from './file-key-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'monadmesh-cli-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = join(ROOT, 'browser-node/src/headless/cli.ts');
// Nothing listens there: the node keeps retrying, which is all these tests need.
const api = 'http://127.0.0.1:9';

describe('node CLI identity', () => {
  test('default: the key file names the node, and the same file gives the same id', async () => {
    const keyFile = join(dir, 'a', 'node-key');
    const first = startProcess(process.execPath, [
      cli,
      '--api',
      api,
      '--capacity',
      '1',
      '--key-file',
      keyFile,
    ]);
    try {
      await first.waitFor(/peer id 12D3KooW\w+ \(key /, 30_000);
    } finally {
      await first.stop('SIGKILL');
    }
    const { peerId } = await loadOrCreateIdentity(new FileKeyStore(keyFile));
    expect(first.output()).toContain(`peer id ${peerId} (key ${keyFile})`);
    // The environment variable is the default when no flag is given.
    const second = startProcess(process.execPath, [cli, '--api', api, '--capacity', '1'], {
      env: { MONADMESH_NODE_KEY_FILE: keyFile },
    });
    try {
      await second.waitFor(/peer id 12D3KooW\w+ \(key /, 30_000);
    } finally {
      await second.stop('SIGKILL');
    }
    expect(second.output()).toContain(`peer id ${peerId} (key ${keyFile})`);
  });

  test('error: a corrupted key file stops the node with a clear message', async () => {
    const keyFile = join(dir, 'corrupt-key');
    writeFileSync(keyFile, 'definitely not a key');
    const proc = startProcess(process.execPath, [cli, '--api', api, '--key-file', keyFile]);
    const code = await new Promise<number | null>((resolve) => proc.child.once('exit', resolve));
    expect(code).toBe(1);
    expect(proc.output()).toMatch(
      new RegExp(
        `^monadmesh-node: the node key in ${keyFile} is not a libp2p private key .*delete it to start this node with a new identity`,
      ),
    );
  });
});
