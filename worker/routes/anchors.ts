import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { outboxShard } from '../../durable-objects/stubs.ts';
import { AnchorPending, JobProof } from '../../protocol/anchor.ts';
import { txUrl } from '../../protocol/chains.ts';
import { ApiErrorBody, MeshError } from '../../protocol/index.ts';
import { nextAnchorRun } from '../anchor-cron.ts';
import type { AppEnv } from '../app-env.ts';
import { requireAuth } from '../auth.ts';
import { ownedJob } from '../jobs/owned.ts';
import { validationHook } from '../validation.ts';

export const anchors = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
anchors.use('/jobs/*', requireAuth);

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: ApiErrorBody } },
});

anchors.openapi(
  createRoute({
    method: 'get',
    path: '/jobs/{id}/proof',
    summary: "A finished job's on-chain anchor: its leaf, Merkle proof, batch root and transaction",
    description:
      "With `task=N`, also task N's leaf and its proof up to the job leaf's `tasksRoot`. Check it against the chain with `npm run verify-job -- <id> [--task N]` (viem only) or `MonadMeshRegistry.verifyTask`. A job not anchored yet answers 202 with where it waits and when it is expected.",
    security: [{ bearer: [] }],
    request: {
      params: z.object({
        id: z
          .string()
          .regex(
            /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
            'a job id is a lower-case UUID',
          )
          .meta({ param: { name: 'id', in: 'path' } }),
      }),
      query: z.object({
        task: z.coerce
          .number()
          .int('task must be a whole number')
          .min(0, 'task must be 0 or more')
          .max(0xffff_ffff)
          .optional(),
      }),
    },
    responses: {
      200: { description: 'Anchored', content: { 'application/json': { schema: JobProof } } },
      202: { description: 'Not anchored yet', content: { 'application/json': { schema: AnchorPending } } },
      400: error('Malformed id or task index, or a task the job does not have'),
      401: error('Not signed in'),
      403: error('The job belongs to another wallet'),
      404: error('No such job'),
      409: error('The job changed after it was anchored (verified again); its new record is queued'),
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const { task } = c.req.valid('query');
    const { room, status } = await ownedJob(c.env, id, c.get('address'));
    if (task !== undefined && task >= status.total) {
      throw new MeshError(
        'bad_request',
        `task ${task} is not in this job: it has tasks 0 to ${status.total - 1}`,
      );
    }
    const next = nextAnchorRun(Date.now());
    if (status.state === 'running') {
      return c.json(
        {
          jobId: id,
          anchored: false as const,
          state: 'running' as const,
          message: 'the job is still running; it is anchored by the first anchoring run after it finishes',
        },
        202,
      );
    }
    const queued = await room.anchorState();
    const found = queued ? await outboxShard(c.env, queued.shard).anchorOf(id) : null;
    // Only the anchor of the job as it is now: a job verified again after an anchor has a newer
    // record on its way, and the old one no longer describes its results.
    const anchor = found && !('state' in found) && found.version === status.finishedAt ? found : null;
    if (!anchor) {
      const waiting = found && 'state' in found ? found.state : 'queued';
      return c.json(
        {
          jobId: id,
          anchored: false as const,
          state: waiting,
          message:
            waiting === 'sending'
              ? "the job's batch is being committed; its transaction is out"
              : 'the job is queued for the next anchoring run (every minute)',
          expectedBy: next,
        },
        202,
      );
    }
    const body: JobProof = {
      jobId: id,
      anchored: true,
      chain: {
        id: anchor.chainId,
        name: c.env.CHAIN_NAME ?? `Chain ${anchor.chainId}`,
        registry: anchor.registry as `0x${string}`,
      },
      batch: {
        root: anchor.root as `0x${string}`,
        size: anchor.size,
        txHash: anchor.txHash as `0x${string}`,
        blockNumber: anchor.blockNumber,
        anchoredAt: anchor.anchoredAt,
      },
      job: {
        leaf: anchor.leaf,
        leafHash: anchor.leafHash as `0x${string}`,
        index: anchor.index,
        proof: anchor.proof as `0x${string}`[],
      },
    };
    const link = txUrl(anchor.chainId, anchor.txHash, c.env.EXPLORER_URL);
    if (link) body.batch.txUrl = link;
    if (task !== undefined) {
      const proof = await room.taskProof(task);
      if (!proof) throw new MeshError('bad_request', `task ${task} is not in this job`);
      if (proof.tasksRoot !== anchor.leaf.tasksRoot) {
        throw new MeshError(
          'conflict',
          'the job was verified again after this anchor, so its tasks changed; the new record is anchored by a later run',
        );
      }
      body.task = {
        leaf: proof.leaf,
        leafHash: proof.leafHash as `0x${string}`,
        proof: proof.proof as `0x${string}`[],
      };
    }
    return c.json(body, 200);
  },
);
