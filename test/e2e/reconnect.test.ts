import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { createApiKey, DEV_PRIVATE_KEYS } from '../../client/sign-in.ts';
import type { JobStatus } from '../../protocol/index.ts';
import { type ApiServer, type Proc, startApi, startNode } from '../../scripts/local-mesh.ts';

const state = mkdtempSync(join(tmpdir(), 'monadmesh-reconnect-'));
let api: ApiServer | undefined;
let node: Proc | undefined;

afterAll(async () => {
  await node?.stop('SIGKILL');
  await api?.stop();
  rmSync(state, { recursive: true, force: true });
});

test('behavior: a node reconnects with backoff after the API restarts, and jobs submitted before and after complete', async () => {
  api = await startApi({ persistTo: state });
  const { port } = api;
  node = await startNode(api.url, { capacity: 1 });
  const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const submit = async (url: string, inputs: number[]) => {
    const res = await fetch(`${url}/api/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ runtime: 'js', source: 'export default (x) => x * 3', inputs }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const waitDone = async (url: string, id: string) => {
    for (let i = 0; i < 600; i++) {
      const s = (await (await fetch(`${url}/api/v1/jobs/${id}`, { headers })).json()) as JobStatus;
      if (s.state !== 'running') return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('job did not finish');
  };

  expect(await waitDone(api.url, await submit(api.url, [1, 2, 3]))).toMatchObject({ state: 'succeeded' });

  // The API goes away: the node notices and retries with growing delays.
  await api.proc.stop();
  await node.waitFor(/disconnected .*reconnecting in \d+ ms/, 15_000);
  await new Promise((r) => setTimeout(r, 1500));
  const retries = node.output().match(/reconnecting in (\d+) ms/g) ?? [];
  expect(retries.length).toBeGreaterThanOrEqual(2);

  // Same port, same state: the key still works, the node is back, and new work runs.
  api = await startApi({ port, persistTo: state });
  await expect
    .poll(() => (node!.output().match(/connected to /g) ?? []).length, { timeout: 20_000 })
    .toBeGreaterThanOrEqual(2);
  const after = await submit(api.url, [4, 5]);
  expect(await waitDone(api.url, after)).toMatchObject({ state: 'succeeded', counts: { succeeded: 2 } });
});

/** A process's parent pid and state from /proc (undefined once it is gone). */
function procStat(pid: number): { ppid: number; state: string } | undefined {
  try {
    // "pid (comm) state ppid ...": comm may hold spaces, so read after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(ppid), state: state! };
  } catch {
    return undefined;
  }
}

const alive = (pid: number) => {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
};

test.runIf(existsSync('/proc/self/stat'))(
  'behavior: the supervisor starts a killed node again, ends the sandbox it left stuck, and the new node runs work',
  async () => {
    if (!api) throw new Error('the API of the test above is not running');
    const nodePid = (out: string) =>
      [...out.matchAll(/node process (\d+) started/g)].map((m) => Number(m[1]));
    await expect.poll(() => nodePid(node!.output()).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
    const first = nodePid(node!.output()).at(-1)!;
    const sandboxes = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .filter((pid) => procStat(pid)?.ppid === first);
    expect(sandboxes.length).toBeGreaterThanOrEqual(1);
    // A sandbox that runs no JavaScript (stopped, as if stuck in a loop) cannot notice that its
    // node is gone: only the supervisor's kill of the node's process group ends it.
    for (const pid of sandboxes) process.kill(pid, 'SIGSTOP');
    process.kill(first, 'SIGKILL');
    await node!.waitFor(
      new RegExp(`node process ${first} died \\(SIGKILL\\); starting it again in 1 s`),
      10_000,
    );
    await expect.poll(() => sandboxes.filter(alive), { timeout: 10_000 }).toEqual([]);
    await expect.poll(() => nodePid(node!.output()).length, { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
    expect(nodePid(node!.output()).at(-1)).not.toBe(first);
    await expect
      .poll(() => (node!.output().match(/connected to /g) ?? []).length, { timeout: 60_000 })
      .toBeGreaterThanOrEqual(3);
    const { key } = await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] });
    const res = await fetch(`${api.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ runtime: 'js', source: 'export default (x) => x + 1', inputs: [41] }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    await expect
      .poll(
        async () =>
          (
            (await (
              await fetch(`${api!.url}/api/v1/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } })
            ).json()) as JobStatus
          ).state,
        { timeout: 60_000 },
      )
      .toBe('succeeded');
    // SIGTERM to the supervisor stops the node with it; nothing of either is left.
    const second = nodePid(node!.output()).at(-1)!;
    await node!.stop('SIGTERM');
    expect(node!.child.exitCode).toBe(0);
    await expect.poll(() => alive(second), { timeout: 10_000 }).toBe(false);
    node = undefined;
  },
  180_000,
);
