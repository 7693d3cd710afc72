import { randomBytes } from 'node:crypto';
import * as dagPb from '@ipld/dag-pb';
import { CID } from 'multiformats/cid';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BLOB_CHUNK_BYTES } from '../protocol/blob-dag.ts';
import { verifyCid } from '../protocol/index.ts';
import { type ApiServer, startApi } from '../scripts/local-mesh.ts';
import { createClient, DEV_PRIVATE_KEYS, type MeshClient } from './index.ts';

// putBlob against a real `wrangler dev` (workerd + local R2): the blocks it uploads are what the
// origin serves, block by block, to a node that resolves an ipfs:// input.
let api: ApiServer;
let mesh: MeshClient;

beforeAll(async () => {
  api = await startApi();
  mesh = createClient({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
});

afterAll(async () => {
  await api?.stop();
});

/** GET one block from the origin and check it hashes to its CID, as a node does. */
async function fetchBlock(cid: CID): Promise<Uint8Array> {
  const res = await fetch(`${api.url}/api/v1/blobs/${cid}`);
  expect(res.status, `GET ${cid}`).toBe(200);
  const bytes = new Uint8Array(await res.arrayBuffer());
  expect(await verifyCid(cid, bytes), `hash of ${cid}`).toBe(true);
  return bytes;
}

describe('putBlob', () => {
  test('default: 5 MiB goes up as blocks and reassembles byte for byte from the origin', async () => {
    const bytes = new Uint8Array(randomBytes(5 * 1024 * 1024 + 123));
    const ref = await mesh.putBlob(bytes);
    expect(ref).toMatchObject({ size: bytes.byteLength, blocks: 7, uploaded: 7 });
    expect(ref.cid).toMatch(/^bafybei/);
    expect(ref.url).toBe(`ipfs://${ref.cid}`);

    const root = CID.parse(ref.cid);
    const node = dagPb.decode(await fetchBlock(root));
    expect(node.Links).toHaveLength(6);
    const parts = await Promise.all(node.Links.map((link) => fetchBlock(link.Hash)));
    expect(parts.slice(0, -1).every((p) => p.byteLength === BLOB_CHUNK_BYTES)).toBe(true);
    expect(Buffer.concat(parts).equals(Buffer.from(bytes))).toBe(true);

    // Again: the root is stored, so nothing is sent.
    expect(await mesh.putBlob(bytes)).toMatchObject({ cid: ref.cid, uploaded: 0 });
  });

  test('behavior: a JSON value uploaded with putBlob is accepted as an ipfs:// input; an unknown one is refused', async () => {
    const ref = await mesh.putBlob({
      rows: Array.from({ length: 50_000 }, (_, i) => ({ i, name: `row ${i}` })),
    });
    expect(ref.blocks).toBeGreaterThan(1);
    const job = await mesh.map((t: { rows: unknown[] }) => t.rows.length, [ref.url, ref.url]);
    expect(await job.status()).toMatchObject({ total: 2, state: 'running' });
    await job.cancel();
    const unknown = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';
    await expect(mesh.map((x: unknown) => x, [`ipfs://${unknown}`])).rejects.toMatchObject({
      code: 'not_found',
      status: 404,
      message: expect.stringContaining(unknown),
    });
  });
});
