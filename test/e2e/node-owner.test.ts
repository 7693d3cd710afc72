import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadOrCreateIdentity } from '../../browser-node/src/core/identity.ts';
import { FileKeyStore } from '../../browser-node/src/headless/file-key-store.ts';
import {
  createClient,
  DEV_PRIVATE_KEYS,
  linkNodeWithPrivateKey,
  type MeshClient,
} from '../../client/index.ts';
import { createApiKey } from '../../client/sign-in.ts';
import { AccountWork, type NodeInfo } from '../../protocol/index.ts';
import { type ApiServer, type Proc, startApi, startNode } from '../../scripts/local-mesh.ts';

// A headless node linked to a wallet with `--owner-link` (the real CLI against `wrangler dev`):
// the hub verifies the link, lists the owner, and credits the node's accepted work to the wallet;
// a link signed for another node is refused, said so in the node's log, and the node still works.

const OWNER = DEV_PRIVATE_KEYS[1];
const OWNER_ADDRESS = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';

let api: ApiServer;
let client: MeshClient;
const dir = mkdtempSync(join(tmpdir(), 'monadmesh-owner-'));
let node: Proc | undefined;

beforeAll(async () => {
  api = await startApi();
  client = createClient({
    url: api.url,
    apiKey: (await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] })).key,
  });
});
afterAll(async () => {
  await node?.stop('SIGKILL');
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const work = async () =>
  AccountWork.parse(await (await fetch(`${api.url}/api/v1/accounts/${OWNER_ADDRESS}`)).json());
const nodes = async () =>
  ((await (await fetch(`${api.url}/api/v1/nodes`)).json()) as { nodes: NodeInfo[] }).nodes;

test('default: a linked headless node works for the wallet: listed as its owner, every accepted task credited', async () => {
  const keyFile = join(dir, 'linked-key');
  const { peerId } = await loadOrCreateIdentity(new FileKeyStore(keyFile));
  const linkFile = join(dir, 'link.json');
  writeFileSync(
    linkFile,
    JSON.stringify(
      await linkNodeWithPrivateKey({ url: api.url, peerId: peerId.toString(), privateKey: OWNER }),
    ),
  );
  expect((await work()).work.tasks).toBe(0);
  node = await startNode(api.url, { capacity: 1, keyFile, args: ['--owner-link', linkFile] });
  await expect
    .poll(async () => (await nodes()).find((n) => n.nodeId === peerId.toString())?.owner)
    .toBe(OWNER_ADDRESS);

  // The node works for another wallet than the job's: it is not trusted with it, and alone
  // here, so the job takes one node's word.
  const job = await client.map(
    'export default (x) => x + 1',
    Array.from({ length: 12 }, (_, i) => i),
    { redundancy: 1 },
  );
  await job.wait();
  // Credited work reaches the wallet's Account up to a second after the hub accepts it.
  await expect.poll(async () => (await work()).work.tasks, { timeout: 15_000 }).toBe(12);
  const after = await work();
  expect(after.work.nodes).toEqual([expect.objectContaining({ nodeId: peerId.toString(), tasks: 12 })]);
  expect(node.output()).not.toContain('wallet link refused');
  await node.stop('SIGKILL');
  node = undefined;
});

test('error: a link signed for another node is refused with the reason; the node runs anonymously', async () => {
  const linkFile = join(dir, 'other.json');
  const other = await loadOrCreateIdentity(new FileKeyStore(join(dir, 'other-key')));
  writeFileSync(
    linkFile,
    JSON.stringify(
      await linkNodeWithPrivateKey({ url: api.url, peerId: other.peerId.toString(), privateKey: OWNER }),
    ),
  );
  const before = (await work()).work.tasks;
  node = await startNode(api.url, { capacity: 1, args: ['--owner-link', linkFile] });
  await node.waitFor(/wallet link refused: the link does not name this node/, 10_000);
  const results = await client
    .map('export default (x) => x * 3', [1, 2, 3], { redundancy: 1 })
    .then(async (job) => {
      await job.wait();
      return (await job.status()).counts.succeeded;
    });
  expect(results).toBe(3);
  // Longer than the hub holds credited work before sending it (1 s): nothing came.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  expect((await work()).work.tasks).toBe(before);
  expect((await nodes()).every((n) => n.owner === undefined)).toBe(true);
});

test('error: an unreadable link file stops the node at start with exit code 2', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"message": 1}');
  await expect(startNode(api.url, { capacity: 1, args: ['--owner-link', bad] })).rejects.toThrow(
    /not a link file/,
  );
});
