import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// `npm run bench -- hub` runs capacity.bench-pool.ts with this config (from the repository's root): inside workerd, with the
// real Durable Objects and SQLite of wrangler.toml, as the `workers` test project does. Sizes come
// from the environment (HUB_BENCH_SOCKETS, HUB_BENCH_TASKS), passed in as bindings.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                SESSION_SECRET: 'bench-session-secret-0123456789abcdef',
                HUB_BENCH_SOCKETS: process.env.HUB_BENCH_SOCKETS ?? '1000',
                HUB_BENCH_TASKS: process.env.HUB_BENCH_TASKS ?? '20000',
              },
            },
          }),
        ],
        test: {
          name: 'hub-bench',
          include: ['bench/hub/*.bench-pool.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
