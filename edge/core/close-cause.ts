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
export type CloseKind = 'normal' | 'protocol-error' | 'policy' | 'server-error';
