/**
 * One direction of a bridge: messages that arrive on the source client are
 * published on the destination client, renamed on the way.
 *
 * QoS 1 and 2 are held: the source's PUBACK (QoS 1) or PUBREC (QoS 2) is
 * sent only once the destination acknowledged the copy (its PUBACK, or
 * PUBCOMP), so a message the source broker considers delivered is always
 * with the destination broker. A crash or disconnect in between leaves it
 * unacknowledged at the source, which sends it again when the bridge is
 * back (it may then arrive twice; nothing is lost).
 *
 * MQTT.js calls `customHandleAcks` for every QoS 1/2 PUBLISH before it
 * writes the acknowledgement: there the relay asks the connection's
 * AckGate to hold that acknowledgement, starts the copy, and lets MQTT.js
 * go on; the gate lets the bytes out when the copy is acknowledged. While
 * the destination is down, held messages pile up only to the source
 * broker's in-flight window (mosquitto's max_inflight_messages, the edge's
 * MQTT_MAX_INFLIGHT); the rest waits in that broker's queue.
 *
 * QoS 0 is never held: forwarded at once, or dropped while the destination
 * is down (queueQoSZero is off), as QoS 0 may be.
 *
 * A source that sends faster than the destination takes (a remote broker
 * flooding QoS 0 toward the edge, whose link gives the bridge only its
 * channel's credit) is not read while the destination's stream is backed
 * up: its messages wait in its own socket and TCP slows it, instead of
 * piling up in the sidecar or taking the link from the devices.
 */
