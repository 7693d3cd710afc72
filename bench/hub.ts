import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../scripts/local-mesh.ts';
import { table, writeResult } from './report.ts';

// `npm run bench -- hub [--sockets N] [--tasks N]`: what one MeshHub shard and one JobRoom
// sustain inside workerd (the Workers vitest pool, the same objects and SQLite as production),
// for docs/scale.md. The measurements are bench/hub/capacity.bench-pool.ts; each prints a
// `HUB_BENCH {json}` line, collected here into a table and bench/results/hub-*.json.
const { values: args } = parseArgs({
  args: process.argv.slice(3),
  options: { sockets: { type: 'string', default: '1000' }, tasks: { type: 'string', default: '20000' } },
});
const r = spawnSync(
  process.execPath,
  [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'bench/hub/vitest.config.ts'],
  {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      ...process.env,
      HUB_BENCH_SOCKETS: args.sockets,
      HUB_BENCH_TASKS: args.tasks,
      WRANGLER_SEND_METRICS: 'false',
    },
    maxBuffer: 64 * 1024 * 1024,
  },
);
const rows = (r.stdout ?? '').split('\n').flatMap((line) => {
  const at = line.indexOf('HUB_BENCH ');
  return at < 0 ? [] : [JSON.parse(line.slice(at + 'HUB_BENCH '.length)) as Record<string, string | number>];
});
if (r.status !== 0 || rows.length < 4) {
  process.stderr.write(
    `${r.stdout}\n${r.stderr}\nthe hub benchmark failed (exit ${r.status}, ${rows.length} rows)\n`,
  );
  process.exit(1);
}
for (const row of rows)
  process.stdout.write(
    `\n${row.name}\n${table([Object.fromEntries(Object.entries(row).filter(([k]) => k !== 'name'))])}\n`,
  );
const path = writeResult('hub', { sockets: Number(args.sockets), tasks: Number(args.tasks), rows });
process.stdout.write(`\nwrote ${path}\n`);
