/**
 * Structural validation of one whole packet, on its raw bytes, before
 * mqtt-packet parses it.
 *
 * mqtt-packet is lenient where the spec is not: it reads past field ends
 * (yielding -1 or null instead of an error), ignores trailing bytes, decodes
 * invalid UTF-8 to U+FFFD, and accepts misplaced or duplicate properties.
 * Walking every field here means that whatever reaches mqtt-packet is
 * well-formed, so its output can be trusted, and every defect gets the reason
 * code the spec asks for.
 *
 * Errors are thrown (as MqttError) inside this module only; the decoder
 * catches them and returns them.
 */
import { MqttError, malformedPacket, protocolError } from '../errors.ts';
import { ReasonCode } from '../reason-codes.ts';
import type { Frame } from './framer.ts';
import { Properties, WillContext, isRepeatable } from './properties.ts';
import { PacketType, type ProtocolLevel } from './types.ts';
import { isValidMqttUtf8 } from './utf8.ts';

class Reader {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    pos: number,
    readonly end: number,
    /** Set while reading a CONNECT: the level the client asked for, attached to errors. */
    readonly connectLevel?: ProtocolLevel,
  ) {
    this.pos = pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  malformed(message: string): MqttError {
    return this.connectLevel === undefined
      ? malformedPacket(message)
      : malformedPacket(message, { protocolLevel: this.connectLevel });
  }

  protocol(message: string, reason: ReasonCode = ReasonCode.ProtocolError): MqttError {
    return this.connectLevel === undefined ? protocolError(message, reason) : protocolError(message, reason, { protocolLevel: this.connectLevel });
  }

  private need(count: number, field: string): void {
    if (this.end - this.pos < count) throw this.malformed(`packet too short: ${field} is truncated`);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.bytes[this.pos++] as number;
  }

  u16(field: string): number {
    this.need(2, field);
    const value = ((this.bytes[this.pos] as number) << 8) | (this.bytes[this.pos + 1] as number);
    this.pos += 2;
    return value;
  }

  u32(field: string): number {
    this.need(4, field);
    const b = this.bytes;
    const p = this.pos;
    this.pos += 4;
    return (b[p] as number) * 0x1000000 + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number));
  }

  /** Variable Byte Integer, at most 4 bytes (spec 1.5.5). */
  vbi(field: string): number {
    let value = 0;
    let multiplier = 1;
    for (let count = 0; count < 4; count++) {
      const byte = this.u8(field);
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        // [MQTT-1.5.5-1] the shortest encoding only.
        if (byte === 0 && count > 0) throw this.malformed(`${field} is not in its shortest encoding`);
        return value;
      }
      multiplier *= 128;
    }
    throw this.malformed(`${field} is a variable byte integer longer than 4 bytes`);
  }

  skip(count: number, field: string): void {
    this.need(count, field);
    this.pos += count;
  }

  /** A UTF-8 Encoded String [MQTT-1.5.4-1/2]; returns its byte range. */
  utf8(field: string): number {
    const length = this.u16(`${field} length`);
    this.need(length, field);
    const start = this.pos;
    this.pos += length;
    if (!isValidMqttUtf8(this.bytes, start, this.pos)) {
      throw this.malformed(`${field} is not well-formed UTF-8 or contains U+0000`);
    }
    return start;
  }

  /** Binary Data: two-byte length, then bytes. */
  binary(field: string): void {
    const length = this.u16(`${field} length`);
    this.skip(length, field);
  }

  packetId(field: string): number {
    const id = this.u16(field);
    // Packet Identifiers are non-zero (spec 2.2.1).
    if (id === 0) throw this.protocol(`${field} must not be 0`);
    return id;
  }

  done(what: string): void {
    if (this.pos !== this.end) throw this.malformed(`${this.end - this.pos} unexpected bytes after the ${what}`);
  }
}

