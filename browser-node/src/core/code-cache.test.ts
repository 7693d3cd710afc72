import { describe, expect, test } from 'vitest';
import { cidOf } from '../../../protocol/index.ts';
import { CodeCache } from './code-cache.ts';

/** A fetch that serves `blobs` by CID from `/api/v1/blobs/:cid` and counts requests. */
function server(blobs: Map<string, Uint8Array>) {
  const requests: string[] = [];
  const fetchImpl = (async (input: RequestInfo | URL) => {
    const cid = String(input).split('/').pop()!;
    requests.push(cid);
    const body = blobs.get(cid);
    return body ? new Response(body as Uint8Array<ArrayBuffer>) : new Response('missing', { status: 404 });
  }) as typeof fetch;
  return { fetchImpl, requests };
}

describe('CodeCache', () => {
  test('default: keeps the bytes (wasm) and decodes the text once (js)', async () => {
    const wasm = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0xff]);
    const js = new TextEncoder().encode('export default (x) => "ünï"');
    const wasmCid = (await cidOf(wasm)).toString();
    const jsCid = (await cidOf(js)).toString();
    const { fetchImpl, requests } = server(
      new Map([
        [wasmCid, wasm],
        [jsCid, js],
      ]),
    );
    const cache = new CodeCache('http://api.test', fetchImpl);
    expect((await cache.get(wasmCid)).bytes).toEqual(wasm);
    const blob = await cache.get(jsCid);
    expect(blob.text).toBe('export default (x) => "ünï"');
    expect(blob.text).toBe(blob.text);
    await Promise.all([cache.get(wasmCid), cache.get(jsCid)]);
    expect(requests).toEqual([wasmCid, jsCid]);
  });

  test('error: bytes that do not match their CID, or a missing blob, are refused and not cached', async () => {
    const real = new TextEncoder().encode('real');
    const cid = (await cidOf(real)).toString();
    const { fetchImpl, requests } = server(new Map([[cid, new TextEncoder().encode('forged')]]));
    const cache = new CodeCache('http://api.test', fetchImpl);
    await expect(cache.get(cid)).rejects.toThrow(/failed its hash check/);
    await expect(cache.get(cid)).rejects.toThrow(/failed its hash check/);
    expect(requests).toHaveLength(2);
    const missing = (await cidOf(new TextEncoder().encode('other'))).toString();
    await expect(cache.get(missing)).rejects.toThrow(/HTTP 404/);
  });
});
