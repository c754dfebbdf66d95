/**
 * How the broker closes a connection. Shared so the sidecar can tell a close
 * the edge decided on from an edge that was not there. The transport turns it into its own
 * terms (WebSocket close codes in the Durable Object, a frame on the
 * sidecar's link); the core never speaks WebSocket.
 */
export type CloseKind = 'normal' | 'going-away' | 'protocol-error' | 'policy' | 'server-error';

/**
 * The WebSocket close code of each close kind (RFC 6455 §7.4.1), for a
 * client's own WebSocket and for a device's end of a sidecar or gateway
 * link alike: 1001 tells a client the server is going away, not that it
 * did something wrong.
 */
export const WebSocketCloseCode: Readonly<Record<CloseKind, number>> = {
  normal: 1000,
  'going-away': 1001,
  'protocol-error': 1002,
  policy: 1008,
  'server-error': 1011,
};

/**
 * Whether the edge closed a connection on purpose, for what its client sent
 * (a refused or broken CONNECT, a CONNACK the client's Maximum Packet Size
 * leaves no room for, a CONNECT that never came): then whatever the edge
 * sent before is all the client gets. Every other code (1001 going away,
 * 1006 lost, 1011 server error, 1012 to 1014) means the edge could not
 * answer (docs/conformance-decisions.md).
 */
export function isDeliberateClose(code: number): boolean {
  return code === WebSocketCloseCode.normal || code === WebSocketCloseCode['protocol-error'] || code === WebSocketCloseCode.policy;
}
