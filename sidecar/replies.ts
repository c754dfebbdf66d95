/**
 * The few packets the sidecar writes to a device itself: PINGRESP, and the
 * CONNACK refusals and DISCONNECTs it sends when it ends a connection on its
 * own. Everything else a device receives comes from the edge, untouched.
 */
import { encodePacket } from '../shared/codec/encoder.ts';
import type { ProtocolLevel } from '../shared/codec/types.ts';
import type { MqttError } from '../shared/errors.ts';
import { ConnackReturnCode, connackCodeFor, ReasonCode } from '../shared/reason-codes.ts';

/** PINGRESP is always these two bytes, at every protocol level. */
export const PINGRESP: Uint8Array = Uint8Array.of(0xd0, 0x00);

/**
 * A CONNACK that refuses the connection: the 5.0 reason as is, or the
 * closest 3.1/3.1.1 return code (every "not now" reason becomes 3, Server
 * unavailable).
 *
 * @example
 * connackRefusal(4, ReasonCode.ServerUnavailable); // 20 02 00 03
 */
export function connackRefusal(level: ProtocolLevel, reason: ReasonCode): Uint8Array {
  if (level === 5) return encodePacket({ cmd: 'connack', sessionPresent: false, reasonCode: reason }, 5);
  return encodePacket({ cmd: 'connack', sessionPresent: false, returnCode: connackCodeFor(reason) }, level);
}

/**
 * A 5.0 DISCONNECT, or undefined where the spec allows none: 3.x has no
 * server DISCONNECT, and [MQTT-3.14.0-1] forbids one before a CONNACK with a
 * success code; such connections are just closed.
 */
export function disconnectFor(level: ProtocolLevel, connackAccepted: boolean, reason: ReasonCode): Uint8Array | undefined {
  if (level !== 5 || !connackAccepted) return undefined;
  return encodePacket({ cmd: 'disconnect', reasonCode: reason }, 5);
}

/**
 * The answer to a CONNECT that failed to decode, or undefined to just close.
 * 5.0 gets the reason itself. 3.x gets a return code only where it has a
 * precise one (e.g. 0x01 for an unsupported level [MQTT-3.1.2-2]); any other
 * broken 3.x CONNECT is simply closed [MQTT-4.8.0-1].
 */
export function refusalForInvalidConnect(error: MqttError): Uint8Array | undefined {
  const level = error.protocolLevel;
  if (level === 5) return connackRefusal(5, error.reasonCode);
  if (error.reasonCode === ReasonCode.UnsupportedProtocolVersion) {
    // Unknown levels get the 3.1.1 form, which every client version can read.
    return connackRefusal(level ?? 4, ReasonCode.UnsupportedProtocolVersion);
  }
  if (level !== undefined && connackCodeFor(error.reasonCode) !== ConnackReturnCode.ServerUnavailable) {
    return connackRefusal(level, error.reasonCode);
  }
  return undefined;
}
