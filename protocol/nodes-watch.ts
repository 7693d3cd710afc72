import { z } from 'zod';
import { ErrorCode } from './errors.ts';
import { NodeInfo } from './mesh.ts';

/** Most nodes in one frame; a larger snapshot goes on in `nodes.updated` frames. */
export const NODES_PER_FRAME = 500;

/**
 * Messages the hub sends on `GET /api/v1/nodes/events` (the node map's live feed). The first is
 * always `nodes.snapshot`: it replaces everything the watcher knew (a reconnect resyncs). Then
 * `nodes.updated` frames, at most one per 250 ms, carry the nodes that joined or changed (their
 * whole `NodeInfo`: running count, peers, holds, addresses) and the ids of nodes that left. A
 * snapshot of more than `NODES_PER_FRAME` nodes continues in `nodes.updated` frames.
 */
export const HubToWatcher = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('nodes.snapshot'),
    nodes: z.array(NodeInfo).max(NODES_PER_FRAME),
    /** The hub's clock when the snapshot was taken. */
    at: z.number().int(),
  }),
  z.object({
    type: z.literal('nodes.updated'),
    /** Nodes that joined or changed, whole. */
    nodes: z.array(NodeInfo).max(NODES_PER_FRAME),
    /** Ids of nodes that left. */
    gone: z.array(z.string()),
    at: z.number().int(),
  }),
  /** Answer to `{"type":"ping"}`. */
  z.object({ type: z.literal('pong') }),
  z.object({ type: z.literal('error'), code: ErrorCode, message: z.string() }),
]);
export type HubToWatcher = z.infer<typeof HubToWatcher>;

/** Watchers only ever send pings. */
export const WatcherToHub = z.discriminatedUnion('type', [z.object({ type: z.literal('ping') })]);
export type WatcherToHub = z.infer<typeof WatcherToHub>;
