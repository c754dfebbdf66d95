/**
 * How the sidecar closes a device's channel toward the edge. Only 1000 follows a
 * DISCONNECT the device sent; with every other code the edge treats the
 * connection as lost and publishes the will.
 */

export { BridgeCloseCode as EdgeCloseCode } from '../shared/bridge-close-codes.ts';
import { BridgeCloseCode as EdgeCloseCode } from '../shared/bridge-close-codes.ts';

/** Why a bridged connection ended (logged as `reason` in `connection.closed`, and the metrics' `cause`). */
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
  | 'slow-device'
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
    case 'slow-device':
      return [EdgeCloseCode.SlowDevice, 'device too slow to read what it is sent'];
    default:
      return [EdgeCloseCode.DeviceLost, 'device connection lost'];
  }
}
