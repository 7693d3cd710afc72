import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { account } from '../../durable-objects/stubs.ts';
import { AccountWork, Address, ApiErrorBody } from '../../protocol/index.ts';
import type { AppEnv } from '../app-env.ts';
import { validationHook } from '../validation.ts';

export const accounts = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

accounts.openapi(
  createRoute({
    method: 'get',
    path: '/accounts/{address}',
    summary: "A wallet's contribution: the work of the compute nodes linked to it",
    description:
      'Public. Results accepted from nodes linked to this wallet (a signed node link, see protocol/node-link.ts) while they were linked: tasks and the task time they report, in total and per node. An address with nothing yet has zeros. Credits, claimable rewards, stake and reputation will be added here; for now only work is returned.',
    request: {
      params: z.object({ address: Address.meta({ param: { name: 'address', in: 'path' } }) }),
    },
    responses: {
      200: { description: 'Work', content: { 'application/json': { schema: AccountWork } } },
      400: {
        description: 'Not an Ethereum address',
        content: { 'application/json': { schema: ApiErrorBody } },
      },
    },
  }),
  async (c) => {
    const { address } = c.req.valid('param');
    return c.json({ address, work: await account(c.env, address).work() }, 200);
  },
);
