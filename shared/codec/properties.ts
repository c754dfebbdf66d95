/**
 * MQTT 5 properties (spec 2.2.2): which identifier is allowed in which packet,
 * the type of its value, and which values are a Protocol Error. mqtt-packet
 * accepts any known identifier anywhere, keeps only the last of duplicates
 * and turns Byte properties into booleans (so 2 reads as true); the codec
 * checks the raw bytes with this table before letting it parse.
 */
import { ReasonCode } from '../reason-codes.ts';
import { PacketType } from './types.ts';

/** The Will Properties of a CONNECT are a context of their own; type 0 is free for it. */
export const WillContext = 0;

type ValueType = 'byte' | 'u16' | 'u32' | 'vbi' | 'utf8' | 'binary' | 'pair';

export interface PropertySpec {
  name: string;
  type: ValueType;
  /** Bit n set = allowed in packet type n (bit 0: Will Properties). */
  contexts: number;
  /** Byte properties whose only legal values are 0 and 1. */
  boolean?: true;
  /** Integer properties for which 0 is a Protocol Error. */
  nonZero?: true;
  /** The reason code when 0 is given, if more precise than Protocol Error. */
  zeroReason?: ReasonCode;
}

const bit = (type: number): number => 1 << type;
const Will = bit(WillContext);
const Connect = bit(PacketType.CONNECT);
const Connack = bit(PacketType.CONNACK);
const Publish = bit(PacketType.PUBLISH);
const Subscribe = bit(PacketType.SUBSCRIBE);
const Disconnect = bit(PacketType.DISCONNECT);
const Auth = bit(PacketType.AUTH);
const Acks = bit(PacketType.PUBACK) | bit(PacketType.PUBREC) | bit(PacketType.PUBREL) | bit(PacketType.PUBCOMP);
const AllPackets = 0xfffe | Will;

/** Indexed by property identifier (spec table 2.4). */
export const Properties: ReadonlyArray<PropertySpec | undefined> = (() => {
  const table: Array<PropertySpec | undefined> = [];
  const add = (id: number, spec: PropertySpec): void => {
    table[id] = spec;
  };
  add(0x01, { name: 'Payload Format Indicator', type: 'byte', contexts: Publish | Will, boolean: true });
  add(0x02, { name: 'Message Expiry Interval', type: 'u32', contexts: Publish | Will });
  add(0x03, { name: 'Content Type', type: 'utf8', contexts: Publish | Will });
  add(0x08, { name: 'Response Topic', type: 'utf8', contexts: Publish | Will });
  add(0x09, { name: 'Correlation Data', type: 'binary', contexts: Publish | Will });
  add(0x0b, { name: 'Subscription Identifier', type: 'vbi', contexts: Publish | Subscribe, nonZero: true });
  add(0x11, { name: 'Session Expiry Interval', type: 'u32', contexts: Connect | Connack | Disconnect });
  add(0x12, { name: 'Assigned Client Identifier', type: 'utf8', contexts: Connack });
  add(0x13, { name: 'Server Keep Alive', type: 'u16', contexts: Connack });
  add(0x15, { name: 'Authentication Method', type: 'utf8', contexts: Connect | Connack | Auth });
  add(0x16, { name: 'Authentication Data', type: 'binary', contexts: Connect | Connack | Auth });
  add(0x17, { name: 'Request Problem Information', type: 'byte', contexts: Connect, boolean: true });
  add(0x18, { name: 'Will Delay Interval', type: 'u32', contexts: Will });
  add(0x19, { name: 'Request Response Information', type: 'byte', contexts: Connect, boolean: true });
  add(0x1a, { name: 'Response Information', type: 'utf8', contexts: Connack });
  add(0x1c, { name: 'Server Reference', type: 'utf8', contexts: Connack | Disconnect });
  add(0x1f, {
    name: 'Reason String',
    type: 'utf8',
    contexts: Connack | Acks | bit(PacketType.SUBACK) | bit(PacketType.UNSUBACK) | Disconnect | Auth,
  });
  add(0x21, { name: 'Receive Maximum', type: 'u16', contexts: Connect | Connack, nonZero: true });
  add(0x22, { name: 'Topic Alias Maximum', type: 'u16', contexts: Connect | Connack });
  // [MQTT-3.3.2-8] Topic Alias 0 is "Topic Alias invalid".
  add(0x23, { name: 'Topic Alias', type: 'u16', contexts: Publish, nonZero: true, zeroReason: ReasonCode.TopicAliasInvalid });
  add(0x24, { name: 'Maximum QoS', type: 'byte', contexts: Connack, boolean: true });
  add(0x25, { name: 'Retain Available', type: 'byte', contexts: Connack, boolean: true });
  add(0x26, { name: 'User Property', type: 'pair', contexts: AllPackets });
  add(0x27, { name: 'Maximum Packet Size', type: 'u32', contexts: Connect | Connack, nonZero: true });
  add(0x28, { name: 'Wildcard Subscription Available', type: 'byte', contexts: Connack, boolean: true });
  add(0x29, { name: 'Subscription Identifier Available', type: 'byte', contexts: Connack, boolean: true });
  add(0x2a, { name: 'Shared Subscription Available', type: 'byte', contexts: Connack, boolean: true });
  return table;
})();

export const UserPropertyId = 0x26;
export const SubscriptionIdentifierId = 0x0b;

/**
 * May `id` appear more than once in `context`? User Property always; the
 * Subscription Identifier in a PUBLISH, where the server lists one per
 * matching subscription (spec 3.3.2.3.8). Everything else: once [MQTT-2.2.2].
 */
export function isRepeatable(id: number, context: number): boolean {
  return id === UserPropertyId || (id === SubscriptionIdentifierId && context === PacketType.PUBLISH);
}
