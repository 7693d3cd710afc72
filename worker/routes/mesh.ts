import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { meshHub, nodeMap, nodeMapReplicas, shardOf } from '../../durable-objects/stubs.ts';
import { ApiErrorBody, MeshError, NodeInfo, type NodeLocation } from '../../protocol/index.ts';
import type { AppEnv } from '../app-env.ts';
import { listNodes } from '../mesh-view.ts';
import { validationHook } from '../validation.ts';

export const mesh = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

/** A node id, as `node.hello` takes it. */
const NodeIdParam = z
  .string()
  .min(8)
  .max(128)
  .meta({ param: { name: 'node', in: 'query' }, description: 'the node id of the hello to come' });

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
    description: 'Public. Read from every hub shard and merged; at most a second old.',
    responses: {
      200: {
        description: 'Nodes',
        content: { 'application/json': { schema: z.object({ nodes: z.array(NodeInfo) }) } },
      },
    },
  }),
  async (c) => c.json({ nodes: await listNodes(c.env) }, 200),
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
      'Public, like GET /nodes. Messages are HubToWatcher of protocol/nodes-watch.ts: a snapshot of every connected node, then the nodes that joined or changed and the ids of those that left, at most one frame per 250 ms. Send {"type":"ping"} to keep it open; the answer is {"type":"pong"}. Served by a NodeMap replica (one of NODE_MAP_REPLICAS, at random), never by a hub.',
    responses: upgradeResponses,
  }),
  async (c) => {
    if (!isUpgrade(c.req.raw)) return c.json(notUpgrade(), 426);
    const replica = `map-${Math.floor(Math.random() * nodeMapReplicas(c.env))}`;
    return (await nodeMap(c.env, replica).fetch(c.req.raw)) as never;
  },
);

mesh.openapi(
  createRoute({
    method: 'get',
    path: '/mesh/connect',
    summary: 'WebSocket for compute nodes (NodeToHub / HubToNode messages of protocol/mesh.ts)',
    description:
      "`node` names the node id the node will say hello with: it picks the hub shard (the one the id hashes to), and the hello must name the same id. The first frame must be a `node.hello` with the node's peer id and a proof of its key, within 5 s.",
    request: { query: z.object({ node: NodeIdParam }) },
    responses: {
      ...upgradeResponses,
      400: { description: 'No node id', content: { 'application/json': { schema: ApiErrorBody } } },
    },
  }),
  async (c) => {
    if (!isUpgrade(c.req.raw)) return c.json(notUpgrade(), 426);
    const { node } = c.req.valid('query');
    const headers = new Headers(c.req.raw.headers);
    headers.set('x-mm-location', JSON.stringify(locationOf(c.req.raw)));
    const hub = meshHub(c.env, shardOf(c.env, node));
    return (await hub.fetch(new Request(c.req.raw, { headers }))) as never;
  },
);
