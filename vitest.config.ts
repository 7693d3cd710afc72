import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// Three projects: `unit` (plain Node: protocol, node core, sandboxes), `workers` (inside workerd
// with the real Durable Objects, R2 and SQLite of wrangler.toml) and `e2e` (real processes:
// `wrangler dev` on a free port plus headless nodes).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          environment: 'node',
          include: [
            'protocol/**/*.test.ts',
            'browser-node/**/*.test.ts',
            'client/**/*.test.ts',
            'cli/**/*.test.ts',
            'scripts/**/*.test.ts',
            'templates/**/*.test.ts',
          ],
          exclude: ['**/*.e2e.test.ts', '**/node_modules/**'],
          testTimeout: 30_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: { SESSION_SECRET: 'test-session-secret-0123456789abcdef' },
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['worker/**/*.test.ts', 'durable-objects/**/*.test.ts', 'test/integration/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/e2e/**/*.test.ts', 'client/**/*.e2e.test.ts', 'cli/**/*.e2e.test.ts'],
          testTimeout: 240_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
