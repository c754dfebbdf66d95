/**
 * How the sidecar closes the WebSocket toward the edge. Only 1000 follows a
 * DISCONNECT the device sent; with every other code the edge treats the
 * connection as lost and publishes the will.
 */

export const EdgeCloseCode = {
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
} as const;

/** Why a bridged connection ended (logged as `cause` in `device.closed`). */
export type CloseCause =
  | 'device-closed'
  | 'device-disconnected'
  | 'edge-closed'
  | 'edge-unavailable'
  | 'edge-protocol-error'
  | 'keep-alive-timeout'
  | 'malformed-packet'
  | 'connect-timeout'
  | 'over-limit'
  | 'shutdown';

/** The close code and reason the edge gets for each way a connection ends. */
export function edgeCloseFor(cause: CloseCause, disconnectForwarded: boolean): [number, string] {
  if (disconnectForwarded) return [EdgeCloseCode.Normal, 'client disconnected'];
  switch (cause) {
    case 'keep-alive-timeout':
      return [EdgeCloseCode.KeepAliveTimeout, 'keep-alive timeout'];
    case 'malformed-packet':
      return [EdgeCloseCode.DeviceProtocolError, 'malformed packet from device'];
    case 'edge-protocol-error':
      return [EdgeCloseCode.ProtocolError, 'expected binary frames of whole MQTT packets'];
    case 'shutdown':
      return [EdgeCloseCode.GoingAway, 'sidecar shutting down'];
    default:
      return [EdgeCloseCode.DeviceLost, 'device connection lost'];
  }
}
