import { describe, expect, test } from 'vitest';
import { chunkBlob } from '../protocol/blob-dag.ts';
import { cidOf } from '../protocol/index.ts';
import { createClient } from './client.ts';

const MiB = 1024 * 1024;

function bytesOf(length: number, seed = 3): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/**
 * A client whose fetch acts as the block API over an in-memory store: HEAD answers from the store,
 * PUT stores (refusing a dag-pb node whose links are missing is the server's job; here we record
 * the order and the peak number of requests in flight).
 */
function blockServer(stored: Iterable<string> = []) {
  const store = new Map<string, Uint8Array>([...stored].map((cid) => [cid, new Uint8Array()]));
  const log: string[] = [];
  let inFlight = 0;
  let peak = 0;
  const client = createClient({
    url: 'http://api.test',
    apiKey: 'mmk_test',
    fetch: async (url, init) => {
      const method = init?.method ?? 'GET';
      const cid = new URL(url).pathname.replace('/api/v1/blobs/', '');
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      log.push(`${method} ${cid}`);
      if (method === 'HEAD') return new Response(null, { status: store.has(cid) ? 200 : 404 });
      const body = new Uint8Array(init!.body as Uint8Array);
      store.set(cid, body);
      return Response.json(
        { cid, size: body.byteLength, codec: cid.startsWith('bafy') ? 'dag-pb' : 'raw' },
        { status: 201 },
      );
    },
  });
  return { client, store, log, peak: () => peak };
}

describe('putBlob', () => {
  test('default: a 5.5 MiB blob goes up as 6 leaves then its root, at most 4 requests at a time', async () => {
    const bytes = bytesOf(5.5 * MiB);
    const { root, blocks } = await chunkBlob(bytes);
    const server = blockServer();
    const progress: number[] = [];
    const ref = await server.client.putBlob(bytes, { onProgress: (p) => progress.push(p.blocks) });
    expect(ref).toEqual({
      cid: root.toString(),
      url: `ipfs://${root}`,
      size: bytes.byteLength,
      blocks: 7,
      uploaded: 7,
    });
    const puts = server.log.filter((l) => l.startsWith('PUT')).map((l) => l.slice(4));
    expect(puts).toHaveLength(7);
    expect(puts.at(-1)).toBe(root.toString());
    expect(new Set(puts.slice(0, 6))).toEqual(new Set(blocks.slice(0, 6).map((b) => b.cid.toString())));
    // The root is asked about first, and no PUT of it happens before every leaf is stored.
    expect(server.log[0]).toBe(`HEAD ${root}`);
    expect(server.log.indexOf(`PUT ${root}`)).toBe(server.log.length - 1);
    expect(server.peak()).toBeLessThanOrEqual(4);
    expect(server.peak()).toBeGreaterThan(1);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (const block of blocks) expect(server.store.get(block.cid.toString())).toEqual(block.bytes);
  });

  test('behavior: blocks the API has are skipped, and a stored root means nothing is sent', async () => {
    const bytes = bytesOf(2.5 * MiB);
    const { root, blocks } = await chunkBlob(bytes);
    const partial = blockServer([blocks[1]!.cid.toString()]);
    expect(await partial.client.putBlob(bytes)).toMatchObject({ blocks: 4, uploaded: 3 });
    expect(partial.log.filter((l) => l.startsWith('PUT'))).not.toContain(`PUT ${blocks[1]!.cid}`);
    const complete = blockServer([root.toString()]);
    expect(await complete.client.putBlob(bytes)).toMatchObject({ cid: root.toString(), uploaded: 0 });
    expect(complete.log).toEqual([`HEAD ${root}`]);
  });

  test('default: a string is its UTF-8 text, other values (and strings with json) are JSON', async () => {
    const server = blockServer();
    const text = await server.client.putBlob('héllo');
    expect(text.cid).toBe((await cidOf(new TextEncoder().encode('héllo'))).toString());
    expect(text).toMatchObject({ size: 6, blocks: 1, uploaded: 1 });
    const asJson = await server.client.putBlob('héllo', { json: true });
    expect(asJson.cid).toBe((await cidOf(new TextEncoder().encode('"héllo"'))).toString());
    const value = { a: [1, 2, { b: null }], c: 'ü' };
    const json = await server.client.putBlob(value);
    expect(json.cid).toBe((await cidOf(new TextEncoder().encode(JSON.stringify(value)))).toString());
    expect(json.url).toBe(`ipfs://${json.cid}`);
    expect(new TextDecoder().decode(server.store.get(json.cid))).toBe(JSON.stringify(value));
  });

  test('error: values JSON cannot carry are refused before any request', async () => {
    const server = blockServer();
    for (const bad of [undefined, Number.NaN, new Map(), () => 1, { when: new Date() }]) {
      await expect(server.client.putBlob(bad)).rejects.toThrow(TypeError);
    }
    expect(server.log).toEqual([]);
  });

  test('error: an API refusal is thrown as the API error, and an aborted signal stops the upload', async () => {
    const client = createClient({
      url: 'http://api.test',
      apiKey: 'mmk_test',
      fetch: async (_url, init) =>
        init?.method === 'HEAD'
          ? new Response(null, { status: 404 })
          : Response.json(
              { error: { code: 'payload_too_large', message: 'block is over the limit' } },
              { status: 413 },
            ),
    });
    await expect(client.putBlob(bytesOf(10))).rejects.toMatchObject({
      code: 'payload_too_large',
      status: 413,
    });
    await expect(client.putBlob(bytesOf(10), { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});
