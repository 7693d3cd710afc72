import {
  frameBudget,
  limits,
  MESH_PROTOCOL,
  type NodeOwnerLink,
  type NodeReputation,
  type NodeToHub,
} from '../../protocol/index.ts';
import { verifyNodeLink } from './node-link-verifier.ts';
import { checkHelloProof, ed25519PublicKey } from './receipt-verifier.ts';

/**
 * Admission: who may join a hub, how much it may hold, and how fast it may talk. Anyone may
 * connect (`/mesh/connect` is open), so everything here assumes the other side is hostile:
 * it must prove a key within `HELLO_TIMEOUT_MS`, holds at most its lease window (small for a
 * node with no record), and sends frames within a budget.
 */

/** A socket that has not said a valid hello by then is closed. */
export const HELLO_TIMEOUT_MS = 5_000;

/** Leases a node with no record may hold. */
export const NEW_NODE_WINDOW = 8;

/**
 * A node is established once this many of its results were accepted with a score this good: its
 * lost leases then count against their tasks' attempts (see `JobRoom`), since such a record takes
 * real work to build and losing leases spends it.
 */
export const ESTABLISHED = { accepted: 50, score: 0.9 } as const;

export function isEstablished(r: NodeReputation): boolean {
  return r.accepted >= ESTABLISHED.accepted && r.score >= ESTABLISHED.score;
}

/**
 * How many leases a node may hold at once. It grows by one with every accepted result (so an
 * honest node's window doubles each round trip, like TCP's slow start) and shrinks with the share
 * of its leases it lost, let lapse or got rejected, and of its answers verification found wrong
 * (a caught saboteur is leased little at a time); never below one, never above `maxHeldLeases`.
 */
export function leaseWindow(r: NodeReputation): number {
  const quality =
    (r.accepted + 1) / (r.accepted + 1 + 4 * r.lost + r.late + 8 * r.rejected + 8 * (r.disagreed ?? 0));
  return Math.max(1, Math.min(limits.maxHeldLeases, Math.floor((NEW_NODE_WINDOW + r.accepted) * quality)));
}

/**
 * A token bucket for one socket's frames and bytes. A node sends a result frame at most every
 * 25 ms and a heartbeat every 5 s; the budget leaves ample room for that and none for a flood.
 */
export class FrameBudget {
  static readonly FRAMES_PER_SECOND = frameBudget.framesPerSecond;
  static readonly FRAME_BURST = frameBudget.frameBurst;
  static readonly BYTES_PER_SECOND = frameBudget.bytesPerSecond;
  static readonly BYTE_BURST = frameBudget.byteBurst;
  /**
   * Refused frames (forgiven at `FORGIVE_PER_SECOND`) after which the socket is closed: a node
   * that overshoots now and then is told to slow down; one that keeps flooding is cut off.
   */
  static readonly REFUSALS_BEFORE_CLOSE = 100;
  static readonly FORGIVE_PER_SECOND = 10;

  #frames: number = FrameBudget.FRAME_BURST;
  #bytes: number = FrameBudget.BYTE_BURST;
  #at: number;
  /** Refusals not yet forgiven. */
  refused = 0;

  constructor(now: number) {
    this.#at = now;
  }

  /** Take one frame of `size` bytes: true when the budget allows it. */
  take(size: number, now: number): boolean {
    const elapsed = Math.max(0, now - this.#at) / 1000;
    this.#at = now;
    this.#frames = Math.min(FrameBudget.FRAME_BURST, this.#frames + elapsed * FrameBudget.FRAMES_PER_SECOND);
    this.#bytes = Math.min(FrameBudget.BYTE_BURST, this.#bytes + elapsed * FrameBudget.BYTES_PER_SECOND);
    this.refused = Math.max(0, this.refused - elapsed * FrameBudget.FORGIVE_PER_SECOND);
    if (this.#frames < 1 || this.#bytes < size) {
      this.refused++;
      return false;
    }
    this.#frames -= 1;
    this.#bytes -= size;
    return true;
  }
}

type Hello = Extract<NodeToHub, { type: 'node.hello' }>;

/** Why a hello is refused: the error frame's message and the close reason. */
export interface Refusal {
  message: string;
  closeReason: string;
}

/**
 * Check a hello before anything is registered: the protocol major, the peer id (an Ed25519 key),
 * the proof that the node holds that key (signed for this host, lately), that the node id is the
 * one the socket was routed by (its shard), and that a node id shaped like a peer id is that
 * peer's. A wallet link is checked too, but a refused link never refuses the node: it works
 * anonymously and is told why. The binding of the node id to its key is checked by the caller
 * afterwards, with no await in between (`NodeStandings.claim`).
 */
export async function checkHello(
  msg: Hello,
  context: { host: string; routedAs: string; now: number },
): Promise<{ refused: Refusal } | { owner?: string; ownerError?: string }> {
  const major = (p: string) => p.split('/').at(-1)?.split('.')[0];
  if (major(msg.protocol) !== major(MESH_PROTOCOL)) {
    return {
      refused: {
        message: `protocol ${msg.protocol} is not supported; this hub speaks ${MESH_PROTOCOL}`,
        closeReason: 'unsupported protocol version',
      },
    };
  }
  if (msg.nodeId !== context.routedAs) {
    return {
      refused: {
        message: `node id ${msg.nodeId} is not the node id this connection was opened for (${context.routedAs}): connect to /api/v1/mesh/connect?node=<your node id>`,
        closeReason: 'node id does not match the connection',
      },
    };
  }
  // A peer id that names no Ed25519 key could never sign a receipt.
  const key = ed25519PublicKey(msg.peerId);
  if (key instanceof Error) return { refused: { message: key.message, closeReason: 'invalid peer id' } };
  // The node must hold the key it names: else it could say hello as another node, and that
  // node's standing would answer for what it does.
  const refused = await checkHelloProof(msg.peerId, msg.proof, { host: context.host, now: context.now });
  if (refused) return { refused: { message: refused.message, closeReason: 'no proof of key' } };
  // Our nodes' ids default to their peer ids: such an id is only that key's to use.
  if (msg.nodeId !== msg.peerId && !(ed25519PublicKey(msg.nodeId) instanceof Error)) {
    return {
      refused: {
        message: `node id ${msg.nodeId} is a peer id: only that peer may use it (say hello with it as peerId, with its proof)`,
        closeReason: 'node id of another peer',
      },
    };
  }
  return msg.owner ? checkLink(msg.owner, msg.peerId, context.host) : {};
}

/** A wallet link for this node and host: the owner, or why it is refused. */
export async function checkLink(
  link: NodeOwnerLink,
  peerId: string,
  host: string,
): Promise<{ owner?: string; ownerError?: string }> {
  const checked = await verifyNodeLink(link, { peerId, domain: host });
  return 'address' in checked ? { owner: checked.address } : { ownerError: checked.error };
}
