import { env } from 'cloudflare:workers';
import * as dagPb from '@ipld/dag-pb';
import { UnixFS } from 'ipfs-unixfs';
import { CID } from 'multiformats/cid';
import { identity } from 'multiformats/hashes/identity';
import { sha256 } from 'multiformats/hashes/sha2';
import { describe, expect, test } from 'vitest';
import { chunkBlob } from '../../protocol/blob-dag.ts';
import { cidOf, limits } from '../../protocol/index.ts';
import { api, signIn } from './helpers.ts';

// Blocks of chunked blobs (`PUT /blobs/{cid}`) and `ipfs://` inputs, against the real R2 of workerd.
// chunkBlob runs here too: the chunking that clients and nodes use works inside workerd.

const MiB = 1024 * 1024;
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string; details?: unknown } }).error;

function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += 65_536) crypto.getRandomValues(out.subarray(at, at + 65_536));
  return out;
}

const putBlock = (token: string | undefined, cid: CID | string, bytes: Uint8Array) =>
  api(`/blobs/${cid}`, {
    method: 'PUT',
    ...(token ? { token } : {}),
    body: bytes as Uint8Array<ArrayBuffer>,
    headers: { 'content-type': 'application/octet-stream' },
  });

/** Chunk `bytes` and upload every block, leaves first; returns the root. */
async function upload(token: string, bytes: Uint8Array): Promise<CID> {
  const { root, blocks } = await chunkBlob(bytes);
  for (const block of blocks) {
    const res = await putBlock(token, block.cid, block.bytes);
    expect(res.status, `${block.cid}: ${await res.clone().text()}`).toBe(201);
  }
  return root;
}

