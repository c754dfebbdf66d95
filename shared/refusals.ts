/**
 * The one place that turns a reason code into the packet a client of a
 * given protocol level gets when the broker refuses or ends its connection:
 * a CONNACK before the connection is accepted, a DISCONNECT (5.0 only)
 * after. Used by the edge and by the sidecar.
 */
import type { ConnackPacket, DisconnectPacket, ProtocolLevel } from './codec/types.ts';
import { ConnackReturnCode, ReasonCode, connackCodeFor } from './reason-codes.ts';

/** Reason String properties, when the client allows them [MQTT-3.1.2-29]. */
function reasonProperties(reasonString: string | undefined): { properties?: { reasonString: string } } {
  return reasonString === undefined ? {} : { properties: { reasonString: reasonString.slice(0, 200) } };
}

/**
 * A CONNACK that refuses the connection: the 5.0 reason as is, or the
 * closest 3.1/3.1.1 return code (every "not now" reason becomes 3, Server
 * unavailable) [MQTT-3.2.2-5].
 *
 * @example
 * connackRefusal(4, ReasonCode.NotAuthorized); // { cmd: 'connack', returnCode: 5, ... }
 */
export function connackRefusal(level: ProtocolLevel, reason: number, reasonString?: string): ConnackPacket {
  if (level === 5) return { cmd: 'connack', sessionPresent: false, reasonCode: reason, ...reasonProperties(reasonString) };
  return { cmd: 'connack', sessionPresent: false, returnCode: connackCodeFor(reason) };
}

/**
 * The answer to a CONNECT that could not be read or is not acceptable as
 * sent, or undefined to just close. 5.0 gets the reason itself. 3.x gets a
 * return code only where it has a precise one (0x01 for an unsupported
 * level [MQTT-3.1.2-2], in 3.1.1's form when the level is unknown, which
 * every client can read); any other broken 3.x CONNECT is simply closed
 * [MQTT-4.8.0-1].
 */
export function refusalForFailedConnect(level: ProtocolLevel | undefined, reason: number, reasonString?: string): ConnackPacket | undefined {
  if (level === 5) return connackRefusal(5, reason, reasonString);
  if (reason === ReasonCode.UnsupportedProtocolVersion) return connackRefusal(level ?? 4, reason);
  if (level !== undefined && connackCodeFor(reason) !== ConnackReturnCode.ServerUnavailable) return connackRefusal(level, reason);
  return undefined;
}

/**
 * Reason codes only a CONNACK may carry, as the nearest DISCONNECT reason
 * (table 3.14.2.1): a second CONNECT with a bad protocol name (0x84) is a
 * Protocol Error; a failed re-authentication (0x86, 0x8A, 0x8C) is Not authorized.
 */
const DisconnectReasonForConnackReason: ReadonlyMap<number, number> = new Map([
  [ReasonCode.UnsupportedProtocolVersion, ReasonCode.ProtocolError],
  [ReasonCode.ClientIdentifierNotValid, ReasonCode.ProtocolError],
  [ReasonCode.BadUserNameOrPassword, ReasonCode.NotAuthorized],
  [ReasonCode.Banned, ReasonCode.NotAuthorized],
  [ReasonCode.BadAuthenticationMethod, ReasonCode.NotAuthorized],
  [ReasonCode.ServerUnavailable, ReasonCode.ServerBusy],
]);

/**
 * A 5.0 DISCONNECT from the server, or undefined where the spec allows
 * none: 3.x has no server DISCONNECT, and [MQTT-3.14.0-1] forbids one
 * before a CONNACK with a success code; such connections are just closed.
 */
export function serverDisconnect(level: ProtocolLevel, connackAccepted: boolean, reason: number, reasonString?: string): DisconnectPacket | undefined {
  if (level !== 5 || !connackAccepted) return undefined;
  return { cmd: 'disconnect', reasonCode: DisconnectReasonForConnackReason.get(reason) ?? reason, ...reasonProperties(reasonString) };
}
