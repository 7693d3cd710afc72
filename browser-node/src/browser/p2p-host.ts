import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { webRTC } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import type { MeshTransports } from '../core/p2p/mesh-peer.ts';

export interface BrowserTransportOptions {
  /** ICE servers for WebRTC (STUN/TURN URLs); none by default (loopback and LAN need none). */
  iceServers?: RTCIceServer[];
  /**
   * Local development only: dial `ws://` and loopback/private addresses, which the browser build
   * of libp2p refuses by default (a public page must not probe its visitor's LAN).
   */
  allowLocalAddresses?: boolean;
}

/**
 * The transports of a browser node: WebSockets to reach relays, circuit relay v2 to be reachable
 * (a reservation on a relay gives a `/p2p-circuit` address) and WebRTC for direct connections,
 * set up through the relay. A tab listens on nothing itself.
 */
export function browserTransports(options: BrowserTransportOptions = {}): MeshTransports {
  return {
    transports: [
      webSockets(),
      webRTC({
        rtcConfiguration: { iceServers: options.iceServers ?? [] },
        dataChannel: { maxReadBufferLength: 64 * 1024 * 1024 },
      } as Parameters<typeof webRTC>[0]),
      circuitRelayTransport({ reservationCompletionTimeout: 10_000 }),
    ],
    listen: ['/p2p-circuit', '/webrtc'],
    ...(options.allowLocalAddresses ? { connectionGater: { denyDialMultiaddr: async () => false } } : {}),
  };
}