import { ErrorWithReasonCode, type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { generate } from 'mqtt-packet';
import { ReasonCode } from '../../shared/reason-codes.ts';
import type { ReleaseAcknowledgement } from './ack-gate.ts';
import type { BridgeQoS } from './config.ts';

export interface RelayEvents {
  /** The destination answered the copy with an error reason code; the source is acknowledged (it cannot be delivered). */
  refused(topic: string, qos: BridgeQoS, reasonCode: number): void;
  /** Renaming left no topic: the message is acknowledged and dropped. */
  unmappable(topic: string): void;
  /** A copy reached the destination (acknowledged by it; QoS 0: written). */
  forwarded?(): void;
}

/** A client whose acknowledgements can be held, and whose reading can be (its streams go through an AckGate). */
export interface GatedClient {
  client: MqttClient;
  holdAcknowledgement(packetId: number): ReleaseAcknowledgement;
  holdReading(held: boolean): void;
}

export interface RelayEnds {
  source: GatedClient;
  destination: MqttClient;
  /** The topic on the destination; undefined drops the message. */
  rename(topic: string): string | undefined;
  /** Both sides speak MQTT 5, so the message's properties can cross with it. */
  keepProperties: boolean;
  /** Largest packet to send the destination (bridge_max_packet_size); its CONNACK may announce a smaller one. */
  maxPacketSize?: number;
  events: RelayEvents;
}

/** The reason code of a plain acknowledgement (3.x acknowledgements carry none; MQTT.js accepts 0 for both). */
const MqttSuccess = 0;

/**
 * Wires one direction. Call before the source connects, so no message can
 * arrive without being held.
 *
 * @example
 * relayMessages({ source: remote, destination: local.client, rename: (t) => map.rename('in', t), keepProperties: true, events });
 */
export function relayMessages(ends: RelayEnds): void {
  const { source } = ends;
  // A copy larger than the destination takes would get the bridge disconnected
  // [MQTT-3.2.2-15], then sent again and again after each reconnect: such a
  // message is refused here instead. The limit is remembered across the
  // destination's reconnects, since copies made while it is down are sent
  // when it is back.
  const limit = { bytes: ends.maxPacketSize };
  ends.destination.on('connect', (connack) => {
    const announced = connack.properties?.maximumPacketSize;
    limit.bytes = announced === undefined ? ends.maxPacketSize : Math.min(announced, ends.maxPacketSize ?? announced);
  });
  const throttle = throttleSource(ends);
  const forward = (topic: string, packet: IPublishPacket, settled: (acknowledge: boolean) => void): void => {
    forwardCopy(ends, limit.bytes, topic, packet, settled);
    throttle();
  };

  // MQTT.js installs customHandleAcks only for MQTT 5 clients but reads the
  // option each time a QoS 1/2 PUBLISH arrives: set here, 3.1 and 3.1.1
  // sources are held the same way.
  source.client.options.customHandleAcks = (topic, _payload, packet: IPublishPacket, answer) => {
    const release = source.holdAcknowledgement(packet.messageId as number);
    forward(topic, packet, (acknowledge) => {
      // Not acknowledging leaves the message with the source broker, which sends it again.
      if (acknowledge) release();
    });
    // MQTT.js writes the acknowledgement now; the gate keeps it until `release`.
    answer(MqttSuccess);
  };
  source.client.on('message', (topic, _payload, packet) => {
    // QoS 1/2 went through customHandleAcks; QoS 0 has nothing to acknowledge.
    if (packet.qos === 0) forward(topic, packet, () => undefined);
  });
}

/**
 * After each copy: if the destination's stream is backed up, the source is
 * not read until it has drained (or is gone: a new connection starts afresh).
 */
function throttleSource(ends: RelayEnds): () => void {
  let held = false;
  return () => {
    const stream = ends.destination.stream as (NodeJS.WritableStream & { writableNeedDrain?: boolean; destroyed?: boolean }) | undefined;
    if (held || stream === undefined || stream.writableNeedDrain !== true) return;
    held = true;
    ends.source.holdReading(true);
    const release = (): void => {
      stream.removeListener('drain', release);
      stream.removeListener('close', release);
      held = false;
      ends.source.holdReading(false);
    };
    stream.once('drain', release);
    stream.once('close', release);
  };
}

/** Publishes the copy; `settled(true)` once the source may be acknowledged, `settled(false)` when it must not be. */
function forwardCopy(ends: RelayEnds, maxPacketSize: number | undefined, topic: string, packet: IPublishPacket, settled: (acknowledge: boolean) => void): void {
  const renamed = ends.rename(topic);
  if (renamed === undefined) {
    ends.events.unmappable(topic);
    settled(true);
    return;
  }
  const qos = packet.qos as BridgeQoS;
  const options: IClientPublishOptions = { qos, retain: packet.retain };
  const properties = ends.keepProperties ? forwardableProperties(packet.properties) : undefined;
  if (properties !== undefined) options.properties = properties;
  const payload = packet.payload as Buffer;
  if (maxPacketSize !== undefined && publishSize(renamed, payload.length, qos, properties, ends.destination.options.protocolVersion ?? 4) > maxPacketSize) {
    ends.events.refused(renamed, qos, ReasonCode.PacketTooLarge);
    settled(true);
    return;
  }
  ends.destination.publish(renamed, payload, options, (error) => {
    if (error === undefined || error === null) {
      ends.events.forwarded?.();
      return settled(true);
    }
    if (error instanceof ErrorWithReasonCode) {
      // The destination broker looked at the message and said no (not
      // authorized, quota, ...): it will never take it, so let the source go.
      ends.events.refused(renamed, qos, error.code);
      return settled(true);
    }
    // Not delivered (the destination client is closing): leave the source
    // unacknowledged, so its broker sends the message again.
    settled(false);
  });
}

/** What a 5.0 PUBLISH carries end to end; the alias and subscription ids belong to one connection. */
function forwardableProperties(properties: IPublishPacket['properties']): IClientPublishOptions['properties'] | undefined {
  if (properties === undefined) return undefined;
  const { topicAlias: _alias, subscriptionIdentifier: _ids, ...endToEnd } = properties;
  return Object.keys(endToEnd).length === 0 ? undefined : endToEnd;
}

/** Bytes of the PUBLISH the destination would get, fixed header included; the payload is counted, not copied. */
export function publishSize(topic: string, payloadLength: number, qos: BridgeQoS, properties: IClientPublishOptions['properties'], protocolVersion: number): number {
  const withoutPayload = generate(
    { cmd: 'publish', topic, payload: Buffer.alloc(0), qos, retain: false, dup: false, ...(qos > 0 ? { messageId: 1 } : {}), ...(properties === undefined ? {} : { properties }) },
    { protocolVersion: protocolVersion === 5 ? 5 : 4 },
  );
  let lengthBytes = 1;
  while (((withoutPayload[lengthBytes] as number) & 0x80) !== 0) lengthBytes++;
  const remaining = withoutPayload.length - 1 - lengthBytes + payloadLength;
  return 1 + variableByteIntegerLength(remaining) + remaining;
}

function variableByteIntegerLength(value: number): number {
  return value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;
}
