/** The MQTT codec: framing, decoding, encoding and packet types. */
export { PacketFramer, type Frame, type FramerResult, type PacketFramerOptions } from './framer.ts';
export { PacketDecoder, decodeAll, type DecodeResult, type PacketDecoderOptions } from './decoder.ts';
export { encodePacket } from './encoder.ts';
export { isValidMqttUtf8 } from './utf8.ts';
export { MaxPacketSizeLimit, PacketType } from './types.ts';
export type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  MqttPacket,
  PacketCmd,
  PingreqPacket,
  PingrespPacket,
  ProtocolLevel,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  UserProperties,
} from './types.ts';
