import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { buildWebApp, chainVars, freePort, ROOT, startAnvil, startApi, startNode } from './local-mesh.ts';

// `npm run dev`: the whole local mesh in one terminal: a local chain (anvil), the web app built
// with `vite build --watch` into frontend/dist, `wrangler dev` (API, Durable Objects, R2, and the
// app as static assets) on :8787 with state kept in .wrangler/state, plus one headless node.
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

const anvilPort = Number(process.env.ANVIL_PORT ?? 8545);
const anvil = await startAnvil({ port: (await isFree(anvilPort)) ? anvilPort : await freePort() });
process.stderr.write(`[chain] anvil on ${anvil.rpcUrl} (chain ${anvil.chainId})\n`);
const web = await buildWebApp({ watch: true });
process.stderr.write('[web] built frontend/dist; rebuilding on changes\n');
const api = await startApi({
  port,
  persistTo: join(ROOT, '.wrangler/state'),
  echo: '[api] ',
  vars: chainVars(anvil),
  ...(secret ? { secret } : {}),
});
// The dev node keeps its key with the dev state, so it is the same peer across restarts.
const node = await startNode(api.url, { echo: '[node]', keyFile: join(ROOT, '.wrangler/state/node-key') });
process.stderr.write(`
  MonadMesh is running locally.

  Web app        ${api.url}/            (rebuilt on save; reload the page)
  API            ${api.url}/api/v1/health
  OpenAPI        ${api.url}/api/v1/openapi.json
  Chain          ${anvil.rpcUrl}   (anvil, chain id ${anvil.chainId}; add it to your wallet,
                 or import a dev account: its keys are printed by \`node_modules/.bin/anvil\`)
  Compute nodes  ${api.url}/api/v1/nodes   (add more: npm run node -- --api ${api.url})
  API key        npm run dev:key            (signs in with a local dev account)

  Ctrl-C stops everything.
`);
const stop = async () => {
  await node.stop();
  await api.stop();
  await web.close();
  await anvil.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
