import { generateKeyPair } from '@libp2p/crypto/keys';
import { describe, expect, test } from 'vitest';
import {
  cidOf,
  decodeSignature,
  inputCidOf,
  type LeasedTask,
  outcomeHashOf,
  receiptBatch,
  resultsReceiptFields,
  type TaskOutcome,
} from '../../../protocol/index.ts';
import { identityFromKey } from './identity.ts';
import { outcomeReceipt, signResults } from './sign-outcome.ts';

const identity = identityFromKey(await generateKeyPair('Ed25519'));
const task: LeasedTask = {
  jobId: '7d7ec5f6-2f43-4d2a-9bde-0f3c3e4ab001',
  index: 3,
  leaseId: '0b8f2c1e-44a6-4f8f-8d40-6cf1d1c4e0a2',
  attempt: 2,
  runtime: 'js',
  codeCid: (await cidOf(new TextEncoder().encode('export default (x) => x'))).toString(),
  input: { x: [1, 2] },
  timeoutMs: 1000,
  memoryMb: 64,
  seed: 's:3',
  clock: 0,
  expiresAt: 0,
  deadline: 0,
};

describe('outcomeReceipt', () => {
  test('default: the lease number, the code, and the CIDs of the input and the output', async () => {
    expect(await outcomeReceipt(task, { ok: true, output: 'out' })).toEqual({
      attempt: 2,
      codeCid: task.codeCid,
      inputCid: await inputCidOf({ x: [1, 2] }),
      outputHash: await outcomeHashOf({ ok: true, output: 'out' }),
    });
  });

  test('behavior: a failure is hashed as its error', async () => {
    const error = { kind: 'user_error' as const, message: 'boom' };
    const receipt = await outcomeReceipt(task, { ok: false, error });
    expect(receipt.outputHash).toBe(await outcomeHashOf({ ok: false, error }));
    expect(receipt.outputHash).not.toBe((await outcomeReceipt(task, { ok: true, output: error })).inputCid);
  });
});

describe('signResults', () => {
  const outcome = async (index: number, output: number): Promise<TaskOutcome> => {
    const t = { ...task, index };
    return {
      ok: true,
      jobId: t.jobId,
      index,
      leaseId: t.leaseId,
      output,
      logs: '',
      durationMs: 1,
      receipt: await outcomeReceipt(t, { ok: true, output }),
    };
  };
  const fieldsOf = (results: TaskOutcome[], fingerprintClass?: string) =>
    resultsReceiptFields(results, identity.peerId.toString(), fingerprintClass);

  test("default: one signature over the batch of the frame's receipts, with the fingerprint class", async () => {
    const results = await Promise.all([outcome(0, 10), outcome(1, 11), outcome(2, 12)]);
    const sig = decodeSignature(await signResults(identity, results, 'aaaaaaaaaaaaaaaa'))!;
    const verify = (fields: ReturnType<typeof fieldsOf>) =>
      identity.peerId.publicKey.verify(receiptBatch(fields).signed, sig);
    expect(await verify(fieldsOf(results, 'aaaaaaaaaaaaaaaa'))).toBe(true);
    // Another class, another order, one result fewer or changed: not what was signed.
    expect(await verify(fieldsOf(results))).toBe(false);
    expect(await verify(fieldsOf([...results].reverse(), 'aaaaaaaaaaaaaaaa'))).toBe(false);
    expect(await verify(fieldsOf(results.slice(1), 'aaaaaaaaaaaaaaaa'))).toBe(false);
    const changed = fieldsOf(results, 'aaaaaaaaaaaaaaaa');
    changed[1] = { ...changed[1]!, attempt: 3 };
    expect(await verify(changed)).toBe(false);
  });

  test('behavior: the identity signs as its libp2p key does (Ed25519 is deterministic)', async () => {
    const msg = new TextEncoder().encode('monadmesh');
    expect([...(await identity.sign(msg))]).toEqual([...(await identity.privateKey.sign(msg))]);
  });
});
