/**
 * The packets that carry the traffic, decoded and encoded by hand: PUBLISH
 * without 5.0 properties, the four acknowledgements in their short forms,
 * PINGREQ and PINGRESP. Everything else (and anything unusual about these)
 * goes to mqtt-packet, which stays the reference.
 *
 * Why: profiled under load on workerd (`npm run profile -- p2p`), more than
 * a third of the namespace's CPU went to mqtt-packet's stream machinery on
 * top of the runtime's Buffer polyfill (Buffer.from of an ArrayBuffer, slice
 * and copy per field, `debug` calls), for packets whose bytes are a fixed
 * header, a topic, a packet id and a payload. The objects and bytes made here
 * are exactly mqtt-packet's (test/unit/codec/fast-path.test.ts compares them
 * on random packets), so nothing downstream can tell.
 *
 * Decoding runs after validate.ts has checked the frame, so lengths and
 * UTF-8 are already known to be right.
 */
import type { MqttPacket, ProtocolLevel } from './types.ts';

// A leading U+FEFF is part of the topic [MQTT-1.5.4-3]: not stripped as a BOM.
const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const textEncoder = new TextEncoder();

const AckCommands = { 4: 'puback', 5: 'pubrec', 6: 'pubrel', 7: 'pubcomp' } as const;
const AckTypes = { puback: 4, pubrec: 5, pubrel: 6, pubcomp: 7 } as const;

/**
 * The packet of a validated frame, or undefined for mqtt-packet to decode.
 * `bytes` is the whole packet, fixed header included.
 */
export function decodeFast(bytes: Uint8Array, level: ProtocolLevel): MqttPacket | undefined {
  const first = bytes[0] as number;
  const type = first >> 4;
  // Remaining Length, as the framer already checked it.
  let at = 1;
  let length = 0;
  let multiplier = 1;
  for (;;) {
    const byte = bytes[at++] as number;
    length += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) break;
    multiplier *= 128;
  }
  if (type === 3) return decodePublish(bytes, first, at, length, level);
  if (type >= 4 && type <= 7) {
    if (length === 2) {
      const packet = ack(AckCommands[type as 4 | 5 | 6 | 7], (bytes[at] as number) * 256 + (bytes[at + 1] as number));
      if (level === 5) packet.reasonCode = 0;
      return packet as unknown as MqttPacket;
    }
    return undefined;
  }
  if (type === 12 && length === 0) return { cmd: 'pingreq', retain: false, qos: 0, dup: false, length: 0, topic: null, payload: null } as unknown as MqttPacket;
  if (type === 13 && length === 0) return { cmd: 'pingresp', retain: false, qos: 0, dup: false, length: 0, topic: null, payload: null } as unknown as MqttPacket;
  return undefined;
}

function ack(cmd: string, messageId: number): Record<string, unknown> {
  return { cmd, retain: false, qos: cmd === 'pubrel' ? 1 : 0, dup: false, length: 2, topic: null, payload: null, messageId };
}

function decodePublish(bytes: Uint8Array, first: number, start: number, length: number, level: ProtocolLevel): MqttPacket | undefined {
  const qos = (first >> 1) & 3;
  let at = start;
  const topicLength = (bytes[at] as number) * 256 + (bytes[at + 1] as number);
  at += 2;
  const topic = utf8.decode(bytes.subarray(at, at + topicLength));
  at += topicLength;
  let messageId: number | undefined;
  if (qos > 0) {
    messageId = (bytes[at] as number) * 256 + (bytes[at + 1] as number);
    at += 2;
  }
  if (level === 5) {
    // Properties present: mqtt-packet reads them.
    if (bytes[at] !== 0) return undefined;
    at += 1;
  }
  const payload = Buffer.from(bytes.buffer, bytes.byteOffset + at, bytes.byteLength - at);
  const packet: Record<string, unknown> = { cmd: 'publish', retain: (first & 1) === 1, qos, dup: (first & 8) === 8, length, topic, payload };
  if (messageId !== undefined) packet['messageId'] = messageId;
  return packet as unknown as MqttPacket;
}

/** The bytes of `packet` at `level`, or undefined for mqtt-packet to encode. */
export function encodeFast(packet: MqttPacket, level: ProtocolLevel): Uint8Array | undefined {
  switch (packet.cmd) {
    case 'publish':
      return encodePublish(packet, level);
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      const id = packet.messageId;
      if (typeof id !== 'number' || id < 1 || id > 0xffff) return undefined;
      if (level === 5 && ((packet.reasonCode !== undefined && packet.reasonCode !== 0) || packet.properties !== undefined)) return undefined;
      return Uint8Array.of((AckTypes[packet.cmd] << 4) | (packet.cmd === 'pubrel' ? 2 : 0), 2, id >> 8, id & 0xff);
    }
    case 'pingresp':
      return Uint8Array.of(0xd0, 0);
    case 'pingreq':
      return Uint8Array.of(0xc0, 0);
    default:
      return undefined;
  }
}

function encodePublish(packet: Extract<MqttPacket, { cmd: 'publish' }>, level: ProtocolLevel): Uint8Array | undefined {
  const { topic, payload, qos } = packet;
  if (typeof topic !== 'string' || topic === '' || !(payload instanceof Uint8Array)) return undefined;
  if (level === 5 && packet.properties !== undefined && Object.keys(packet.properties).length > 0) return undefined;
  if (qos !== 0 && qos !== 1 && qos !== 2) return undefined;
  const messageId = packet.messageId;
  if (qos > 0 && (typeof messageId !== 'number' || messageId < 1 || messageId > 0xffff)) return undefined;
  // A topic has at most 65,535 bytes: 3 per UTF-16 unit bounds its UTF-8 form.
  if (topic.length > 0xffff) return undefined;
  const topicBytes = textEncoder.encode(topic);
  if (topicBytes.byteLength > 0xffff) return undefined;
  const remaining = 2 + topicBytes.byteLength + (qos > 0 ? 2 : 0) + (level === 5 ? 1 : 0) + payload.byteLength;
  if (remaining > 268_435_455) return undefined;
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  const out = new Uint8Array(1 + lengthBytes + remaining);
  out[0] = 0x30 | (packet.dup ? 8 : 0) | (qos << 1) | (packet.retain ? 1 : 0);
  let at = 1;
  let rest = remaining;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    out[at++] = byte;
  } while (rest > 0);
  out[at++] = topicBytes.byteLength >> 8;
  out[at++] = topicBytes.byteLength & 0xff;
  out.set(topicBytes, at);
  at += topicBytes.byteLength;
  if (qos > 0) {
    out[at++] = (messageId as number) >> 8;
    out[at++] = (messageId as number) & 0xff;
  }
  if (level === 5) out[at++] = 0;
  out.set(payload, at);
  return out;
}
