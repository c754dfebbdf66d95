/**
 * Close codes the sidecar uses on its WebSocket to the edge, one per way a
 * device's connection ends. Shared so the edge can tell its hooks why a
 * bridged device went away; only 1000 follows a DISCONNECT the device sent,
 * every other code ends the session as lost (the will is published).
 */
export const BridgeCloseCode = {
  /** The device sent DISCONNECT (forwarded just before). */
  Normal: 1000,
  /** The sidecar is shutting down. */
  GoingAway: 1001,
  /** The edge sent something that is not a binary frame of whole packets. */
  ProtocolError: 1002,
  /** The device's connection dropped (closed, reset or killed) without DISCONNECT. */
  DeviceLost: 4000,
  /** The device was silent for 1.5 × keep-alive. */
  KeepAliveTimeout: 4001,
  /** The device sent a malformed or oversized packet. */
  DeviceProtocolError: 4002,
  /** The device did not read what it was sent, past its queue on the sidecar's link. */
  SlowDevice: 4003,
  /**
   * From a gateway: its client sent far more than its share, past the bound
   * on what the gateway holds for it. Not a close but a request: the core
   * ends the client (DISCONNECT 0x96) and answers with CLOSE.
   */
  TooMuchInput: 4004,
} as const;
