/** Why a connection ended; the onDisconnect hook and the logs see it. */
export type CloseCause =
  | 'client-disconnect'
  | 'keepalive-timeout'
  | 'protocol-error'
  | 'network-error'
  | 'takeover'
  | 'server-shutdown'
  | 'connect-timeout'
  | 'refused'
  | 'admin';

/**
 * How the broker closes a connection. The transport turns it into its own
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

/** The close kind a server-initiated close takes for its cause. */
export function closeKindOf(cause: CloseCause): CloseKind {
  if (cause === 'protocol-error') return 'protocol-error';
  if (cause === 'server-shutdown') return 'going-away';
  return 'normal';
}
