import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { monadMeshRegistryBytecode } from '../contracts/abi.ts';
import { chainClients, deployRegistry, RELAYER_KEY } from './chain.ts';
import { buildWebApp, chainVars, freePort, ROOT, startAnvil, startApi, startNode } from './local-mesh.ts';

// `npm run dev`: the whole local mesh in one terminal: a local chain (anvil, its state kept with
// the Worker's) with the MonadMeshRegistry deployed, the web app built with `vite build --watch`
// into frontend/dist, `wrangler dev` (API, Durable Objects, R2, and the app as static assets) on
// :8787 with state kept in .wrangler/state, one headless node, and the anchoring cron every 10 s
// (wrangler dev does not run cron triggers by itself).
const port = Number(process.env.PORT ?? 8787);
const devVars = join(ROOT, '.dev.vars');
if (!existsSync(devVars)) {
  writeFileSync(
    devVars,
    `# written by npm run dev; local only\nSESSION_SECRET=${randomBytes(24).toString('hex')}\n`,
  );
}
const secret = /SESSION_SECRET=(\S+)/.exec(readFileSync(devVars, 'utf8'))?.[1];

/** True when nothing listens on the port (anvil's usual 8545 may be taken by another chain). */
const isFree = (p: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(p, '127.0.0.1', () => server.close(() => resolve(true)));
  });

const state = join(ROOT, '.wrangler/state');
mkdirSync(state, { recursive: true });
const anvilPort = Number(process.env.ANVIL_PORT ?? 8545);
const anvil = await startAnvil({
  port: (await isFree(anvilPort)) ? anvilPort : await freePort(),
  state: join(state, 'anvil.json'),
});
process.stderr.write(`[chain] anvil on ${anvil.rpcUrl} (chain ${anvil.chainId})\n`);
// The registry: the one deployed last time if the chain still has it and it was built from the
// same contract (a checkout with a newer registry, e.g. one with verifyProof, deploys it again),
// else a new one whose relayer is anvil's dev account #2 (the cron's signer).
const chain = chainClients(anvil.rpcUrl, anvil.chainId);
const registryFile = join(state, 'registry.json');
const build = createHash('sha256').update(monadMeshRegistryBytecode).digest('hex').slice(0, 16);
const saved = existsSync(registryFile)
  ? (JSON.parse(readFileSync(registryFile, 'utf8')) as { address: `0x${string}`; build?: string })
  : undefined;
let registry = saved?.build === build ? saved.address : undefined;
if (!registry || !(await chain.public.getCode({ address: registry }))) {
  registry = await deployRegistry(chain, [chain.wallet(RELAYER_KEY).account.address]);
  writeFileSync(registryFile, `${JSON.stringify({ address: registry, chainId: anvil.chainId, build })}\n`);
}
process.stderr.write(`[chain] MonadMeshRegistry at ${registry}\n`);
const web = await buildWebApp({ watch: true });
process.stderr.write('[web] built frontend/dist; rebuilding on changes\n');
const api = await startApi({
  port,
  persistTo: state,
  echo: '[api] ',
  vars: { ...chainVars(anvil), REGISTRY_ADDRESS: registry, RELAYER_KEY },
  ...(secret ? { secret } : {}),
});
// The dev node keeps its key with the dev state, so it is the same peer across restarts.
const node = await startNode(api.url, { echo: '[node]', keyFile: join(state, 'node-key') });
// The anchoring cron, as Cloudflare would run it (every minute there; every 10 s here).
const cron = setInterval(() => {
  fetch(`${api.url}/cdn-cgi/handler/scheduled?cron=*+*+*+*+*`).catch((error: Error) => {
    process.stderr.write(`[cron] ${error.message}\n`);
  });
}, 10_000);
process.stderr.write(`
  MonadMesh is running locally.

  Web app        ${api.url}/            (rebuilt on save; reload the page)
  API            ${api.url}/api/v1/health
  OpenAPI        ${api.url}/api/v1/openapi.json
  Chain          ${anvil.rpcUrl}   (anvil, chain id ${anvil.chainId}; add it to your wallet,
                 or import a dev account: its keys are printed by \`node_modules/.bin/anvil\`)
  Registry       ${registry}   (finished jobs are anchored every 10 s;
                 check one: npm run verify-job -- <job-id> [--task N])
  Compute nodes  ${api.url}/api/v1/nodes   (add more: npm run node -- --api ${api.url})
  API key        npm run dev:key            (signs in with a local dev account)

  Ctrl-C stops everything.
`);
const stop = async () => {
  clearInterval(cron);
  await node.stop();
  await api.stop();
  await web.close();
  await anvil.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
