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
import { generate, writeToStream } from 'mqtt-packet';
import { MqttError } from '../errors.ts';
import { ReasonCode, connackCodeFor } from '../reason-codes.ts';
import { encodeFast } from './fast-path.ts';
import { concatBytes } from './framer.ts';
import type { MqttPacket, ProtocolLevel, PublishPacket } from './types.ts';
import { hasInterleavedOrder, userPropertyPairs } from './user-properties.ts';

// mqtt-packet otherwise builds, on its first use, a cache of 65,536 two-byte
// Buffers for packet ids and lengths: 3 MB of JS heap in workerd plus a
// backing store each, found by a heap snapshot of an idle namespace. The
// traffic goes through fast-path.ts, so the slow path can allocate its few.
writeToStream.cacheNumbers = false;

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
    if (packet.cmd === 'publish' && protocolLevel === 5 && packet.properties?.userProperties !== undefined && hasInterleavedOrder(packet.properties.userProperties)) {
      return encodePublishInWireOrder(packet);
    }
    // The traffic (PUBLISH without properties, short acknowledgements, pings) is written by hand: see fast-path.ts.
    return encodeFast(packet, protocolLevel) ?? generate(adaptToLevel(packet, protocolLevel), { protocolVersion: protocolLevel });
  } catch (thrown) {
    if (thrown instanceof MqttError) throw thrown;
    const message = thrown instanceof Error ? thrown.message : String(thrown);
    throw new MqttError('Protocol', ReasonCode.ImplementationSpecificError, `cannot encode ${String(packet.cmd)} at level ${protocolLevel}: ${message}`, {
      cause: thrown,
    });
  }
}

/**
 * A 5.0 PUBLISH whose User Properties interleave names: encoded without them
 * by mqtt-packet, then with the pairs appended to the property list in their
 * original order [MQTT-3.3.2-18] and both lengths rewritten.
 */
function encodePublishInWireOrder(packet: PublishPacket): Uint8Array {
  const { userProperties, ...others } = packet.properties ?? {};
  const base = generate({ ...packet, properties: others }, { protocolVersion: 5 });
  // Fixed header, then topic name, packet id (QoS > 0), property length, properties, payload.
  let variableStart = 1;
  while (((base[variableStart] as number) & 0x80) !== 0) variableStart++;
  variableStart++;
  const topicLength = ((base[variableStart] as number) << 8) | (base[variableStart + 1] as number);
  const lengthAt = variableStart + 2 + topicLength + (packet.qos > 0 ? 2 : 0);
  let propertyLength = 0;
  let multiplier = 1;
  let propertiesStart = lengthAt;
  for (;;) {
    const byte = base[propertiesStart++] as number;
    propertyLength += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) === 0) break;
  }
  const propertiesEnd = propertiesStart + propertyLength;
  const encoder = new TextEncoder();
  const pairs = userPropertyPairs(userProperties ?? {}).map(([name, value]) => {
    const nameBytes = encoder.encode(name);
    const valueBytes = encoder.encode(value);
    return concatBytes([Uint8Array.of(0x26, nameBytes.length >> 8, nameBytes.length & 0xff), nameBytes, Uint8Array.of(valueBytes.length >> 8, valueBytes.length & 0xff), valueBytes]);
  });
  const properties = concatBytes([base.subarray(propertiesStart, propertiesEnd), ...pairs]);
  const variable = concatBytes([base.subarray(variableStart, lengthAt), variableByteInteger(properties.length), properties, base.subarray(propertiesEnd)]);
  return concatBytes([base.subarray(0, 1), variableByteInteger(variable.length), variable]);
}

function variableByteInteger(value: number): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return Uint8Array.from(bytes);
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
