import { describe, expect, test } from 'vitest';
import { limits } from '../../protocol/index.ts';
import { api, signIn } from './helpers.ts';

const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string } }).error;

describe('api', () => {
  test('default: health and OpenAPI document', async () => {
    const health = await api('/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true });
    const doc = (await (await api('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const path of [
      '/api/v1/health',
      '/api/v1/jobs',
      '/api/v1/jobs/{id}',
      '/api/v1/jobs/{id}/results',
      '/api/v1/jobs/{id}/proof',
      '/api/v1/blobs',
      '/api/v1/auth/verify',
      '/api/v1/nodes',
      '/api/v1/nodes/events',
      '/api/v1/mesh/connect',
    ]) {
      expect(doc.paths).toHaveProperty([path]);
    }
    // Nodes connect naming their node id, which picks their hub shard.
    const connect = doc.paths['/api/v1/mesh/connect'] as {
      get?: { parameters?: { name: string; in: string }[] };
    };
    expect(connect.get?.parameters).toEqual([expect.objectContaining({ name: 'node', in: 'query' })]);
  });

  test('error: unknown route is a JSON 404', async () => {
    const res = await api('/nope');
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ code: 'not_found' });
  });
});

describe('job validation', () => {
  const post = async (body: unknown, token?: string) =>
    api('/jobs', {
      method: 'POST',
      token: token ?? (await signIn()),
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  test('error: wrong types', async () => {
    const res = await post({ runtime: 'js', source: 42, inputs: 'not an array' });
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.code).toBe('validation_failed');
    expect(err.message).toMatch(/source/);
    expect(err.message).toMatch(/inputs/);
  });

  test('error: unknown runtime', async () => {
    const res = await post({ runtime: 'cobol', source: 'x', inputs: [1] });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(/runtime/);
  });

  test('error: a circom job whose code is not a circuit manifest', async () => {
    const res = await post({ runtime: 'circom', source: 'template Main() {}', inputs: [1] });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ code: 'validation_failed' });
    expect((await errorOf(await post({ runtime: 'circom', source: '{}', inputs: [1] }))).message).toMatch(
      /circuit manifest is invalid at protocol/,
    );
  });

  test('error: oversize input names its index and the limit', async () => {
    const big = 'x'.repeat(limits.maxInputBytes + 10);
    const res = await post({ runtime: 'js', source: 'export default (x) => x', inputs: [1, big] });
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.message).toContain('inputs.1');
    expect(err.message).toContain(String(limits.maxInputBytes));
  });

  test('error: too many inputs', async () => {
    const res = await post({
      runtime: 'js',
      source: 'export default (x) => x',
      inputs: new Array(limits.maxInputs + 1).fill(0),
    });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toContain(String(limits.maxInputs));
  });

  test('error: body over the limit is refused with the limit in the message', async () => {
    const res = await post(`{"runtime":"js","source":"${'y'.repeat(limits.maxJobBodyBytes)}","inputs":[1]}`);
    expect(res.status).toBe(413);
    const err = await errorOf(res);
    expect(err.code).toBe('payload_too_large');
    expect(err.message).toContain(String(limits.maxJobBodyBytes));
  });

  test('error: bad CID', async () => {
    const res = await post({ runtime: 'js', codeCid: 'not-a-cid', inputs: [1] });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(/CID/);
  });

  test('error: CID that is valid but not stored', async () => {
    const res = await post({
      runtime: 'js',
      codeCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
      inputs: [1],
    });
    expect(res.status).toBe(422);
    expect(await errorOf(res)).toMatchObject({ code: 'blob_not_found' });
  });

  test('error: both or neither of source and codeCid', async () => {
    const res = await post({ runtime: 'js', inputs: [1] });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(/exactly one of source or codeCid/);
  });

  test('error: malformed JSON', async () => {
    const res = await post('{"runtime": "js", ');
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ code: 'invalid_json' });
  });

  test('error: unknown fields are refused rather than ignored', async () => {
    const res = await post({ runtime: 'js', source: 'export default (x) => x', inputs: [1], replicas: 3 });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(/replicas/);
  });
});