/** Length of the fixed header: the type byte plus the Remaining Length bytes. */
function fixedHeaderLength(bytes: Uint8Array): number {
  let pos = 1;
  while (((bytes[pos++] as number) & 0x80) !== 0);
  return pos;
}

/** The bridge bit of the Protocol Level: a 3.1 or 3.1.1 bridge announces itself with level | 0x80 (mosquitto's `try_private`). */
const BridgeBit = 0x80;

/**
 * Reads the Protocol Name and Protocol Level of a CONNECT. 'MQIsdp' goes with
 * level 3 (MQTT 3.1), 'MQTT' with 4 and 5 [MQTT-3.1.2-1/2]. Anything else, or
 * a mismatch, is refused with Unsupported Protocol Version (CONNACK 0x01 /
 * 0x84). Levels 3 and 4 may carry the bridge bit (0x83, 0x84), as mosquitto
 * and EMQX accept it: mqtt-packet reads it as `bridgeMode`. 5.0 has No Local
 * instead, and mosquitto's 5.0 bridges send 0x05: 0x85 is refused.
 */
export function readConnectLevel(frame: Frame): ProtocolLevel {
  const bytes = frame.bytes;
  const reader = new Reader(bytes, fixedHeaderLength(bytes), bytes.length);
  const nameLength = reader.u16('protocol name length');
  reader.skip(nameLength, 'protocol name');
  const nameStart = reader.pos - nameLength;
  const byte = reader.u8('protocol level');
  const level = byte === (3 | BridgeBit) || byte === (4 | BridgeBit) ? byte & ~BridgeBit : byte;
  const hint = level === 3 || level === 4 || level === 5 ? { protocolLevel: level as ProtocolLevel } : undefined;
  // Latin-1 is enough to compare with 'MQTT' / 'MQIsdp' and to quote in the message.
  const name = String.fromCharCode(...bytes.subarray(nameStart, nameStart + Math.min(nameLength, 32)));
  if (name === 'MQIsdp' && level === 3) return 3;
  if (name === 'MQTT' && (level === 4 || level === 5)) return level;
  throw protocolError(`unsupported protocol name ${JSON.stringify(name)} with level ${byte}`, ReasonCode.UnsupportedProtocolVersion, hint);
}

/**
 * Checks one whole packet against the structure of its type at `level`.
 * Throws MqttError (MalformedPacket, or ProtocolError where the spec says so).
 */
export function validateFrame(frame: Frame, level: ProtocolLevel): UserPropertyPairs {
  collected = {};
  validateFrameStructure(frame, level);
  return collected;
}

/**
 * The User Properties of a packet as name/value pairs, in order, read from
 * the raw bytes: mqtt-packet folds them into a plain object, where a name
 * like "__proto__" would set the object's prototype and repeated pairs with
 * an empty value collapse. `main` is the packet's properties, `will` the Will
 * Properties of a CONNECT.
 */
export interface UserPropertyPairs {
  main?: Array<[string, string]>;
  will?: Array<[string, string]>;
}

let collected: UserPropertyPairs = {};

const utf8Decoder = new TextDecoder();

function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  return utf8Decoder.decode(bytes.subarray(start, end));
}

