import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `npm run bench -- <name>` runs bench/<name>.ts. Benchmarks print a table and write JSON to bench/results/.
// Helpers are not benchmarks: this runner, the report helpers, worker-thread scripts, and the node
// process that `blobs` forks.
const here = dirname(fileURLToPath(import.meta.url));
const helpers = ['run.ts', 'report.ts', 'blobs-peer.ts', 'profile-dispatch.ts', 'zk-chromium.ts'];
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !helpers.includes(f) && !f.includes('worker'))
  .map((f) => f.slice(0, -3));
const name = process.argv[2];
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${available.join('|')}> [options]\n`);
  process.exit(2);
}
await import(join(here, `${name}.ts`));
