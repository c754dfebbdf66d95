/**
 * What a device does, logged at the sidecar when MQTT_LOG_EVENTS asks for
 * it (shared/log-events.ts), in the shape the edge logs the same events:
 * `client.subscribed` and `client.unsubscribed` per filter and
 * `message.published` per PUBLISH from the device, `message.delivered` per
 * PUBLISH to it. The bridge itself only frames packets; the decoding here
 * happens only for the events asked for. What the sidecar cannot know (the
 * edge's answer to a SUBSCRIBE or a PUBLISH) is null, as in every
 * connection event.
 */
import { PacketDecoder } from '../shared/codec/decoder.ts';
import type { Frame } from '../shared/codec/framer.ts';
import { MaxPacketSizeLimit, PacketType, type MqttPacket, type ProtocolLevel } from '../shared/codec/types.ts';
import type { ClientEvent, ConnectionFacts } from '../shared/connection-log.ts';
import type { LogEventName } from '../shared/log-events.ts';

export type EmitClientEvent = (event: ClientEvent, facts: ConnectionFacts) => void;

/** Packet types of the device's side worth decoding for `events`. */
function deviceTypes(events: ReadonlySet<LogEventName>): ReadonlySet<number> {
  const types = new Set<number>();
  if (events.has('subscribe')) types.add(PacketType.SUBSCRIBE);
  if (events.has('unsubscribe')) types.add(PacketType.UNSUBSCRIBE);
  if (events.has('publish')) types.add(PacketType.PUBLISH);
  return types;
}

export class ClientEventLog {
  private readonly fromDeviceTypes: ReadonlySet<number>;
  private readonly toDevice: boolean;
  private deviceDecoder: PacketDecoder | undefined;
  private edgeDecoder: PacketDecoder | undefined;

  constructor(
    events: ReadonlySet<LogEventName>,
    private readonly emit: EmitClientEvent,
  ) {
    this.fromDeviceTypes = deviceTypes(events);
    this.toDevice = events.has('deliver');
  }

  /** Whether anything is to be logged at all (the bridge skips the calls otherwise). */
  get active(): boolean {
    return this.fromDeviceTypes.size > 0 || this.toDevice;
  }

  /** A whole packet from the device, on its way to the edge. */
  fromDevice(frame: Frame, level: ProtocolLevel): void {
    if (!this.fromDeviceTypes.has(frame.type)) return;
    this.deviceDecoder ??= new PacketDecoder({ maxPacketSize: MaxPacketSizeLimit, protocolLevel: level });
    for (const packet of this.deviceDecoder.push(frame.bytes).packets) this.describeFromDevice(packet);
  }

  /** Whole packets from the edge, on their way to the device (after its CONNACK). */
  fromEdge(bytes: Uint8Array, level: ProtocolLevel): void {
    if (!this.toDevice) return;
    this.edgeDecoder ??= new PacketDecoder({ maxPacketSize: MaxPacketSizeLimit, protocolLevel: level });
    for (const packet of this.edgeDecoder.push(bytes).packets) {
      if (packet.cmd === 'publish') this.emit('message.delivered', { topic: packet.topic, qos: packet.qos, retain: packet.retain, bytes: packet.payload.length });
    }
  }

  private describeFromDevice(packet: MqttPacket): void {
    switch (packet.cmd) {
      case 'subscribe':
        for (const request of packet.subscriptions) this.emit('client.subscribed', { filter: request.topic, qos: request.qos });
        return;
      case 'unsubscribe':
        for (const filter of packet.unsubscriptions) this.emit('client.unsubscribed', { filter });
        return;
      case 'publish':
        this.emit('message.published', { topic: packet.topic, qos: packet.qos, retain: packet.retain, bytes: packet.payload.length });
        return;
      default:
        return;
    }
  }
}
