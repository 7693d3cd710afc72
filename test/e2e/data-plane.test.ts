import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClient, type MeshClient } from '../../client/index.ts';
import { createApiKey, DEV_PRIVATE_KEYS } from '../../client/sign-in.ts';
import { chunkBlob } from '../../protocol/blob-dag.ts';
import type { NodeInfo, TaskResult } from '../../protocol/index.ts';
import { type ApiServer, type Proc, startApi, startNode } from '../../scripts/local-mesh.ts';

// The data plane end to end: `wrangler dev` and three headless nodes (the real CLI, each with its
// libp2p peer, bitswap and relay). A multi-megabyte `ipfs://` input is fetched from the origin by
// the first node that needs it; the others get it from that node, so the origin's access log
// shows each block served once, not once per node.

let api: ApiServer;
const nodes: Proc[] = [];
let client: MeshClient;

beforeAll(async () => {
  api = await startApi();
  const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
  client = createClient({ url: api.url, apiKey: key });
  nodes.push(await startNode(api.url, { capacity: 1 }));
}, 120_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  await api?.stop();
});

/** How many times wrangler's access log shows `GET /api/v1/blobs/<cid>` since `from`. */
function servedSince(from: number, cid: string): number {
  const log = api.proc.output().slice(from);
  return log.split('\n').filter((line) => line.includes(`GET /api/v1/blobs/${cid}`)).length;
}

const DOC_ROWS = 120_000;
/** About 6 MiB of JSON, deterministic. */
const document = {
  rows: Array.from({ length: DOC_ROWS }, (_, i) => ({ id: i, value: (i * 7919) % 10007, tag: `row-${i}` })),
};
const expectedSum = document.rows.reduce((a, r) => a + r.value, 0);
const code =
  'export default (doc) => ({ rows: doc.rows.length, sum: doc.rows.reduce((a, r) => a + r.value, 0) })';

async function runJob(inputs: string[]) {
  const job = await client.map(code, inputs, { timeoutMs: 60_000 });
  await job.wait();
  const results: TaskResult[] = [];
  for await (const result of job.results()) results.push(result);
  return results;
}

describe('data plane', () => {
  test('default: an ipfs:// input reaches every node, and the origin serves each block about once', async () => {
    const blob = await client.putBlob(document);
    const { blocks } = await chunkBlob(new TextEncoder().encode(JSON.stringify(document)));
    expect(blocks.length).toBeGreaterThan(4); // leaves + root: a real DAG, not one block

    // One node first: it has to fetch the blob from the origin.
    const mark = api.proc.output().length;
    const first = await runJob([blob.url]);
    expect(first[0]).toMatchObject({ state: 'succeeded', output: { rows: DOC_ROWS, sum: expectedSum } });

    // Two more nodes join; a job with many tasks reaches all three.
    nodes.push(
      ...(await Promise.all([startNode(api.url, { capacity: 1 }), startNode(api.url, { capacity: 1 })])),
    );
    const listed = (await (await fetch(`${api.url}/api/v1/nodes`)).json()) as { nodes: NodeInfo[] };
    expect(listed.nodes.filter((n) => n.multiaddrs?.length).length).toBe(3);
    expect(listed.nodes.some((n) => (n.holds ?? 0) > 0)).toBe(true);

    const results = await runJob(Array.from({ length: 24 }, () => blob.url));
    for (const r of results)
      expect(r).toMatchObject({ state: 'succeeded', output: { rows: DOC_ROWS, sum: expectedSum } });
    const ranOn = new Set(results.map((r) => r.nodeId));
    expect(ranOn.size).toBeGreaterThanOrEqual(2);

    // The origin's access log: every block of the blob, about once in all (not once per node).
    const perBlock = blocks.map((b) => servedSince(mark, b.cid.toString()));
    expect(Math.max(...perBlock)).toBeLessThanOrEqual(1);
    expect(perBlock.reduce((a, b) => a + b, 0)).toBe(blocks.length);
  }, 240_000);
});
