/**
 * Headers the Worker sets on the request it forwards to the namespace's
 * Durable Object. The Worker strips any a client sent itself, so the object
 * can trust them.
 */
export const InternalHeader = {
  Namespace: 'x-broker-namespace',
  RemoteAddress: 'x-broker-remote-address',
  Bridged: 'x-broker-bridged',
  Subprotocol: 'x-broker-subprotocol',
  /** The upgrade is a sidecar's link (many devices), from a sidecar with the secret. */
  Link: 'x-broker-link',
  /** The upgrade goes to this gateway object of the namespace (docs/scale.md), which holds the client. */
  Gateway: 'x-broker-gateway',
} as const;
