/**
 * Packet types. The packet objects are mqtt-packet's, under our names, so the
 * rest of the broker never imports mqtt-packet directly.
 */
import type { IConnectPacket, Packet } from 'mqtt-packet';

export type {
  PacketCmd,
  IConnackPacket as ConnackPacket,
  IPublishPacket as PublishPacket,
  IPubackPacket as PubackPacket,
  IPubrecPacket as PubrecPacket,
  IPubrelPacket as PubrelPacket,
  IPubcompPacket as PubcompPacket,
  ISubscribePacket as SubscribePacket,
  ISubscription as Subscription,
  ISubackPacket as SubackPacket,
  IUnsubscribePacket as UnsubscribePacket,
  IUnsubackPacket as UnsubackPacket,
  IPingreqPacket as PingreqPacket,
  IPingrespPacket as PingrespPacket,
  IDisconnectPacket as DisconnectPacket,
  IAuthPacket as AuthPacket,
} from 'mqtt-packet';
export type { ProtocolLevel, QoS, UserProperties } from './basic-types.ts';

/**
 * A CONNECT. `bridgeMode`: its Protocol Level has the bridge bit (0x83 /
 * 0x84, validate.ts), the level itself is in `protocolVersion`; mqtt-packet
 * reads and writes the field but leaves it out of its types.
 */
export type ConnectPacket = IConnectPacket & { bridgeMode?: boolean };

/** Any packet, the CONNECT with the field mqtt-packet's types leave out. */
export type MqttPacket = Exclude<Packet, IConnectPacket> | ConnectPacket;

/** Control packet types, the high nibble of the first byte (spec 2.1.2). */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;

export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/**
 * The largest packet MQTT can express: Remaining Length tops out at
 * 268,435,455 (four Variable Byte Integer bytes), plus 1 type byte and 4 length bytes.
 */
export const MaxPacketSizeLimit = 268_435_460;
