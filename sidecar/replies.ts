/**
 * The few packets the sidecar writes to a device itself: PINGRESP, and the
 * CONNACK refusals and DISCONNECTs it sends when it ends a connection on its
 * own, built by the same shared rules as the edge's (shared/refusals.ts).
 * Everything else a device receives comes from the edge, untouched.
 */
import { encodePacket } from '../shared/codec/encoder.ts';
import type { ProtocolLevel } from '../shared/codec/types.ts';
import type { MqttError } from '../shared/errors.ts';
import type { ReasonCode } from '../shared/reason-codes.ts';
import { connackRefusal as connackRefusalPacket, refusalForFailedConnect, serverDisconnect } from '../shared/refusals.ts';

/** PINGRESP is always these two bytes, at every protocol level. */
export const PINGRESP: Uint8Array = Uint8Array.of(0xd0, 0x00);

/**
 * A CONNACK that refuses the connection, encoded for the device's level.
 *
 * @example
 * connackRefusal(4, ReasonCode.ServerUnavailable); // 20 02 00 03
 */
export function connackRefusal(level: ProtocolLevel, reason: ReasonCode): Uint8Array {
  return encodePacket(connackRefusalPacket(level, reason), level);
}

/** A 5.0 DISCONNECT, or undefined where the spec allows none (see serverDisconnect). */
export function disconnectFor(level: ProtocolLevel, connackAccepted: boolean, reason: ReasonCode): Uint8Array | undefined {
  const packet = serverDisconnect(level, connackAccepted, reason);
  return packet === undefined ? undefined : encodePacket(packet, 5);
}

/** The answer to a CONNECT that failed to decode, or undefined to just close. */
export function refusalForInvalidConnect(error: MqttError): Uint8Array | undefined {
  const packet = refusalForFailedConnect(error.protocolLevel, error.reasonCode);
  // An unknown level gets the 3.1.1 form (see refusalForFailedConnect).
  return packet === undefined ? undefined : encodePacket(packet, error.protocolLevel ?? 4);
}
