import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { afterEach, describe, expect, test } from 'vitest';
import {
  decodeSignature,
  encodeSignature,
  type HubToNode,
  inputCidOf,
  type LeasedTask,
  MESH_PROTOCOL,
  type NodeInfo,
  type NodeToHub,
  outcomeHashOf,
  type ResultsPage,
  type RuntimeFingerprint,
  receiptSignedBytes,
  type TaskReceipt,
} from '../../protocol/index.ts';
import {
  api,
  connectNode,
  helloProof,
  type NodeSocket,
  newIdentity,
  signIn,
  submit,
  type Unsigned,
} from './helpers.ts';

type Leased = Extract<HubToNode, { type: 'task.leased' }>;
type Ack = Extract<HubToNode, { type: 'results.ack' }>;
type ErrorFrame = Extract<HubToNode, { type: 'error' }>;
type ResultsFrame = Extract<NodeToHub, { type: 'task.results' }>;
const isLeased = (m: HubToNode): m is Leased => m.type === 'task.leased';
const isAck = (m: HubToNode): m is Ack => m.type === 'results.ack';
const isError = (m: HubToNode): m is ErrorFrame => m.type === 'error';

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

const ok = (t: LeasedTask, output: unknown = (t.input as number) * 2): Unsigned => ({
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
async function sendRaw(s: NodeSocket, frame: ResultsFrame): Promise<Ack> {
  s.send(frame);
  return s.next(isAck);
}

/** Does the stored receipt's signature verify, from the receipt alone, with its peer id's key? */
async function verifies(receipt: TaskReceipt): Promise<boolean> {
  const signed = receiptSignedBytes(receipt);
  const signature = decodeSignature(receipt.signature);
  if (!signed || !signature) return false;
  return peerIdFromString(receipt.peerId).publicKey!.verify(signed, signature);
}

const badSignature = (s: NodeSocket) =>
  `the frame's signature does not verify for peer ${s.identity.peerId} over these receipts`;

describe('signed receipts', () => {
  test('default: a correctly signed batch counts, and each receipt comes back with its result and checks alone', async () => {
    const { id, token } = await newJob({ inputs: [{ n: 3, tag: 'é' }, 4] });
    const n = await node('node-receipt-ok');
    const [t0, t1] = await take(n, id, 2);
    const failure: Unsigned = {
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
      // Its leaf is the first of the frame's two; the proof is its sibling's hash.
      batch: { size: 2, index: 0, proof: [expect.stringMatching(/^[0-9a-f]{64}$/)] },
      signature: expect.any(String),
    });
    expect(r1).toMatchObject({
      state: 'failed',
      receipt: { ok: false, index: 1, attempt: 1, batch: { size: 2, index: 1 } },
    });
    expect(r1?.receipt?.outputHash).toBe(await outcomeHashOf(failure));
    // One signature for the frame: both receipts carry it.
    expect(r1?.receipt?.signature).toBe(r0?.receipt?.signature);

    // Anyone can check a stored receipt again from the receipt alone; a changed field does not check.
    for (const r of [r0!, r1!]) {
      expect(await verifies(r.receipt!)).toBe(true);
      expect(await verifies({ ...r.receipt!, index: r.receipt!.index + 1 })).toBe(false);
      expect(await verifies({ ...r.receipt!, outputHash: await inputCidOf('other') })).toBe(false);
      expect(
        await verifies({ ...r.receipt!, batch: { ...r.receipt!.batch, index: 1 - r.receipt!.batch.index } }),
      ).toBe(false);
    }
    // What the shards list is read at most once a second: poll.
    await expect
      .poll(
        async () =>
          ((await (await api('/nodes')).json()) as { nodes: NodeInfo[] }).nodes.find(
            (x) => x.nodeId === 'node-receipt-ok',
          )?.peerId,
        { timeout: 5000 },
      )
      .toBe(n.identity.peerId.toString());
  });

  test('error: a frame whose signature is tampered with does not count, and its leases stay open for a good one', async () => {
    const { id, token } = await newJob({ inputs: [5, 6] });
    const n = await node('node-receipt-forged');
    const tasks = await take(n, id, 2);
    const good = await n.resultsFrame(tasks.map((t) => ok(t)));
    const sig = decodeSignature(good.signature)!;
    sig[10]! ^= 1;
    const ack = await sendRaw(n, { ...good, signature: encodeSignature(sig) });
    expect(ack.accepted).toBe(0);
    // One bad signature refuses every result of its frame.
    expect(ack.ignored).toEqual([
      { jobId: id, index: 0, reason: badSignature(n) },
      { jobId: id, index: 1, reason: badSignature(n) },
    ]);
    expect((await results(id, token)).results.map((r) => r.state)).toEqual(['leased', 'leased']);
    expect((await sendRaw(n, good)).accepted).toBe(2);
    expect((await results(id, token)).results).toMatchObject([
      { state: 'succeeded', output: 10 },
      { state: 'succeeded', output: 12 },
    ]);
  });

  test('error: a frame signed by another key does not count', async () => {
    const { id, token } = await newJob({ inputs: [5] });
    const n = await node('node-receipt-other-key');
    const [t] = await take(n, id, 1);
    const ack = await sendRaw(n, await n.resultsFrame([ok(t!)], { as: await newIdentity() }));
    expect(ack.accepted).toBe(0);
    expect(ack.ignored[0]?.reason).toBe(badSignature(n));
    expect((await results(id, token)).results[0]?.state).toBe('leased');
  });

  test('error: a signed receipt for another output, input, code or lease number does not count; the leases stay open', async () => {
    const { id, token } = await newJob({ inputs: [1, 2, 3, 4] });
    const n = await node('node-receipt-mismatch');
    const [t0, t1, t2, t3] = await take(n, id, 4);
    // The receipt is for output 2; the outcome sent says 3.
    const swapped = { ...(await n.withReceipt(ok(t0!, 2))), output: 3 };
    // A receipt over another input than the one the room stored.
    const wrongInput = await n.withReceipt(ok(t1!), { input: 99 });
    // A receipt over other code than the job's.
    const otherCode = await inputCidOf('other code');
    const wrongCode = await n.withReceipt(ok(t2!), { codeCid: otherCode });
    // A receipt for another lease of the task (its lease number is 1).
    const wrongAttempt = await n.withReceipt(ok(t3!), { attempt: 2 });
    // The frame's signature is good: it is the claims that do not match what the room knows.
    const ack = await sendRaw(n, await n.resultsFrame([swapped, wrongInput, wrongCode, wrongAttempt]));
    expect(ack.accepted).toBe(0);
    expect(ack.ignored.map((i) => i.reason)).toEqual([
      `receipt is for another output (${swapped.receipt.outputHash})`,
      `receipt is for another input (${wrongInput.receipt.inputCid})`,
      `receipt is for other code (${otherCode})`,
      'receipt is for another lease number',
    ]);
    expect((await results(id, token)).results.map((r) => r.state)).toEqual([
      'leased',
      'leased',
      'leased',
      'leased',
    ]);
    // The leases stayed open: right receipts for them still count.
    const ack2 = await sendRaw(n, await n.resultsFrame([t0!, t1!, t2!, t3!].map((t) => ok(t))));
    expect(ack2).toMatchObject({ accepted: 4, ignored: [] });
    expect((await results(id, token)).results.map((r) => r.output)).toEqual([2, 4, 6, 8]);
  });

  test('error: receipts changed after signing, or signed for another fingerprint class, break the frame signature', async () => {
    const { id, token } = await newJob({ inputs: [1, 2] });
    const n = await node('node-receipt-relabelled');
    const [t0, t1] = await take(n, id, 2);
    // Signed for output 4; the outcome and its receipt then say 5 (the claim matches what is sent).
    const signed = await n.resultsFrame([ok(t0!, 4)]);
    const relabelled: ResultsFrame = {
      ...signed,
      results: [
        {
          ...(signed.results[0] as Extract<ResultsFrame['results'][number], { ok: true }>),
          output: 5,
          receipt: {
            ...signed.results[0]!.receipt,
            outputHash: await outcomeHashOf({ ok: true, output: 5 }),
          },
        },
      ],
    };
    expect((await sendRaw(n, relabelled)).ignored).toEqual([
      { jobId: id, index: 0, reason: badSignature(n) },
    ]);
    // Signed with a fingerprint class other than the one the node said hello with.
    const otherClass = await n.resultsFrame([ok(t1!)], { fingerprintClass: '0000000000000000' });
    expect((await sendRaw(n, otherClass)).ignored).toEqual([
      { jobId: id, index: 1, reason: badSignature(n) },
    ]);
    expect((await results(id, token)).results.map((r) => r.state)).toEqual(['leased', 'leased']);
  });

  test('error: results without receipts or without a signature are malformed frames; nothing counts', async () => {
    const { id, token } = await newJob({ inputs: [1] });
    const n = await node('node-receipt-unsigned');
    const [t] = await take(n, id, 1);
    const frame = await n.resultsFrame([ok(t!)]);
    const { signature: _, ...unsignedFrame } = frame;
    n.send(JSON.stringify(unsignedFrame));
    expect((await n.next(isError)).message).toMatch(/signature/);
    const { receipt: __, ...bare } = frame.results[0]!;
    n.send(JSON.stringify({ ...frame, results: [bare] }));
    expect(await n.next(isError)).toMatchObject({
      code: 'bad_message',
      message: expect.stringMatching(/receipt/),
    });
    expect(n.messages.filter(isAck)).toEqual([]);
    expect((await results(id, token)).results[0]?.state).toBe('leased');
    // The connection keeps working.
    expect((await sendRaw(n, frame)).accepted).toBe(1);
  });

  test('error: a node whose hello has an unusable peer id is refused', async () => {
    const secp256k1 = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString();
    const truncated = (await newIdentity()).peerId.toString().slice(0, -3);
    // A well-formed proof (of another key): the peer id is refused before the proof is checked.
    const proof = await helloProof(await newIdentity());
    for (const [peerId, message] of [
      ['not-a-peer-id', /is not a libp2p peer id/],
      [truncated, /is not a libp2p peer id/],
      // A sha2-256 peer id (RSA keys): it names a key without holding it.
      ['QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N', /is not an Ed25519 peer id \(its key type is RSA\)/],
      [secp256k1, /is not an Ed25519 peer id \(its key type is secp256k1\)/],
    ] as const) {
      const res = await api('/mesh/connect?node=node-bad-peer-id', { headers: { upgrade: 'websocket' } });
      const ws = res.webSocket!;
      ws.accept();
      const got: HubToNode[] = [];
      const closed = new Promise<number>((r) => ws.addEventListener('close', (e) => r(e.code)));
      ws.addEventListener('message', (e) => {
        got.push(JSON.parse(e.data as string) as HubToNode);
      });
      ws.send(
        JSON.stringify({
          type: 'node.hello',
          protocol: MESH_PROTOCOL,
          nodeId: 'node-bad-peer-id',
          kind: 'headless',
          runtimes: ['js'],
          capacity: 1,
          version: 't',
          peerId,
          proof,
        }),
      );
      expect(await closed).toBe(1008);
      expect(got).toEqual([{ type: 'error', code: 'bad_message', message: expect.stringMatching(message) }]);
    }
    // Give the node list time to be read anew (it is cached for a second).
    await new Promise((r) => setTimeout(r, 1100));
    const { nodes } = (await (await api('/nodes')).json()) as { nodes: NodeInfo[] };
    expect(nodes.map((x) => x.nodeId)).not.toContain('node-bad-peer-id');
  });
});
