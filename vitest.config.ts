import { cloudflareTest } from '@cloudflare/vitest-plugin';
import react from '@vitejs/plugin-react';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './scripts/chromium.ts';

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
            'circuits/**/*.test.ts',
          ],
          exclude: ['**/*.e2e.test.ts', '**/*.browser.test.ts', '**/node_modules/**'],
          testTimeout: 30_000,
        },
      },
      {
        // The browser host of the node (Web Workers) in real headless Chromium (Debian's package).
        // Dependencies of the worker entries are listed so Vite does not discover them mid-run and reload.
        // Cross-origin isolation (as the web app serves it): shared memory, so the logs of a task
        // whose worker was terminated survive (LogMirror).
        server: {
          headers: {
            'Cross-Origin-Opener-Policy': 'same-origin',
            'Cross-Origin-Embedder-Policy': 'require-corp',
          },
        },
        optimizeDeps: {
          include: [
            'pyodide',
            'ses',
            'zod',
            'acorn',
            '@bjorn3/browser_wasi_shim',
            'multiformats/bases/base64',
            '@libp2p/crypto/keys',
            '@libp2p/peer-id',
            // startBrowserNode's libp2p peer and block exchange.
            '@chainsafe/libp2p-noise',
            '@chainsafe/libp2p-yamux',
            '@helia/bitswap',
            '@helia/libp2p',
            '@helia/unixfs',
            '@ipld/dag-pb',
            '@libp2p/circuit-relay-v2',
            '@libp2p/identify',
            '@libp2p/ping',
            '@libp2p/webrtc',
            '@libp2p/websockets',
            '@multiformats/multiaddr',
            'blockstore-core',
            'datastore-core',
            'helia',
            'interface-store',
            'multiformats/bases/base32',
            // protocol/node-link.ts (wallet links), reached through protocol/index.ts.
            'viem/siwe',
          ],
        },
        test: {
          name: 'browser',
          include: ['browser-node/**/*.browser.test.ts'],
          globalSetup: ['browser-node/src/browser/executors.global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
      {
        // The web app's components and hooks (jsdom); its end-to-end test is in the e2e project.
        plugins: [react()],
        test: {
          name: 'frontend',
          environment: 'jsdom',
          include: ['frontend/src/**/*.test.{ts,tsx}'],
          setupFiles: ['frontend/src/test-setup.ts'],
          testTimeout: 30_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                SESSION_SECRET: 'test-session-secret-0123456789abcdef',
                SANDBOX_ORIGIN: 'http://sandbox.mesh.test',
              },
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
