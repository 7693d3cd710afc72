import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { afterEach, describe, expect, test } from 'vitest';
import {
  decodeSignature,
  encodeSignature,
  type HubToNode,
  inputCidOf,
  type LeasedTask,
  type NodeInfo,
  outcomeHashOf,
  type ResultsPage,
  type RuntimeFingerprint,
  receiptBytes,
  type TaskOutcome,
} from '../../protocol/index.ts';
import { api, connectNode, type NodeSocket, newIdentity, signIn, submit } from './helpers.ts';

type Leased = Extract<HubToNode, { type: 'task.leased' }>;
type Ack = Extract<HubToNode, { type: 'results.ack' }>;
const isLeased = (m: HubToNode): m is Leased => m.type === 'task.leased';
const isAck = (m: HubToNode): m is Ack => m.type === 'results.ack';

const created: { id: string; token: string }[] = [];
const sockets: NodeSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const { id, token } of created.splice(0)) await api(`/jobs/${id}/cancel`, { method: 'POST', token });
});

const fingerprint: RuntimeFingerprint = {
  class: 'fedcba9876543210',
  probeHash: `fedcba9876543210${'b'.repeat(48)}`,
  engine: { name: 'node', version: '24.0.0' },
};

async function newJob(spec: Parameters<typeof submit>[1] = {}) {
  const token = await signIn();
  const id = await submit(token, spec);
  created.push({ id, token });
  return { id, token };
}

async function node(id: string, options?: Parameters<typeof connectNode>[1]) {
  const s = await connectNode(id, { fingerprint, ...options });
  sockets.push(s);
  return s;
}

/** Lease `count` tasks of `jobId`, in index order. */
async function take(s: NodeSocket, jobId: string, count: number): Promise<LeasedTask[]> {
  s.send({ type: 'lease.request', credit: count });
  const got: LeasedTask[] = [];
  while (got.length < count) got.push(...(await s.next(isLeased)).tasks.filter((t) => t.jobId === jobId));
  return got.sort((a, b) => a.index - b.index);
}

const ok = (t: LeasedTask, output: unknown = (t.input as number) * 2): TaskOutcome => ({
  ok: true,
  jobId: t.jobId,
  index: t.index,
  leaseId: t.leaseId,
  output: output as number,
  logs: '',
  durationMs: 1,
});

const results = async (id: string, token: string) =>
  (await (await api(`/jobs/${id}/results`, { token })).json()) as ResultsPage;

/** Send one frame as is and return its acknowledgement. */
async function sendRaw(s: NodeSocket, results: TaskOutcome[]): Promise<Ack> {
  s.send({ type: 'task.results', results, credit: 0 });
  return s.next(isAck);
}

