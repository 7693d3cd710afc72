import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { account, jobRoom } from '../../durable-objects/stubs.ts';
import {
  ApiErrorBody,
  availableRuntimes,
  JobCreated,
  JobSpec,
  JobStatus,
  JobSummary,
  limits,
  MeshError,
  policyOf,
  ResultsPage,
} from '../../protocol/index.ts';
import type { AppEnv } from '../app-env.ts';
import { requireAuth } from '../auth.ts';
import { JOB_ID, ownedJob } from '../jobs/owned.ts';
import { prepareJob } from '../jobs/submit.ts';
import { waitingReason } from '../mesh-view.ts';
import { validationHook } from '../validation.ts';

const errors = {
  400: { description: 'Invalid request', content: { 'application/json': { schema: ApiErrorBody } } },
  401: { description: 'Not signed in', content: { 'application/json': { schema: ApiErrorBody } } },
  403: {
    description: 'The job belongs to another wallet',
    content: { 'application/json': { schema: ApiErrorBody } },
  },
  404: { description: 'No such job', content: { 'application/json': { schema: ApiErrorBody } } },
} as const;

const JobParams = z.object({
  id: z
    .string()
    .max(64)
    .meta({ param: { name: 'id', in: 'path' } }),
});
const utf8 = new TextEncoder();

export const jobs = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

jobs.use('/jobs', requireAuth);
jobs.use('/jobs/*', requireAuth);
jobs.post(
  '/jobs',
  bodyLimit({
    maxSize: limits.maxJobBodyBytes,
    onError: () => {
      throw new MeshError(
        'payload_too_large',
        `job body is over ${limits.maxJobBodyBytes} bytes; upload large inputs with PUT /api/v1/blobs and pass inputsCid`,
      );
    },
  }),
);

jobs.openapi(
  createRoute({
    method: 'post',
    path: '/jobs',
    summary: 'Submit a job: a function and its inputs',
    description:
      'An input that is a string `ipfs://<CID>` (CIDv1, sha2-256, raw or dag-pb) is resolved by the node that runs the task: it fetches the blob and parses it as UTF-8 JSON. The root must be stored (`PUT /api/v1/blobs/{cid}`), else the job is refused with 404 `not_found` naming the input.\n\nWith `wait` (seconds), the response waits until the job has finished or the time is up, whichever comes first, and carries `counts`; a job that finished in time also carries its first results (`results`, up to 100 in input order, `nextCursor` for the rest): a small job in one request.',
    security: [{ bearer: [] }],
    request: {
      query: z.object({
        wait: z.coerce
          .number()
          .min(0)
          .max(limits.maxSubmitWaitSeconds)
          .default(0)
          .meta({
            description: `Seconds to wait for the job to finish before responding (0 to ${limits.maxSubmitWaitSeconds}; 0, the default, responds at once)`,
          }),
      }),
      body: { required: true, content: { 'application/json': { schema: JobSpec } } },
    },
    responses: {
      201: { description: 'Created', content: { 'application/json': { schema: JobCreated } } },
      413: { description: 'Body too large', content: { 'application/json': { schema: ApiErrorBody } } },
      422: {
        description: 'Runtime unavailable or blob missing',
        content: { 'application/json': { schema: ApiErrorBody } },
      },
      ...errors,
      404: {
        description: 'An ipfs:// input names a blob that is not stored (upload it first)',
        content: { 'application/json': { schema: ApiErrorBody } },
      },
    },
  }),
  async (c) => {
    const spec = c.req.valid('json');
    const owner = c.get('address');
    if (!availableRuntimes.includes(spec.runtime)) {
      throw new MeshError(
        'runtime_unavailable',
        `runtime '${spec.runtime}' is not available yet; available: ${availableRuntimes.join(', ')}`,
      );
    }
    const { codeCid, inputs, circuit } = await prepareJob(c.env, spec);
    const { wait } = c.req.valid('query');
    const id = crypto.randomUUID();
    // The room adds the job to the owner's list itself (it owns that entry from here on), and
    // with `wait` answers once the job finished or the time is up (one call either way).
    const { status, page } = await jobRoom(c.env, id).init(
      {
        id,
        owner,
        runtime: spec.runtime,
        codeCid,
        timeoutMs: spec.timeoutMs,
        maxAttempts: spec.maxAttempts,
        memoryMb: spec.memoryMb,
        policy: policyOf(spec),
        ...(circuit ? { circuit } : {}),
        ...(spec.label === undefined ? {} : { label: spec.label }),
        inputs,
      },
      { ms: wait * 1000, limit: limits.defaultPageSize },
    );
    const base = `/api/v1/jobs/${id}`;
    const links = {
      self: base,
      results: `${base}/results`,
      events: `${base}/events`,
      cancel: `${base}/cancel`,
    };
    if (wait === 0) {
      return c.json({ id, state: status.state, total: status.total, codeCid: status.codeCid, links }, 201);
    }
    const { state, total, counts } = status;
    return c.json(
      {
        id,
        state,
        total,
        codeCid,
        links,
        counts,
        ...(page ? { results: page.results } : {}),
        ...(page?.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
      },
      201,
    );
  },
);

jobs.openapi(
  createRoute({
    method: 'get',
    path: '/jobs',
    summary: "List the signed-in wallet's jobs, newest first",
    security: [{ bearer: [] }],
    request: {
      query: z.object({
        limit: z.coerce.number().int().min(1).max(100).default(20),
        before: z.coerce.number().int().optional(),
      }),
    },
    responses: {
      200: {
        description: 'Jobs',
        content: {
          'application/json': {
            schema: z.object({ jobs: z.array(JobSummary), nextBefore: z.number().optional() }),
          },
        },
      },
      ...errors,
    },
  }),
  async (c) => {
    const { limit, before } = c.req.valid('query');
    const list = await account(c.env, c.get('address')).listJobs(limit, before);
    const last = list.at(-1);
    return c.json(
      list.length === limit && last ? { jobs: list, nextBefore: last.createdAt } : { jobs: list },
      200,
    );
  },
);

jobs.openapi(
  createRoute({
    method: 'get',
    path: '/jobs/{id}',
    summary: 'Status of a job, with counts per task state and why pending tasks wait',
    security: [{ bearer: [] }],
    request: { params: JobParams },
    responses: {
      200: { description: 'Status', content: { 'application/json': { schema: JobStatus } } },
      ...errors,
    },
  }),
  async (c) => {
    const { status } = await ownedJob(c.env, c.req.valid('param').id, c.get('address'));
    if (status.state === 'running' && status.counts.pending > 0) {
      status.waiting = await waitingReason(c.env, status.runtime);
    }
    return c.json(status, 200);
  },
);

jobs.openapi(
  createRoute({
    method: 'get',
    path: '/jobs/{id}/results',
    summary: 'Results in input order, paginated; NDJSON of every result from `cursor` with format=ndjson',
    description:
      'JSON pages by default (`cursor`, `limit`, `nextCursor`). With `format=ndjson` or `Accept: application/x-ndjson`, streams one TaskResult per line from `cursor` to the end.',
    security: [{ bearer: [] }],
    request: {
      params: JobParams,
      query: z.object({
        cursor: z.coerce.number().int().min(0).default(0),
        limit: z.coerce.number().int().min(1).max(limits.maxPageSize).default(limits.defaultPageSize),
        format: z.enum(['json', 'ndjson']).optional(),
        order: z.enum(['index', 'completion']).default('index').meta({
          description:
            '`completion`: finished tasks in the order they finished; `cursor` is then a sequence number',
        }),
      }),
    },
    responses: {
      200: {
        description: 'A page of results',
        content: {
          'application/json': { schema: ResultsPage },
          'application/x-ndjson': { schema: z.string() },
        },
      },
      ...errors,
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const { cursor, limit, format, order } = c.req.valid('query');
    const { room, status } = await ownedJob(c.env, id, c.get('address'));
    const waiting =
      status.state === 'running' && status.counts.pending > 0
        ? await waitingReason(c.env, status.runtime)
        : undefined;
    const ndjson =
      format === 'ndjson' ||
      (format === undefined && c.req.header('Accept')?.includes('application/x-ndjson'));
    if (!ndjson) {
      const page = await room.results(cursor, limit, waiting, order);
      return c.json(page!, 200);
    }
    // One page per pull: a slow reader holds back the room reads instead of buffering every result.
    let next: number | undefined = cursor;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const page = next === undefined ? null : await room.results(next, limits.maxPageSize, waiting, order);
        if (!page) {
          controller.close();
          return;
        }
        controller.enqueue(utf8.encode(page.results.map((r) => `${JSON.stringify(r)}\n`).join('')));
        // In completion order the stream ends at the tasks finished so far.
        next = order === 'completion' && page.results.length === 0 ? undefined : page.nextCursor;
        if (next === undefined) controller.close();
      },
    });
    return new Response(stream, {
      headers: { 'content-type': 'application/x-ndjson; charset=utf-8' },
    }) as never;
  },
);

