import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { AnchorHealth } from '../protocol/anchor.ts';
import { MeshError } from '../protocol/index.ts';
import { anchorHealth } from './anchor-cron.ts';
import type { AppEnv } from './app-env.ts';
import { toErrorResponse } from './errors.ts';
import { accounts } from './routes/accounts.ts';
import { anchors } from './routes/anchors.ts';
import { auth } from './routes/auth.ts';
import { blobs } from './routes/blobs.ts';
import { config } from './routes/config.ts';
import { jobs } from './routes/jobs.ts';
import { mesh } from './routes/mesh.ts';
import { validationHook } from './validation.ts';

export const VERSION = '0.1.0';

/** The v1 API. Every route lives under /api/v1; everything else is the static web app. */
export const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).basePath('/api/v1');

// The sandbox origin serves the frame that runs hostile tasks, so it serves no API: no one signs
// in or keeps a node key there, and the frame's code finds nothing of anyone's on its origin.
app.use('*', async (c, next) => {
  const sandbox = c.env.SANDBOX_ORIGIN;
  if (sandbox && URL.canParse(sandbox) && new URL(sandbox).origin === new URL(c.req.url).origin) {
    throw new MeshError('not_found', 'this is the sandbox origin; the API is at the app’s own origin');
  }
  await next();
});

app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
  type: 'http',
  scheme: 'bearer',
  description: 'A session token from /auth/verify or an API key (mmk_...) from /auth/keys',
});

app.openapi(
  createRoute({
    method: 'get',
    path: '/health',
    summary: 'Liveness of the API, and the state of anchoring (queue, failures and when they are retried)',
    responses: {
      200: {
        description: 'Up',
        content: {
          'application/json': {
            schema: z.object({ ok: z.literal(true), version: z.string(), anchoring: AnchorHealth }),
          },
        },
      },
    },
  }),
  async (c) => {
    // Liveness does not depend on the outbox shards answering.
    const anchoring = await anchorHealth(c.env).catch(
      (error: Error): AnchorHealth => ({
        configured: false,
        problem: `anchoring's state could not be read: ${error.message}`,
        queued: 0,
        inFlight: 0,
        anchoredBatches: 0,
      }),
    );
    return c.json({ ok: true as const, version: VERSION, anchoring }, 200);
  },
);
app.route('/', accounts);
app.route('/', anchors);
app.route('/', auth);
app.route('/', blobs);
app.route('/', config);
app.route('/', jobs);
app.route('/', mesh);

app.doc31('/openapi.json', {
  openapi: '3.1.0',
  info: {
    title: 'MonadMesh API',
    version: VERSION,
    description: 'Run pure functions over many inputs on a mesh of compute nodes.',
  },
});

app.notFound((c) => toErrorResponse(new MeshError('not_found', `no route ${c.req.method} ${c.req.path}`), c));
app.onError((err, c) => toErrorResponse(err, c));
