import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { afterAll, describe, expect, test } from 'vitest';
import { IdentityError, loadOrCreateIdentity } from '../core/identity.ts';
import { defaultKeyFile, FileKeyStore } from './file-key-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'monadmesh-key-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `case-${n++}`, 'sub', 'node-key');

describe('FileKeyStore + loadOrCreateIdentity', () => {
  test('default: creates an Ed25519 key readable by its owner only, and the same peer id after a restart', async () => {
    const path = fresh();
    const first = await loadOrCreateIdentity(new FileKeyStore(path));
    expect(first.peerId.type).toBe('Ed25519');
    expect(first.peerId.toString()).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o700);
    const again = await loadOrCreateIdentity(new FileKeyStore(path));
    expect(again.peerId.toString()).toBe(first.peerId.toString());
    expect(again.privateKey.equals(first.privateKey)).toBe(true);
    // And it signs as the same key.
    const msg = new TextEncoder().encode('hello');
    expect(await first.peerId.publicKey.verify(msg, await again.privateKey.sign(msg))).toBe(true);
  });

  test('behavior: a stored key is never replaced, and nodes racing on an empty file share one key', async () => {
    const path = fresh();
    const ids = await Promise.all(
      Array.from({ length: 6 }, () =>
        loadOrCreateIdentity(new FileKeyStore(path)).then((i) => i.peerId.toString()),
      ),
    );
    expect(new Set(ids).size).toBe(1);
    const before = readFileSync(path);
    await new FileKeyStore(path).save(privateKeyToProtobuf(await generateKeyPair('Ed25519')));
    expect(readFileSync(path)).toEqual(before);
    expect((await loadOrCreateIdentity(new FileKeyStore(path))).peerId.toString()).toBe(ids[0]);
  });

  test('behavior: the default path is ~/.monadmesh/node-key unless the environment says otherwise', () => {
    expect(defaultKeyFile({ HOME: '/home/x' })).toMatch(/\.monadmesh\/node-key$/);
    expect(defaultKeyFile({ MONADMESH_NODE_KEY_FILE: '/etc/mm/key' })).toBe('/etc/mm/key');
  });

  test('error: a corrupted key file fails with an error that names the file and the way out', async () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['garbage', new TextEncoder().encode('not a key at all\n'), /is not a libp2p private key/],
      [
        'truncated',
        privateKeyToProtobuf(await generateKeyPair('Ed25519')).slice(0, 40),
        /is not a libp2p private key/,
      ],
      [
        'secp256k1',
        privateKeyToProtobuf(await generateKeyPair('secp256k1')),
        /is a secp256k1 key; nodes sign with Ed25519/,
      ],
    ];
    const damaged = privateKeyToProtobuf(await generateKeyPair('Ed25519'));
    damaged[damaged.length - 1]! ^= 0xff; // the public half, stored after the private half
    cases.push(['damaged public half', damaged, /is damaged: its public half does not match/]);
    for (const [name, bytes, message] of cases) {
      const path = fresh();
      await new FileKeyStore(path).save(bytes);
      const error = await loadOrCreateIdentity(new FileKeyStore(path)).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(IdentityError);
      expect((error as Error).message, name).toMatch(message);
      expect((error as Error).message, name).toContain(path);
      expect((error as Error).message, name).toMatch(/delete it to start this node with a new identity/);
      // The broken file is left alone for its owner to look at.
      expect(readFileSync(path), name).toEqual(Buffer.from(bytes));
    }
  });

  test('error: an unreadable location is reported as it is, not as a missing key', async () => {
    const path = fresh();
    await loadOrCreateIdentity(new FileKeyStore(path));
    // A directory where the file should be.
    const store = new FileKeyStore(join(path, '..'));
    await expect(store.load()).rejects.toThrow(/EISDIR/);
    writeFileSync(join(dir, 'a-file'), 'x');
    await expect(new FileKeyStore(join(dir, 'a-file', 'node-key')).save(new Uint8Array(1))).rejects.toThrow(
      /ENOTDIR|EEXIST/,
    );
  });
});