function validateFrameStructure(frame: Frame, level: ProtocolLevel): void {
  const bytes = frame.bytes;
  const start = fixedHeaderLength(bytes);
  const v5 = level === 5;
  switch (frame.type) {
    case PacketType.CONNECT:
      return validateConnect(new Reader(bytes, start, bytes.length, level), level);
    case PacketType.CONNACK: {
      const r = new Reader(bytes, start, bytes.length);
      // [MQTT-3.2.2-1] bits 7-1 of the acknowledge flags are reserved.
      if ((r.u8('connack flags') & 0xfe) !== 0) throw r.malformed('reserved connack flag bits set');
      r.u8(v5 ? 'reason code' : 'return code');
      if (v5) readProperties(r, PacketType.CONNACK);
      return r.done('CONNACK');
    }
    case PacketType.PUBLISH: {
      const r = new Reader(bytes, start, bytes.length);
      // The topic's content (empty, wildcards, aliases) is the broker's call; its encoding is ours.
      r.utf8('topic name');
      if ((frame.flags & 0b0110) !== 0) r.packetId('packet identifier');
      if (v5) readProperties(r, PacketType.PUBLISH);
      return;
    }
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP: {
      const r = new Reader(bytes, start, bytes.length);
      r.packetId('packet identifier');
      if (v5) {
        // 5.0: reason code and property length may be omitted (spec 3.4.2.1).
        if (r.remaining > 0) r.u8('reason code');
        if (r.remaining > 0) readProperties(r, frame.type);
      }
      return r.done('acknowledgement');
    }
    case PacketType.SUBSCRIBE: {
      const r = new Reader(bytes, start, bytes.length);
      r.packetId('packet identifier');
      if (v5) readProperties(r, PacketType.SUBSCRIBE);
      // [MQTT-3.8.3-3] at least one subscription.
      if (r.remaining === 0) throw r.protocol('SUBSCRIBE without any topic filter');
      while (r.remaining > 0) {
        r.utf8('topic filter');
        const options = r.u8('subscription options');
        if (v5) {
          // [MQTT-3.8.3-5] bits 7-6 are reserved.
          if ((options & 0xc0) !== 0) throw r.malformed('reserved subscription option bits set');
          if (((options >> 4) & 0x03) === 3) throw r.protocol('retain handling 3 is not allowed');
        } else if ((options & 0xfc) !== 0) {
          // [MQTT-3-8.3-4] bits 7-2 are reserved before 5.0.
          throw r.malformed('reserved subscription option bits set');
        }
        // 5.0 spec 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3"; 3.1.1 calls it malformed [MQTT-3.8.3-4].
        if ((options & 0x03) === 3) throw v5 ? r.protocol('subscription QoS 3') : r.malformed('subscription QoS 3');
      }
      return;
    }
    case PacketType.SUBACK: {
      const r = new Reader(bytes, start, bytes.length);
      r.packetId('packet identifier');
      if (v5) readProperties(r, PacketType.SUBACK);
      if (r.remaining === 0) throw r.malformed('SUBACK without any reason code');
      return;
    }
    case PacketType.UNSUBSCRIBE: {
      const r = new Reader(bytes, start, bytes.length);
      r.packetId('packet identifier');
      if (v5) readProperties(r, PacketType.UNSUBSCRIBE);
      // [MQTT-3.10.3-2] at least one topic filter.
      if (r.remaining === 0) throw r.protocol('UNSUBSCRIBE without any topic filter');
      while (r.remaining > 0) r.utf8('topic filter');
      return;
    }
    case PacketType.UNSUBACK: {
      const r = new Reader(bytes, start, bytes.length);
      r.packetId('packet identifier');
      if (!v5) return r.done('UNSUBACK');
      readProperties(r, PacketType.UNSUBACK);
      if (r.remaining === 0) throw r.malformed('UNSUBACK without any reason code');
      return;
    }
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return new Reader(bytes, start, bytes.length).done('fixed header');
    case PacketType.DISCONNECT:
    case PacketType.AUTH: {
      const r = new Reader(bytes, start, bytes.length);
      if (v5) {
        // 5.0: Remaining Length 0 means reason 0x00, and fewer than 2 bytes means no properties.
        if (r.remaining > 0) r.u8('reason code');
        if (r.remaining > 0) readProperties(r, frame.type);
      }
      return r.done(frame.type === PacketType.AUTH ? 'AUTH' : 'DISCONNECT');
    }
    default:
      throw malformedPacket(`unknown packet type ${frame.type}`);
  }
}

