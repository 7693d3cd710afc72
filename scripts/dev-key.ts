import { parseArgs } from 'node:util';
import { createApiKey, DEV_PRIVATE_KEYS } from '../client/sign-in.ts';

// `npm run dev:key -- [--api URL] [--account N]`: sign in with one of the well-known local dev
// accounts (anvil's) and print an API key for scripts. Never use these keys for anything of value.
const { values } = parseArgs({
  options: {
    api: { type: 'string', default: 'http://127.0.0.1:8787' },
    account: { type: 'string', default: '0' },
  },
});
const privateKey = DEV_PRIVATE_KEYS[Number(values.account) as 0 | 1];
if (!privateKey) {
  process.stderr.write(`--account must be 0 to ${DEV_PRIVATE_KEYS.length - 1}\n`);
  process.exit(2);
}
try {
  const key = await createApiKey({ url: values.api, privateKey, label: 'dev' });
  process.stdout.write(`${key.key}\n`);
  process.stderr.write(`export MONADMESH_KEY=${key.key}\n`);
} catch (err) {
  process.stderr.write(
    `could not get a key from ${values.api}: ${(err as Error).message}\n(is \`npm run dev\` running?)\n`,
  );
  process.exit(1);
}