describe('signed receipts', () => {
  test('default: a correctly signed result counts, and its receipt comes back with the result', async () => {
    const { id, token } = await newJob({ inputs: [{ n: 3, tag: 'é' }, 4] });
    const n = await node('node-receipt-ok');
    const [t0, t1] = await take(n, id, 2);
    const failure: TaskOutcome = {
      ok: false,
      jobId: id,
      index: t1!.index,
      leaseId: t1!.leaseId,
      error: { kind: 'user_error', message: 'no', stack: 'Error: no\n    at main (task.js:1:1)' },
      logs: '',
      durationMs: 1,
    };
    await n.report([ok(t0!, { sum: 6 }), failure]);
    const ack = await n.next(isAck);
    expect(ack).toMatchObject({ accepted: 2, ignored: [] });

    const page = await results(id, token);
    const [r0, r1] = page.results;
    expect(r0).toMatchObject({ state: 'succeeded', output: { sum: 6 } });
    expect(r0?.receipt).toEqual({
      jobId: id,
      index: 0,
      attempt: 1,
      leaseId: t0!.leaseId,
      codeCid: t0!.codeCid,
      inputCid: await inputCidOf({ n: 3, tag: 'é' }),
      ok: true,
      outputHash: await outcomeHashOf({ ok: true, output: { sum: 6 } }),
      fingerprintClass: fingerprint.class,
      peerId: n.identity.peerId.toString(),
      signature: expect.any(String),
    });
    expect(r1).toMatchObject({ state: 'failed', receipt: { ok: false, index: 1, attempt: 1 } });
    expect(r1?.receipt?.outputHash).toBe(await outcomeHashOf(failure));

    // Anyone can check a stored receipt again from the receipt alone.
    for (const r of [r0!, r1!]) {
      const { signature, ...fields } = r.receipt!;
      const key = peerIdFromString(fields.peerId).publicKey!;
      expect(await key.verify(receiptBytes(fields), decodeSignature(signature)!)).toBe(true);
      expect(
        await key.verify(receiptBytes({ ...fields, index: fields.index + 1 }), decodeSignature(signature)!),
      ).toBe(false);
    }
    const { nodes } = (await (await api('/nodes')).json()) as { nodes: NodeInfo[] };
    expect(nodes.find((x) => x.nodeId === 'node-receipt-ok')?.peerId).toBe(n.identity.peerId.toString());
  });

  test('error: a forged signature does not count, and the lease stays open for a good one', async () => {
    const { id, token } = await newJob({ inputs: [5] });
    const n = await node('node-receipt-forged');
    const [t] = await take(n, id, 1);
    const signed = await n.sign(ok(t!));
    const sig = decodeSignature(signed.receipt!.signature)!;
    sig[10]! ^= 1;
    const forged = { ...signed, receipt: { ...signed.receipt!, signature: encodeSignature(sig) } };
    const ack = await sendRaw(n, [forged]);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored).toEqual([
      { jobId: id, index: 0, reason: `receipt signature does not verify for peer ${n.identity.peerId}` },
    ]);
    expect((await results(id, token)).results[0]).toMatchObject({ state: 'leased' });
    expect((await sendRaw(n, [signed])).accepted).toBe(1);
    expect((await results(id, token)).results[0]).toMatchObject({ state: 'succeeded', output: 10 });
  });

  test('error: a receipt signed by another key does not count', async () => {
    const { id, token } = await newJob({ inputs: [5] });
    const n = await node('node-receipt-other-key');
    const [t] = await take(n, id, 1);
    const ack = await sendRaw(n, [await n.sign(ok(t!), { as: await newIdentity() })]);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored[0]?.reason).toBe(`receipt signature does not verify for peer ${n.identity.peerId}`);
    expect((await results(id, token)).results[0]?.state).toBe('leased');
  });

  test('error: a receipt for another output, input or fingerprint class does not count', async () => {
    const { id, token } = await newJob({ inputs: [1, 2, 3, 4] });
    const n = await node('node-receipt-mismatch');
    const [t0, t1, t2, t3] = await take(n, id, 4);
    // Signed for output 2, sent with output 3 (the receipt's outputHash still says 2).
    const swapped = { ...(await n.sign(ok(t0!, 2))), output: 3 };
    // The claimed hash matches what was sent, but the signature covers another output.
    const other = await n.sign(ok(t1!, 4));
    const relabelled = {
      ...ok(t1!, 5),
      receipt: { ...other.receipt!, outputHash: await outcomeHashOf({ ok: true, output: 5 }) },
    };
    // Signed over another input than the one the room stored.
    const wrongInput = await n.sign(ok(t2!));
    wrongInput.receipt!.inputCid = await inputCidOf(99);
    // Signed with a fingerprint class other than the one the node said hello with.
    const otherClass = await n.sign(ok(t3!), { fingerprintClass: '0000000000000000' });
    const ack = await sendRaw(n, [swapped, relabelled, wrongInput, otherClass]);
    expect(ack.accepted).toBe(0);
    expect(ack.ignored.map((i) => i.reason)).toEqual([
      `receipt is for another output (${swapped.receipt!.outputHash})`,
      `receipt signature does not verify for peer ${n.identity.peerId}`,
      `receipt is for another input (${wrongInput.receipt!.inputCid})`,
      `receipt signature does not verify for peer ${n.identity.peerId}`,
    ]);
    const page = await results(id, token);
    expect(page.results.map((r) => r.state)).toEqual(['leased', 'leased', 'leased', 'leased']);
  });

  test('error: unsigned results do not count, from a node with or without a peer id', async () => {
    const { id, token } = await newJob({ inputs: [1, 2] });
    const signedNode = await node('node-receipt-unsigned');
    const [t] = await take(signedNode, id, 1);
    expect((await sendRaw(signedNode, [ok(t!)])).ignored[0]?.reason).toBe(
      'result is not signed (no receipt)',
    );
    const anonymous = await node('node-receipt-anonymous', { anonymous: true });
    const [u] = await take(anonymous, id, 1);
    const ack = await sendRaw(anonymous, [await anonymous.sign(ok(u!))]);
    expect(ack.ignored[0]?.reason).toBe('result is not signed: the node sent no peerId in node.hello');
    expect((await results(id, token)).results.map((r) => r.state)).toEqual(['leased', 'leased']);
  });

  test('error: a node whose hello has an unusable peer id is refused', async () => {
    const secp256k1 = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString();
    const truncated = (await newIdentity()).peerId.toString().slice(0, -3);
    for (const [peerId, message] of [
      ['not-a-peer-id', /is not a libp2p peer id/],
      [truncated, /is not a libp2p peer id/],
      // A sha2-256 peer id (RSA keys): it names a key without holding it.
      ['QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N', /is not an Ed25519 peer id \(its key type is RSA\)/],
      [secp256k1, /is not an Ed25519 peer id \(its key type is secp256k1\)/],
    ] as const) {
      const res = await api('/mesh/connect', { headers: { upgrade: 'websocket' } });
      const ws = res.webSocket!;
      ws.accept();
      const got: HubToNode[] = [];
      const closed = new Promise<number>((r) => ws.addEventListener('close', (e) => r(e.code)));
      ws.addEventListener('message', (e) => got.push(JSON.parse(e.data as string) as HubToNode));
      ws.send(
        JSON.stringify({
          type: 'node.hello',
          protocol: '/monadmesh/hub/1.0.0',
          nodeId: 'node-bad-peer-id',
          kind: 'headless',
          runtimes: ['js'],
          capacity: 1,
          version: 't',
          peerId,
        }),
      );
      expect(await closed).toBe(1008);
      expect(got).toEqual([{ type: 'error', code: 'bad_message', message: expect.stringMatching(message) }]);
    }
    const { nodes } = (await (await api('/nodes')).json()) as { nodes: NodeInfo[] };
    expect(nodes.map((x) => x.nodeId)).not.toContain('node-bad-peer-id');
  });
});