function validateConnect(r: Reader, level: ProtocolLevel): void {
  r.binary('protocol name'); // checked by readConnectLevel
  r.u8('protocol level');
  const flags = r.u8('connect flags');
  // [MQTT-3.1.2-3] the reserved flag must be 0.
  if ((flags & 0x01) !== 0) throw r.malformed('reserved connect flag set');
  const will = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  if (will) {
    // Will QoS 3 is not allowed: [MQTT-3.1.2-14] in 3.1.1, [MQTT-3.1.2-12] in 5.0.
    if (willQos === 3) throw r.malformed('will QoS 3');
  } else if (willQos !== 0 || willRetain) {
    // No will, so Will QoS and Will Retain must be 0: [MQTT-3.1.2-11] (3.1.1), [MQTT-3.1.2-11/13] (5.0).
    throw r.malformed('will QoS or will retain set without a will');
  }
  // [MQTT-3.1.2-22] before 5.0 a password needs a user name; 5.0 allows it alone.
  if (level !== 5 && hasPassword && !hasUsername) throw r.malformed('password flag set without user name flag');
  r.u16('keep alive');
  if (level === 5) readProperties(r, PacketType.CONNECT);
  r.utf8('client identifier');
  if (will) {
    if (level === 5) readProperties(r, WillContext);
    r.utf8('will topic');
    r.binary('will payload');
  }
  if (hasUsername) r.utf8('user name');
  if (hasPassword) r.binary('password');
  r.done('CONNECT payload');
}

/**
 * Walks a 5.0 property list: length, then identifier/value pairs. Rejects
 * identifiers not allowed in `context` (malformed, spec 2.2.2.2), values that
 * overrun the list (malformed), duplicates (protocol error, [MQTT-2.2.2] /
 * "It is a Protocol Error to include X more than once") and illegal values
 * (protocol error, e.g. Receive Maximum 0, Payload Format Indicator 2).
 */
function readProperties(r: Reader, context: number): void {
  const length = r.vbi('property length');
  if (length > r.remaining) throw r.malformed('property length exceeds the packet');
  const listEnd = r.pos + length;
  const list = new Reader(r.bytes, r.pos, listEnd, r.connectLevel);
  let seenLow = 0;
  let seenHigh = 0;
  while (list.remaining > 0) {
    const id = list.u8('property identifier');
    const spec = Properties[id];
    if (spec === undefined) throw list.malformed(`unknown property identifier 0x${id.toString(16)}`);
    if ((spec.contexts & (1 << context)) === 0) {
      const where = context === WillContext ? 'will properties' : `packet type ${context}`;
      throw list.malformed(`property ${spec.name} is not allowed in ${where}`);
    }
    if (!isRepeatable(id, context)) {
      const mask = 1 << (id & 31);
      const seen = id < 32 ? seenLow : seenHigh;
      if ((seen & mask) !== 0) throw list.protocol(`property ${spec.name} included more than once`);
      if (id < 32) seenLow |= mask;
      else seenHigh |= mask;
    }
    let value = -1;
    switch (spec.type) {
      case 'byte':
        value = list.u8(spec.name);
        break;
      case 'u16':
        value = list.u16(spec.name);
        break;
      case 'u32':
        value = list.u32(spec.name);
        break;
      case 'vbi':
        value = list.vbi(spec.name);
        break;
      case 'utf8':
        list.utf8(spec.name);
        break;
      case 'binary':
        list.binary(spec.name);
        break;
      case 'pair': {
        const nameStart = list.utf8(`${spec.name} name`);
        const nameEnd = list.pos;
        const valueStart = list.utf8(`${spec.name} value`);
        const pairs = context === WillContext ? (collected.will ??= []) : (collected.main ??= []);
        pairs.push([decodeUtf8(list.bytes, nameStart, nameEnd), decodeUtf8(list.bytes, valueStart, list.pos)]);
        break;
      }
    }
    if (spec.boolean === true && value > 1) throw list.protocol(`property ${spec.name} must be 0 or 1, got ${value}`);
    if (spec.nonZero === true && value === 0) throw list.protocol(`property ${spec.name} must not be 0`, spec.zeroReason);
  }
  r.pos = listEnd;
}
