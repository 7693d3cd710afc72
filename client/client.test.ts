import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { createClient, moduleSource } from './client.ts';

describe('moduleSource', () => {
  test('default: arrow and function expressions become the default export', () => {
    expect(moduleSource((x: number) => x * 2)).toBe('export default (x) => x * 2;\n');
    expect(
      moduleSource(function named(x: number) {
        return x;
      }),
    ).toMatch(/^export default function named\(x\)/);
    expect(moduleSource(async (x: number) => x)).toMatch(/^export default async \(x\) => x/);
  });

  test('behavior: method shorthand is turned into a function expression', () => {
    const o = {
      double(x: number) {
        return x * 2;
      },
      async half(x: number) {
        return x / 2;
      },
    };
    expect(moduleSource(o.double)).toMatch(/^export default function double\(x\)/);
    expect(moduleSource(o.half)).toMatch(/^export default async function half\(x\)/);
  });

  test('behavior: a string is taken as module source as it is', () => {
    expect(moduleSource('export default (x) => x')).toBe('export default (x) => x');
  });

  test('error: native functions are refused', () => {
    expect(() => moduleSource(Math.max as never)).toThrow(/native/);
  });
});

describe('map with WebAssembly', () => {
  const wasm = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

  /** A client whose fetch records the requests and answers like the API. */
  function recordingClient() {
    const requests: { method: string; path: string; body: unknown }[] = [];
    const client = createClient({
      url: 'http://api.test',
      apiKey: 'mmk_test',
      fetch: async (url, init) => {
        const path = new URL(url).pathname;
        const method = init?.method ?? 'GET';
        const raw = init?.body;
        const body = raw instanceof Uint8Array ? [...(raw as Uint8Array)] : JSON.parse(String(raw ?? 'null'));
        requests.push({ method, path, body });
        const json =
          path === '/api/v1/blobs'
            ? { cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', size: 8 }
            : {
                id: '00000000-0000-0000-0000-000000000000',
                state: 'running',
                total: 2,
                codeCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
                links: { self: '', results: '', events: '', cancel: '' },
              };
        return new Response(JSON.stringify(json), { status: 201 });
      },
    });
    return { client, requests };
  }

  test('default: module bytes are uploaded as a blob and submitted as runtime wasm by codeCid', async () => {
    const { client, requests } = recordingClient();
    await client.map(
      wasm,
      [
        { lo: 0, hi: 10 },
        { lo: 10, hi: 20 },
      ],
      { memoryMb: 64 },
    );
    expect(requests).toEqual([
      { method: 'PUT', path: '/api/v1/blobs', body: [...wasm] },
      {
        method: 'POST',
        path: '/api/v1/jobs',
        body: {
          runtime: 'wasm',
          codeCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
          inputs: [
            { lo: 0, hi: 10 },
            { lo: 10, hi: 20 },
          ],
          memoryMb: 64,
        },
      },
    ]);
  });

  test('behavior: a file URL of a .wasm file is read as bytes; a .js file still as source', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'monadmesh-client-wasm-'));
    try {
      writeFileSync(join(dir, 'f.wasm'), wasm);
      writeFileSync(join(dir, 'f.js'), 'export default (x) => x');
      const { client, requests } = recordingClient();
      await client.map(pathToFileURL(join(dir, 'f.wasm')), [1]);
      await client.map(pathToFileURL(join(dir, 'f.js')), [1]);
      expect(requests.map((r) => [r.method, r.path, (r.body as { runtime?: string }).runtime])).toEqual([
        ['PUT', '/api/v1/blobs', undefined],
        ['POST', '/api/v1/jobs', 'wasm'],
        ['POST', '/api/v1/jobs', 'js'],
      ]);
      expect(requests[2]!.body).toMatchObject({ source: 'export default (x) => x' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('error: bytes that are not a module, or a module on another runtime, are refused before any request', async () => {
    const { client, requests } = recordingClient();
    await expect(client.map(new TextEncoder().encode('export default 1'), [1])).rejects.toThrow(
      /not a WebAssembly module/,
    );
    await expect(client.map(wasm, [1], { runtime: 'js' })).rejects.toThrow(
      /runs on the wasm runtime, not js/,
    );
    expect(requests).toEqual([]);
  });
});
