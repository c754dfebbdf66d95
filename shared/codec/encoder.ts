/**
 * Packet object to bytes, for the protocol level of the receiving client.
 *
 * A thin layer over mqtt-packet's generate(), which fixes a few things up so
 * handlers can build packets without caring about the level:
 * - CONNECT gets the Protocol Name and Level of `protocolLevel`;
 * - a 3.x CONNACK without `returnCode` gets one mapped from `reasonCode`;
 * - a 3.x SUBACK turns every 5.0 failure reason into 0x80, the only one 3.1.1 knows [MQTT-3.9.3-2];
 * - a 5.0 acknowledgement without `reasonCode` means Success, in its short form.
 * mqtt-packet drops `properties` below 5.0 by itself.
 */
import { generate } from 'mqtt-packet';
import { MqttError } from '../errors.ts';
import { ReasonCode, connackCodeFor } from '../reason-codes.ts';
import type { MqttPacket, ProtocolLevel } from './types.ts';

/** SUBACK failure return code of 3.1 / 3.1.1. */
const SubackFailure = 0x80;

/**
 * @throws MqttError (kind 'Protocol', Implementation Specific Error 0x83) if
 * the packet cannot be encoded: that is a bug in whoever built it.
 *
 * @example
 * encodePacket({ cmd: 'puback', messageId: 7 }, 4); // Uint8Array [0x40, 0x02, 0x00, 0x07]
 */
export function encodePacket(packet: MqttPacket, protocolLevel: ProtocolLevel): Uint8Array {
  try {
    return generate(adaptToLevel(packet, protocolLevel), { protocolVersion: protocolLevel });
  } catch (thrown) {
    if (thrown instanceof MqttError) throw thrown;
    const message = thrown instanceof Error ? thrown.message : String(thrown);
    throw new MqttError('Protocol', ReasonCode.ImplementationSpecificError, `cannot encode ${String(packet.cmd)} at level ${protocolLevel}: ${message}`, {
      cause: thrown,
    });
  }
}

function adaptToLevel(packet: MqttPacket, level: ProtocolLevel): MqttPacket {
  switch (packet.cmd) {
    case 'connect': {
      const version = packet.protocolVersion ?? level;
      if (version !== level) {
        throw new MqttError('Protocol', ReasonCode.ImplementationSpecificError, `CONNECT of level ${version} encoded for level ${level}`);
      }
      return { ...packet, protocolVersion: level, protocolId: packet.protocolId ?? (level === 3 ? 'MQIsdp' : 'MQTT') };
    }
    case 'connack':
      if (level !== 5 && packet.returnCode === undefined) {
        return { ...packet, returnCode: connackCodeFor(packet.reasonCode ?? ReasonCode.Success) };
      }
      return packet;
    case 'suback':
      if (level !== 5 && packet.granted.some((code) => typeof code === 'number' && code >= SubackFailure && code !== SubackFailure)) {
        return { ...packet, granted: packet.granted.map((code) => (typeof code === 'number' && code >= SubackFailure ? SubackFailure : code)) as number[] };
      }
      return packet;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      if (level === 5 && packet.reasonCode === undefined) return { ...packet, reasonCode: ReasonCode.Success };
      return packet;
    default:
      return packet;
  }
}
