/**
 * Inbound PUBLISH (QoS 0/1/2) and PUBREL: resolve topic aliases, validate,
 * route, acknowledge. QoS 2 is exactly-once: the packet id is remembered
 * until PUBREL, and a resent PUBLISH with that id is not routed again.
 */
import type { PublishPacket, PubrelPacket } from '../../shared/codec/types.ts';
import { MqttError } from '../../shared/errors.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { validateTopicName } from '../../shared/topic.ts';
import type { BrokerCore } from '../core/broker.ts';
import type { ClientLink } from '../core/link.ts';
import { toBytes, type BrokerMessage } from '../core/message.ts';
import { passThroughProperties } from './connect.ts';

export async function handlePublish(broker: BrokerCore, link: ClientLink, packet: PublishPacket): Promise<void> {
  const clientId = link.state.clientId as string;
  const topic = resolveTopic(broker, link, packet);
  checkTopic(broker, topic);
  const properties = packet.properties ?? {};
  const payload = toBytes(packet.payload);

  const message: BrokerMessage = { topic, payload, qos: packet.qos, retain: packet.retain, senderClientId: clientId };
  const passOn = passThroughProperties(properties);
  if (passOn !== undefined) message.properties = passOn;
  if (properties.messageExpiryInterval !== undefined) message.expiresAt = broker.now() + properties.messageExpiryInterval * 1000;

  if (packet.qos === 0) {
    broker.route(message);
    return;
  }
  const packetId = packet.messageId as number;
  if (packet.qos === 1) {
    broker.route(message);
    link.write({ cmd: 'puback', messageId: packetId });
  } else {
    // [MQTT-4.3.3-10] route once; a duplicate PUBLISH before PUBREL is only acknowledged again.
    if (broker.store.rememberInboundQoS2(clientId, packetId)) broker.route(message);
    link.write({ cmd: 'pubrec', messageId: packetId });
  }
  broker.markDirty(link);
}

export function handlePubrel(broker: BrokerCore, link: ClientLink, packet: PubrelPacket): void {
  const clientId = link.state.clientId as string;
  const packetId = packet.messageId as number;
  const known = broker.store.releaseInboundQoS2(clientId, packetId);
  if (link.isV5 && !known) link.write({ cmd: 'pubcomp', messageId: packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
  else link.write({ cmd: 'pubcomp', messageId: packetId });
  broker.markDirty(link);
}

/** Resolves a 5.0 Topic Alias [MQTT-3.3.2-12]; records a new alias mapping. */
function resolveTopic(broker: BrokerCore, link: ClientLink, packet: PublishPacket): string {
  const alias = packet.properties?.topicAlias;
  if (alias === undefined) {
    if (packet.topic.length === 0) throw new MqttError('Protocol', ReasonCode.ProtocolError, 'empty topic without a topic alias');
    return packet.topic;
  }
  if (!link.isV5 || alias === 0 || alias > broker.limits.topicAliasMaximum) {
    throw new MqttError('Protocol', ReasonCode.TopicAliasInvalid, `topic alias ${alias} is outside 1..${broker.limits.topicAliasMaximum}`);
  }
  if (link.topicAliases === undefined) {
    link.topicAliases = link.state.hasTopicAliases === true ? broker.store.loadTopicAliases(link.id) : new Map();
  }
  if (packet.topic.length > 0) {
    if (link.topicAliases.get(alias) !== packet.topic) {
      link.topicAliases.set(alias, packet.topic);
      broker.store.saveTopicAlias(link.id, alias, packet.topic);
      if (link.state.hasTopicAliases !== true) {
        link.state.hasTopicAliases = true;
        link.persist();
      }
    }
    return packet.topic;
  }
  const topic = link.topicAliases.get(alias);
  if (topic === undefined) throw new MqttError('Protocol', ReasonCode.ProtocolError, `topic alias ${alias} was never set`);
  return topic;
}

function checkTopic(broker: BrokerCore, topic: string): void {
  // [MQTT-3.3.2-2] no wildcards in a topic name.
  if (!validateTopicName(topic)) throw new MqttError('Protocol', ReasonCode.TopicNameInvalid, `invalid topic name "${topic.slice(0, 64)}"`);
  const limits = broker.limits;
  if (topic.length > limits.maxTopicLength || topic.split('/').length > limits.maxTopicLevels) {
    throw new MqttError('Limit', ReasonCode.TopicNameInvalid, 'topic name exceeds the length or level limit');
  }
}