jobs.openapi(
  createRoute({
    method: 'post',
    path: '/jobs/{id}/cancel',
    summary: 'Cancel a job: pending tasks are dropped and running leases revoked',
    security: [{ bearer: [] }],
    request: { params: JobParams },
    responses: {
      200: {
        description: 'Cancelled (or already finished: the status says which)',
        content: { 'application/json': { schema: JobStatus } },
      },
      409: {
        description: 'The job had already finished',
        content: { 'application/json': { schema: ApiErrorBody } },
      },
      ...errors,
    },
  }),
  async (c) => {
    const { room, status } = await ownedJob(c.env, c.req.valid('param').id, c.get('address'));
    if (status.state !== 'running' && status.state !== 'cancelled') {
      throw new MeshError('conflict', `job already ${status.state}; there is nothing to cancel`);
    }
    const result = await room.cancel();
    return c.json(result!.status, 200);
  },
);

jobs.openapi(
  createRoute({
    method: 'get',
    path: '/jobs/{id}/events',
    summary: 'WebSocket of job events: a job.snapshot, then tasks.updated and job.finished',
    description:
      'Authenticate with the Authorization header or `?token=` (browsers cannot set headers on WebSockets).',
    security: [{ bearer: [] }],
    request: { params: JobParams, query: z.object({ token: z.string().optional() }) },
    responses: {
      101: { description: 'Switching protocols' },
      426: {
        description: 'Not a WebSocket upgrade',
        content: { 'application/json': { schema: ApiErrorBody } },
      },
      ...errors,
    },
  }),
  async (c) => {
    if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
      return c.json(
        new MeshError('bad_request', 'this endpoint is a WebSocket: send Upgrade: websocket').toBody(),
        426,
      );
    }
    const id = c.req.valid('param').id;
    if (!JOB_ID.test(id)) throw new MeshError('not_found', `no job with id ${id}`);
    // One call to the room: it checks that the job exists and is the caller's, then accepts.
    const headers = new Headers(c.req.raw.headers);
    headers.set('x-mm-owner', c.get('address'));
    return (await jobRoom(c.env, id).fetch(new Request(c.req.raw, { headers }))) as never;
  },
);
