import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { tcp } from '@libp2p/tcp';
import { isPrivate } from '@libp2p/utils';
import { webRTC } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { MeshTransports } from '../core/p2p/mesh-peer.ts';

export interface HeadlessTransportOptions {
  /** Interface to listen on. Default `127.0.0.1`; `0.0.0.0` to be reachable from other machines. */
  host?: string;
  /** TCP port for libp2p over TCP (node to node); 0 = any free port. */
  tcpPort?: number;
  /** TCP port for libp2p over WebSockets (browsers reach relays this way); 0 = any free port. */
  wsPort?: number;
  /** Act as a circuit-relay-v2 relay for browsers (bounded reservations). Default true. */
  relay?: boolean;
  /** ICE servers for WebRTC (STUN/TURN URLs); none by default (loopback and LAN need none). */
  iceServers?: RTCIceServer[];
  /**
   * Hold a reservation on another relay (default true), so the node has `/p2p-circuit/webrtc`
   * addresses: a browser reaches it over WebRTC through that relay (a public page can dial neither
   * `ws://` nor private addresses), and so does anyone when it listens only on loopback or behind NAT.
   */
  reachableThroughRelay?: boolean;
  /**
   * Dial loopback and private (LAN) addresses. Off on a public network: addresses come from
   * other peers through the hub, and a node must not be steered into probing its own network.
   * The CLI turns it on only for an API on a loopback or private address (local development, a
   * LAN cluster) or with `--allow-private-addresses`.
   */
  allowPrivateAddresses?: boolean;
}

/** The connection gater of a headless node: refuses to dial private addresses unless allowed. */
export function headlessGater(allowPrivateAddresses: boolean) {
  return {
    denyDialMultiaddr: async (multiaddr: Multiaddr) => !allowPrivateAddresses && isPrivate(multiaddr),
  };
}

/**
 * The transports of a headless node: TCP and WebSockets listeners, WebRTC through
 * `node-datachannel`, circuit relay v2 (as a client with a reservation on another relay, and as
 * a relay server for browsers and other nodes with
 * bounded reservations: relayed connections are limited to signalling, 1 MiB and 2 minutes, so
 * data always flows over the direct WebRTC connection they set up).
 */
export function headlessTransports(options: HeadlessTransportOptions = {}): MeshTransports {
  const host = options.host ?? '127.0.0.1';
  const relay = options.relay ?? true;
  return {
    transports: [
      tcp(),
      webSockets(),
      webRTC({
        rtcConfiguration: { iceServers: options.iceServers ?? [] },
        // Not in the type, passed to every data channel stream: the default 4 MiB read buffer is
        // overrun by a bitswap burst from node-datachannel, which resets the stream.
        dataChannel: { maxReadBufferLength: 64 * 1024 * 1024 },
      } as Parameters<typeof webRTC>[0]),
      circuitRelayTransport({ reservationCompletionTimeout: 10_000 }),
    ],
    listen: [
      `/ip4/${host}/tcp/${options.tcpPort ?? 0}`,
      `/ip4/${host}/tcp/${options.wsPort ?? 0}/ws`,
      '/webrtc',
      ...(options.reachableThroughRelay === false ? [] : ['/p2p-circuit']),
    ],
    connectionGater: headlessGater(options.allowPrivateAddresses ?? false),
    ...(relay
      ? {
          services: {
            relay: circuitRelayServer({
              reservations: {
                maxReservations: 128,
                reservationTtl: 10 * 60_000,
                applyDefaultLimit: true,
                defaultDurationLimit: 2 * 60_000,
                defaultDataLimit: 1n << 20n,
              },
            }),
          },
        }
      : {}),
  };
}