describe('blobs', () => {
  test('default: PUT returns the CIDv1 and GET returns the same bytes', async () => {
    const token = await signIn();
    const bytes = new TextEncoder().encode('hello mesh');
    const res = await api('/blobs', {
      method: 'PUT',
      token,
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(res.status).toBe(201);
    const { cid, size } = (await res.json()) as { cid: string; size: number };
    expect(size).toBe(bytes.byteLength);
    expect(cid).toMatch(/^bafkrei/);
    const got = await api(`/blobs/${cid}`);
    expect(got.status).toBe(200);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(bytes);
  });

  test('error: bad CID and missing blob', async () => {
    expect(await errorOf(await api('/blobs/zzz'))).toMatchObject({ code: 'invalid_cid' });
    const missing = await api('/blobs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy');
    expect(missing.status).toBe(404);
  });

  test('error: upload needs auth', async () => {
    const res = await api('/blobs', { method: 'PUT', body: 'x' });
    expect(res.status).toBe(401);
  });

  test('behavior: jobs can take code and inputs from blobs', async () => {
    const token = await signIn();
    const put = async (text: string) =>
      ((await (await api('/blobs', { method: 'PUT', token, body: text })).json()) as { cid: string }).cid;
    const codeCid = await put('export default (x) => x + 1');
    const inputsCid = await put('1\n2\n3\n');
    const res = await api('/jobs', {
      method: 'POST',
      token,
      body: JSON.stringify({ runtime: 'js', codeCid, inputsCid }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ total: 3, codeCid });
  });
});

describe('wasm jobs', () => {
  /** The smallest WASI command: `_start` and a memory. Nodes check it fully; the API checks the magic. */
  const module = new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00, // \0asm, version 1
    0x01,
    0x04,
    0x01,
    0x60,
    0x00,
    0x00, // type section: () -> ()
    0x03,
    0x02,
    0x01,
    0x00, // function section: one function of type 0
    0x05,
    0x03,
    0x01,
    0x00,
    0x01, // memory section: min 1 page
    0x07,
    0x13,
    0x02,
    0x06,
    0x5f,
    0x73,
    0x74,
    0x61,
    0x72,
    0x74,
    0x00,
    0x00, // export "_start"
    0x06,
    0x6d,
    0x65,
    0x6d,
    0x6f,
    0x72,
    0x79,
    0x02,
    0x00, // export "memory"
    0x0a,
    0x04,
    0x01,
    0x02,
    0x00,
    0x0b, // code section: an empty body
  ]);
  const upload = async (token: string, body: Uint8Array<ArrayBuffer> | string) =>
    ((await (await api('/blobs', { method: 'PUT', token, body })).json()) as { cid: string }).cid;

  test('default: a module uploaded as a blob and submitted by codeCid is accepted', async () => {
    expect(WebAssembly.validate(module)).toBe(true);
    const token = await signIn();
    const codeCid = await upload(token, module);
    const res = await api('/jobs', {
      method: 'POST',
      token,
      body: JSON.stringify({ runtime: 'wasm', codeCid, inputs: [{ lo: 0, hi: 10 }] }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ total: 1, codeCid, state: 'running' });
  });

  test('error: inline source is refused with a message saying to upload the module', async () => {
    const res = await api('/jobs', {
      method: 'POST',
      token: await signIn(),
      body: JSON.stringify({ runtime: 'wasm', source: '(module)', inputs: [1] }),
    });
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.code).toBe('validation_failed');
    expect(error.message).toMatch(
      /upload the \.wasm file with PUT \/api\/v1\/blobs and pass its cid as codeCid/,
    );
  });

  test('error: a codeCid whose blob is not a WebAssembly module is refused at submission', async () => {
    const token = await signIn();
    const codeCid = await upload(token, 'export default (x) => x');
    const res = await api('/jobs', {
      method: 'POST',
      token,
      body: JSON.stringify({ runtime: 'wasm', codeCid, inputs: [1] }),
    });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(/is not a WebAssembly module/);
    const missing = await api('/jobs', {
      method: 'POST',
      token,
      body: JSON.stringify({
        runtime: 'wasm',
        codeCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
        inputs: [1],
      }),
    });
    expect(await errorOf(missing)).toMatchObject({ code: 'blob_not_found' });
  });
});
