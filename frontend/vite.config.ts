import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { type Connect, createLogger, defineConfig, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const pyodideDir = join(root, 'node_modules/pyodide');

/** The Pyodide files a browser sandbox loads (names differ between releases: copy those that exist). */
const PYODIDE_FILES = [
  'pyodide.mjs',
  'pyodide.js',
  'pyodide.asm.js',
  'pyodide.asm.mjs',
  'pyodide.asm.wasm',
  'python_stdlib.zip',
  'pyodide-lock.json',
];

/**
 * The headers of `public/_headers` (the file Workers static assets apply in production and under
 * `wrangler dev`), by path: `/*` (cross-origin isolation, every page and asset) and exact paths
 * (the sandbox frame's). Read here too so `vite dev` and `vite preview` serve the app the same way.
 */
function headersByPath(): Map<string, Record<string, string>> {
  const byPath = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const line of readFileSync(join(here, 'public/_headers'), 'utf8').split('\n')) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    if (!/^\s/.test(line)) {
      current = byPath.get(line.trim()) ?? {};
      byPath.set(line.trim(), current);
      continue;
    }
    const colon = line.indexOf(':');
    if (current && colon > 0) current[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return byPath;
}
const byPath = headersByPath();
const headers = byPath.get('/*') ?? {};

/** The exact-path rules of `_headers` (e.g. `/sandbox.html`), applied by the dev and preview servers. */
function pathHeaders(): Plugin {
  // A block body: a function returned from configureServer would be taken for a post hook.
  const apply = (server: { middlewares: Connect.Server }): void => {
    server.middlewares.use((req, res, next) => {
      const rule = byPath.get((req.url ?? '').split('?')[0] ?? '');
      for (const [name, value] of Object.entries(rule ?? {})) res.setHeader(name, value);
      next();
    });
  };
  return { name: 'monadmesh-path-headers', configureServer: apply, configurePreviewServer: apply };
}

const mime: Record<string, string> = {
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.zip': 'application/zip',
  '.json': 'application/json',
};

/** `vite dev` serving the files of `dir()` that `allow` accepts under `prefix`, with the app's headers. */
function serveFiles(
  server: { middlewares: Connect.Server },
  prefix: string,
  dir: () => string,
  allow: (name: string) => boolean,
): void {
  server.middlewares.use(prefix, (req, res, next) => {
    const name = (req.url ?? '').split('?')[0]!.replace(/^\//, '');
    if (!allow(name) || !existsSync(join(dir(), name))) return next();
    const ext = name.slice(name.lastIndexOf('.'));
    res.setHeader('content-type', mime[ext] ?? 'application/octet-stream');
    for (const [key, value] of Object.entries(headers)) res.setHeader(key, value);
    createReadStream(join(dir(), name)).pipe(res);
  });
}

/**
 * Pyodide must come from our own origin (no CDN): copy its files to `/pyodide/` of the build, and
 * serve them from node_modules under `vite dev`. Copied after the bundle is written rather than
 * emitted through Rollup, so ~15 MB of binaries never pass through the bundler.
 */
function pyodideAssets(): Plugin {
  let outDir = '';
  return {
    name: 'monadmesh-pyodide-assets',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    configureServer(server) {
      serveFiles(
        server,
        '/pyodide/',
        () => pyodideDir,
        (name) => PYODIDE_FILES.includes(name),
      );
    },
    async writeBundle() {
      await mkdir(join(outDir, 'pyodide'), { recursive: true });
      for (const name of PYODIDE_FILES) {
        if (existsSync(join(pyodideDir, name)))
          await copyFile(join(pyodideDir, name), join(outDir, 'pyodide', name));
      }
    },
  };
}

/**
 * The circuit templates the editor's "Zero-knowledge proof" mode offers, compiled and set up
 * (`node scripts/circuits.ts web`: once per version of circuits/src, cached under circuits/build),
 * copied to `/circuits/` of the build: `index.json` (names, verification keys, public inputs) and
 * each one's witness calculator (`.wasm`) and proving key (`.zkey`). Run in a child process:
 * snarkjs keeps worker threads alive, which would hold the build's process open.
 */
function circuitAssets(): Plugin {
  let outDir = '';
  let dir = '';
  // Once per process: a `build --watch` rebuild does not start a child process each time (a
  // changed circuits/src needs a restart of the watch).
  const ensure = () => {
    if (dir) return;
    const run = spawnSync(process.execPath, [join(root, 'scripts/circuits.ts'), 'web'], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`building the circuit templates failed:\n${run.stderr}`);
    dir = run.stdout.trim();
  };
  return {
    name: 'monadmesh-circuit-assets',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    buildStart() {
      ensure();
    },
    configureServer(server) {
      ensure();
      serveFiles(
        server,
        '/circuits/',
        () => dir,
        (name) => /^\w[\w.-]*$/.test(name),
      );
    },
    async writeBundle() {
      await mkdir(join(outDir, 'circuits'), { recursive: true });
      for (const name of readdirSync(dir)) await copyFile(join(dir, name), join(outDir, 'circuits', name));
    },
  };
}

// Pyodide, Binaryen (the AssemblyScript compiler) and ox import Node built-ins on code paths
// that only run under Node; Vite warns about each one on every build. Nothing else is hidden.
const logger = createLogger();
const warn = logger.warn.bind(logger);
logger.warn = (message, options) => {
  if (!/has been externalized for browser compatibility/.test(message)) warn(message, options);
};

/** The web app: root `frontend/`, built to `frontend/dist`, served by the Worker as static assets. */
export default defineConfig({
  root: here,
  base: '/',
  customLogger: logger,
  plugins: [react(), pyodideAssets(), circuitAssets(), pathHeaders()],
  server: {
    headers,
    // The app imports protocol/, client/ and templates/ from the repository root.
    fs: { allow: [root] },
    // `npm run dev:web` (hot reload) talks to the API of `npm run dev`, as one origin.
    proxy: { '/api': { target: process.env.MONADMESH_API ?? 'http://127.0.0.1:8787', ws: true } },
  },
  preview: { headers },
  worker: { format: 'es' },
  build: {
    outDir: join(here, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    // Monaco and the AssemblyScript compiler are large by nature; they load lazily.
    chunkSizeWarningLimit: 16_000,
    reportCompressedSize: false,
    // The app, and the sandbox frame a contributing tab runs its sandboxes in (another site).
    rollupOptions: { input: { main: join(here, 'index.html'), sandbox: join(here, 'sandbox.html') } },
  },
});
