import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startApi, startNode } from './local-mesh.ts';

// `npm run dev`: the whole local mesh in one terminal: `wrangler dev` (API, Durable Objects, R2,
// static assets) on :8787 with state kept in .wrangler/state, plus one headless compute node.
const port = Number(process.env.PORT ?? 8787);
const devVars = join(ROOT, '.dev.vars');
if (!existsSync(devVars)) {
  writeFileSync(
    devVars,
    `# written by npm run dev; local only\nSESSION_SECRET=${randomBytes(24).toString('hex')}\n`,
  );
}
const secret = /SESSION_SECRET=(\S+)/.exec(
  await import('node:fs').then((fs) => fs.readFileSync(devVars, 'utf8')),
)?.[1];

const api = await startApi({
  port,
  persistTo: join(ROOT, '.wrangler/state'),
  echo: '[api] ',
  ...(secret ? { secret } : {}),
});
const node = await startNode(api.url, { echo: '[node]' });
process.stderr.write(`
  MonadMesh is running locally.

  API            ${api.url}/api/v1/health
  OpenAPI        ${api.url}/api/v1/openapi.json
  Web app        ${api.url}/
  Compute nodes  ${api.url}/api/v1/nodes   (add more: npm run node -- --api ${api.url})
  API key        npm run dev:key            (signs in with a local dev account)

  Ctrl-C stops everything.
`);
const stop = async () => {
  await node.stop();
  await api.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
