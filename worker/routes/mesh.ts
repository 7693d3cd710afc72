import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { meshHub } from '../../durable-objects/stubs.ts';
import { ApiErrorBody, MeshError, NodeInfo, type NodeLocation } from '../../protocol/index.ts';
import type { AppEnv } from '../app-env.ts';
import { validationHook } from '../validation.ts';

export const mesh = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

/** Approximate location from Cloudflare's request metadata, rounded to about 10 km (city level). */
function locationOf(request: Request): NodeLocation {
  const cf = (request as Request & { cf?: Record<string, unknown> }).cf ?? {};
  const round = (v: unknown) =>
    typeof v === 'string' || typeof v === 'number' ? Math.round(Number(v) * 10) / 10 : undefined;
  const location: NodeLocation = {};
  if (typeof cf.country === 'string') location.country = cf.country;
  if (typeof cf.city === 'string') location.city = cf.city;
  const lat = round(cf.latitude);
  const lon = round(cf.longitude);
  if (lat !== undefined && Number.isFinite(lat)) location.latitude = lat;
  if (lon !== undefined && Number.isFinite(lon)) location.longitude = lon;
  return location;
}

mesh.openapi(
  createRoute({
    method: 'get',
    path: '/nodes',
    summary: 'Connected compute nodes with their approximate location',
    responses: {
      200: {
        description: 'Nodes',
        content: { 'application/json': { schema: z.object({ nodes: z.array(NodeInfo) }) } },
      },
    },
  }),
  async (c) => c.json({ nodes: await meshHub(c.env).listNodes() }, 200),
);

/** The responses of a WebSocket endpoint, for the OpenAPI document. */
const upgradeResponses = {
  101: { description: 'Switching protocols' },
  426: { description: 'Not a WebSocket upgrade', content: { 'application/json': { schema: ApiErrorBody } } },
};

const isUpgrade = (request: Request) => request.headers.get('Upgrade')?.toLowerCase() === 'websocket';
const notUpgrade = () =>
  new MeshError('bad_request', 'this endpoint is a WebSocket: send Upgrade: websocket').toBody();

mesh.openapi(
  createRoute({
    method: 'get',
    path: '/nodes/events',
    summary: 'WebSocket of the nodes (the node map): a nodes.snapshot, then nodes.updated',
    description:
      'Public, like GET /nodes. Messages are HubToWatcher of protocol/nodes-watch.ts: a snapshot of every connected node, then the nodes that joined or changed and the ids of those that left, at most one frame per 250 ms. Send {"type":"ping"} to keep it open; the answer is {"type":"pong"}.',
    responses: upgradeResponses,
  }),
  async (c) => {
    if (!isUpgrade(c.req.raw)) return c.json(notUpgrade(), 426);
    return (await meshHub(c.env).fetch(c.req.raw)) as never;
  },
);

mesh.openapi(
  createRoute({
    method: 'get',
    path: '/mesh/connect',
    summary: 'WebSocket for compute nodes (NodeToHub / HubToNode messages of protocol/mesh.ts)',
    responses: upgradeResponses,
  }),
  async (c) => {
    if (!isUpgrade(c.req.raw)) return c.json(notUpgrade(), 426);
    const headers = new Headers(c.req.raw.headers);
    headers.set('x-mm-location', JSON.stringify(locationOf(c.req.raw)));
    return (await meshHub(c.env).fetch(new Request(c.req.raw, { headers }))) as never;
  },
);
