import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { afterAll, describe, expect, test } from 'vitest';
import { decodeSignature, receiptBatch } from '../../../protocol/index.ts';
import { IdentityError, loadOrCreateIdentity } from '../core/identity.ts';
import { outcomeReceipt, signResults } from '../core/sign-outcome.ts';
import { IndexedDbKeyStore } from './indexeddb-key-store.ts';

// A database per test, deleted afterwards, so runs do not see each other's keys.
const databases: string[] = [];
const store = (name = 'node-key') => {
  const database = `monadmesh-test-${crypto.randomUUID()}`;
  databases.push(database);
  return { database, store: new IndexedDbKeyStore({ database, name }) };
};
afterAll(async () => {
  await Promise.all(
    databases.map(
      (name) =>
        new Promise<void>((resolve) => {
          const request = indexedDB.deleteDatabase(name);
          request.onsuccess = request.onerror = request.onblocked = () => resolve();
        }),
    ),
  );
});

describe('IndexedDbKeyStore in Chromium', () => {
  test('default: the key is created once and the tab has the same peer id after a reload', async () => {
    const { database, store: first } = store();
    expect(await first.load()).toBeUndefined();
    const identity = await loadOrCreateIdentity(first);
    expect(identity.peerId.type).toBe('Ed25519');
    // A new store object, as after a reload: it reads the same record.
    const again = await loadOrCreateIdentity(new IndexedDbKeyStore({ database }));
    expect(again.peerId.toString()).toBe(identity.peerId.toString());
    expect(again.privateKey.equals(identity.privateKey)).toBe(true);
    expect(first.location).toBe(`IndexedDB ${database}/keys/node-key`);
    // One database, one object store.
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open(database);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    expect([...db.objectStoreNames]).toEqual(['keys']);
    db.close();
  });

  test('behavior: a stored key is never replaced, and tabs racing on an empty store share one key', async () => {
    const { database } = store();
    const ids = await Promise.all(
      Array.from({ length: 5 }, () =>
        loadOrCreateIdentity(new IndexedDbKeyStore({ database })).then((i) => i.peerId.toString()),
      ),
    );
    expect(new Set(ids).size).toBe(1);
    const s = new IndexedDbKeyStore({ database });
    const before = await s.load();
    await s.save(privateKeyToProtobuf(await generateKeyPair('Ed25519')));
    expect(await s.load()).toEqual(before);
  });

  test('behavior: the key signs receipts in the tab (WebCrypto Ed25519 or the libp2p fallback)', async () => {
    const identity = await loadOrCreateIdentity(store().store);
    const task = {
      jobId: '7d7ec5f6-2f43-4d2a-9bde-0f3c3e4ab001',
      index: 0,
      attempt: 1,
      leaseId: '0b8f2c1e-44a6-4f8f-8d40-6cf1d1c4e0a2',
      codeCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
      input: [1, 2],
    };
    const receipt = await outcomeReceipt(task, { ok: true, output: 3 });
    const outcome = {
      ok: true as const,
      jobId: task.jobId,
      index: 0,
      leaseId: task.leaseId,
      output: 3,
      logs: '',
      durationMs: 1,
      receipt,
    };
    const signature = await signResults(identity, [outcome]);
    const { signed } = receiptBatch([
      {
        ...task,
        inputCid: receipt.inputCid,
        ok: true,
        outputHash: receipt.outputHash,
        peerId: identity.peerId.toString(),
      },
    ]);
    expect(await identity.peerId.publicKey.verify(signed, decodeSignature(signature)!)).toBe(true);
  });

  test('error: a corrupted record fails with an error that names where it is', async () => {
    const { database, store: s } = store();
    await s.save(new TextEncoder().encode('garbage'));
    const error = await loadOrCreateIdentity(s).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdentityError);
    expect((error as Error).message).toMatch(
      new RegExp(`the node key in IndexedDB ${database}/keys/node-key is not a libp2p private key`),
    );
  });
});