describe('PUT /blobs/{cid}', () => {
  test('default: a raw block is stored under its CID, GET returns it, HEAD sees it, and a second PUT is a no-op', async () => {
    const token = await signIn();
    const bytes = randomBytes(1000);
    const cid = await cidOf(bytes);
    const res = await putBlock(token, cid, bytes);
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ cid: cid.toString(), size: 1000, codec: 'raw', links: 0 });
    const again = await putBlock(token, cid, bytes);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ cid: cid.toString(), size: 1000 });
    const got = await api(`/blobs/${cid}`);
    expect(got.status).toBe(200);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(bytes);
    const head = await api(`/blobs/${cid}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('1000');
    expect(await head.text()).toBe('');
    const absent = await api(`/blobs/${await cidOf(randomBytes(10))}`, { method: 'HEAD' });
    expect(absent.status).toBe(404);
    // The empty blob is a block too (what chunkBlob gives for zero bytes).
    const empty = await chunkBlob(new Uint8Array());
    expect((await putBlock(token, empty.root, empty.blocks[0]!.bytes)).status).toBeLessThan(300);
    expect((await api(`/blobs/${empty.root}`)).headers.get('content-length')).toBe('0');
  });

  test('default: a chunked blob goes up leaf by leaf then its dag-pb root, and every block reads back', async () => {
    const token = await signIn();
    const bytes = randomBytes(2.5 * MiB);
    const { root, blocks } = await chunkBlob(bytes);
    expect(blocks.map((b) => b.cid.code)).toEqual([0x55, 0x55, 0x55, 0x70]);
    for (const block of blocks.slice(0, -1))
      expect((await putBlock(token, block.cid, block.bytes)).status).toBe(201);
    const res = await putBlock(token, root, blocks.at(-1)!.bytes);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ cid: root.toString(), codec: 'dag-pb', links: 3 });
    const parts: Uint8Array[] = [];
    for (const link of dagPb.decode(new Uint8Array(await (await api(`/blobs/${root}`)).arrayBuffer()))
      .Links) {
      parts.push(new Uint8Array(await (await api(`/blobs/${link.Hash}`)).arrayBuffer()));
    }
    const whole = new Uint8Array(bytes.byteLength);
    let at = 0;
    for (const part of parts) {
      whole.set(part, at);
      at += part.byteLength;
    }
    expect(at).toBe(bytes.byteLength);
    expect(whole).toEqual(bytes);
  });

  test('error: bytes that do not hash to the CID are refused', async () => {
    const token = await signIn();
    const bytes = randomBytes(100);
    const res = await putBlock(token, await cidOf(randomBytes(100)), bytes);
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.code).toBe('hash_mismatch');
    expect(error.message).toMatch(/do not hash/);
    // Nothing was stored under either CID.
    expect((await api(`/blobs/${await cidOf(bytes)}`, { method: 'HEAD' })).status).toBe(404);
  });

  test('error: codecs other than raw and dag-pb, other hashes, CIDv0 and non-CIDs are refused', async () => {
    const token = await signIn();
    const bytes = randomBytes(100);
    const digest = await sha256.digest(bytes);
    const cbor = CID.createV1(0x71, digest);
    const res = await putBlock(token, cbor, bytes);
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({
      code: 'invalid_cid',
      message: expect.stringMatching(/codec 0x71/),
    });
    const id = CID.createV1(0x55, identity.digest(bytes.subarray(0, 10)));
    expect((await errorOf(await putBlock(token, id, bytes.subarray(0, 10)))).message).toMatch(/sha2-256/);
    const v0 = CID.createV0(digest);
    expect((await errorOf(await putBlock(token, v0, bytes))).message).toMatch(/CIDv0/);
    const junk = await putBlock(token, 'not-a-cid', bytes);
    expect(junk.status).toBe(400);
    expect(await errorOf(junk)).toMatchObject({ code: 'invalid_cid' });
  });

  test('error: a block over maxBlockBytes is 413 naming the limit', async () => {
    const token = await signIn();
    const bytes = randomBytes(limits.maxBlockBytes + 1);
    const res = await putBlock(token, await cidOf(bytes), bytes);
    expect(res.status).toBe(413);
    const error = await errorOf(res);
    expect(error.code).toBe('payload_too_large');
    expect(error.message).toContain(String(limits.maxBlockBytes));
    // Exactly at the limit is fine.
    const most = randomBytes(limits.maxBlockBytes);
    expect((await putBlock(token, await cidOf(most), most)).status).toBe(201);
  });

  test('error: a dag-pb block whose links are not all stored is 409 naming the first missing one', async () => {
    const token = await signIn();
    const { root, blocks } = await chunkBlob(randomBytes(3 * MiB + 5));
    const [first, second, third, fourth] = blocks;
    const rootBytes = blocks.at(-1)!.bytes;
    const none = await putBlock(token, root, rootBytes);
    expect(none.status).toBe(409);
    const error = await errorOf(none);
    expect(error.code).toBe('missing_block');
    expect(error.message).toContain(first!.cid.toString());
    expect(error.details).toEqual({ missing: first!.cid.toString() });
    // With the first and third stored, the second is the first missing.
    await putBlock(token, first!.cid, first!.bytes);
    await putBlock(token, third!.cid, third!.bytes);
    expect((await errorOf(await putBlock(token, root, rootBytes))).message).toContain(second!.cid.toString());
    // The root was never stored; once everything is, it is.
    expect((await api(`/blobs/${root}`, { method: 'HEAD' })).status).toBe(404);
    await putBlock(token, second!.cid, second!.bytes);
    await putBlock(token, fourth!.cid, fourth!.bytes);
    expect((await putBlock(token, root, rootBytes)).status).toBe(201);
  });

  test('error: bytes that hash to a dag-pb CID but are not dag-pb are refused', async () => {
    const token = await signIn();
    const bytes = new Uint8Array([0xff, 0xff, 0xff, 0x01]);
    const cid = CID.createV1(0x70, await sha256.digest(bytes));
    const res = await putBlock(token, cid, bytes);
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(/not valid dag-pb/);
  });

  test('error: a DAG whose sizes lie is refused, one lie after another, and an honest blob beside them is stored', async () => {
    const token = await signIn();
    const leaf = randomBytes(1000);
    const leafCid = await cidOf(leaf);
    expect((await putBlock(token, leafCid, leaf)).status).toBe(201);
    /** A dag-pb node with `links` and the UnixFS data given (block sizes as declared). */
    const node = async (links: CID[], data: UnixFS | undefined) => {
      const bytes = dagPb.encode(
        dagPb.prepare({
          ...(data ? { Data: data.marshal() } : {}),
          Links: links.map((Hash) => ({ Hash })),
        }),
      );
      return { cid: CID.createV1(0x70, await sha256.digest(bytes)), bytes };
    };
    const file = (sizes: number[]) => new UnixFS({ type: 'file', blockSizes: sizes.map(BigInt) });
    const refused = async (n: { cid: CID; bytes: Uint8Array }, status: number, message: RegExp) => {
      const res = await putBlock(token, n.cid, n.bytes);
      const error = await errorOf(res);
      expect([res.status, error.message]).toEqual([status, expect.stringMatching(message)]);
      expect((await api(`/blobs/${n.cid}`, { method: 'HEAD' })).status).toBe(404);
    };
    // One small leaf linked 1024 times, declared as 1 MiB each: a 1 GiB file from 1 KB.
    await refused(
      await node(Array(1024).fill(leafCid), file(Array(1024).fill(MiB))),
      413,
      new RegExp(
        `declares a file of ${1024 * MiB} bytes; the limit is ${limits.maxChunkedBlobBytes} bytes \\(maxChunkedBlobBytes\\)`,
      ),
    );
    // Under the limit, but a link declared bigger than the block it names.
    await refused(
      await node([leafCid, leafCid], file([1000, 5000])),
      400,
      new RegExp(`link 1 of block \\S+ declares 5000 bytes, but ${leafCid} holds 1000`),
    );
    // As many sizes as links, no UnixFS data, a directory.
    await refused(await node([leafCid, leafCid], file([1000])), 400, /declares 1 block sizes for 2 links/);
    await refused(await node([leafCid], undefined), 400, /is not a UnixFS node: no UnixFS data/);
    await refused(
      await node([leafCid], new UnixFS({ type: 'directory' })),
      400,
      /is a UnixFS directory; blobs are UnixFS files/,
    );
    // A two-level lie: an honest middle node (3 links, 3000 bytes), and a top that says it holds more.
    const middle = await node([leafCid, leafCid, leafCid], file([1000, 1000, 1000]));
    expect((await putBlock(token, middle.cid, middle.bytes)).status).toBe(201);
    await refused(
      await node([middle.cid, leafCid], file([30_000, 1000])),
      400,
      new RegExp(`link 0 of block \\S+ declares 30000 bytes, but ${middle.cid} holds 3000`),
    );
    const top = await node([middle.cid, leafCid], file([3000, 1000]));
    expect((await putBlock(token, top.cid, top.bytes)).status).toBe(201);
    // A dag-pb child stored before sizes were kept as metadata is read for its size.
    const older = await node([leafCid, leafCid], file([1000, 1000]));
    await env.BLOBS.put(older.cid.toString(), older.bytes);
    await refused(
      await node([older.cid], file([9000])),
      400,
      new RegExp(`link 0 of block \\S+ declares 9000 bytes, but ${older.cid} holds 2000`),
    );
    const overOlder = await node([older.cid], file([2000]));
    expect((await putBlock(token, overOlder.cid, overOlder.bytes)).status).toBe(201);
    // UnixFS `raw` nodes (as some importers write leaves) are files too.
    const rawNode = await node([leafCid], new UnixFS({ type: 'raw', blockSizes: [1000n] }));
    expect((await putBlock(token, rawNode.cid, rawNode.bytes)).status).toBe(201);
    // A real chunked blob still goes up, and a job may use it.
    const root = await upload(token, randomBytes(2 * MiB + 7));
    expect((await api(`/blobs/${root}`, { method: 'HEAD' })).status).toBe(200);
  });

  test('error: storing a block needs auth', async () => {
    const bytes = randomBytes(10);
    const res = await putBlock(undefined, await cidOf(bytes), bytes);
    expect(res.status).toBe(401);
  });

  test('default: the OpenAPI document has the block routes', async () => {
    const doc = (await (await api('/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(doc.paths['/api/v1/blobs/{cid}']!).sort()).toEqual(['get', 'head', 'put']);
  });
});

describe('ipfs:// inputs', () => {
  const post = (token: string, body: unknown) =>
    api('/jobs', { method: 'POST', token, body: JSON.stringify(body) });
  const js = 'export default (x) => x';

  test('default: a job whose inputs name stored roots (chunked and single-block) is accepted', async () => {
    const token = await signIn();
    const big = await upload(token, new TextEncoder().encode(JSON.stringify({ xs: 'x'.repeat(1.5 * MiB) })));
    const small = await upload(token, new TextEncoder().encode('[1,2,3]'));
    expect(big.toString()).toMatch(/^bafybei/);
    expect(small.toString()).toMatch(/^bafkrei/);
    const res = await post(token, {
      runtime: 'js',
      source: js,
      inputs: [`ipfs://${big}`, 7, `ipfs://${small}`, `ipfs://${big}`, 'ipfs-like but not'],
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ total: 5 });
  });

  test('error: an ipfs:// input that is not a valid block CID is 400 naming its index', async () => {
    const token = await signIn();
    for (const bad of [
      'ipfs://nope',
      'ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG',
      'ipfs://bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
      `ipfs://${await cidOf(new Uint8Array([1]))}/path`,
    ]) {
      const res = await post(token, { runtime: 'js', source: js, inputs: [1, 2, bad] });
      expect(res.status, bad).toBe(400);
      const error = await errorOf(res);
      expect(error.code).toBe('validation_failed');
      expect(error.message).toContain('inputs.2');
      expect(error.message).toContain('input 2 starts with ipfs://');
    }
  });

  test('error: an ipfs:// input naming a blob that is not stored is 404 naming the CID and index', async () => {
    const token = await signIn();
    const stored = await upload(token, randomBytes(20));
    const unknown = await cidOf(randomBytes(20));
    const res = await post(token, {
      runtime: 'js',
      source: js,
      inputs: [`ipfs://${stored}`, `ipfs://${unknown}`],
    });
    expect(res.status).toBe(404);
    const error = await errorOf(res);
    expect(error.code).toBe('not_found');
    expect(error.message).toContain(`input 1: ipfs://${unknown}`);
    expect(error.details).toEqual({ index: 1, cid: unknown.toString() });
    // A root whose leaves are stored but which is not itself stored is just as unknown.
    const { root, blocks } = await chunkBlob(randomBytes(1.2 * MiB));
    for (const leaf of blocks.slice(0, -1)) await putBlock(token, leaf.cid, leaf.bytes);
    const partial = await post(token, { runtime: 'js', source: js, inputs: [`ipfs://${root}`] });
    expect(partial.status).toBe(404);
  });

  test('behavior: ipfs:// inputs inside an inputsCid blob are checked the same way', async () => {
    const token = await signIn();
    const stored = await upload(token, randomBytes(30));
    const unknown = await cidOf(randomBytes(30));
    const inputsBlob = async (lines: unknown[]) => {
      const res = await api('/blobs', {
        method: 'PUT',
        token,
        body: lines.map((l) => JSON.stringify(l)).join('\n'),
      });
      return ((await res.json()) as { cid: string }).cid;
    };
    const ok = await post(token, {
      runtime: 'js',
      source: js,
      inputsCid: await inputsBlob([`ipfs://${stored}`, 1]),
    });
    expect(ok.status).toBe(201);
    const malformed = await post(token, {
      runtime: 'js',
      source: js,
      inputsCid: await inputsBlob([1, 'ipfs://zzz']),
    });
    expect(malformed.status).toBe(400);
    expect((await errorOf(malformed)).message).toMatch(/^input 1 of \S+ starts with ipfs:\/\//);
    const missing = await post(token, {
      runtime: 'js',
      source: js,
      inputsCid: await inputsBlob([1, 2, `ipfs://${unknown}`]),
    });
    expect(missing.status).toBe(404);
    expect((await errorOf(missing)).message).toContain(`input 2: ipfs://${unknown}`);
  });
});
