/**
 * Inbound PUBLISH (QoS 0/1/2) and PUBREL: resolve topic aliases, validate,
 * route, acknowledge. QoS 2 is exactly-once: the packet id is remembered
 * until PUBREL, and a resent PUBLISH with that id is not routed again.
 */
import type { PublishPacket, PubrelPacket } from '../../shared/codec/types.ts';
import { MqttError } from '../../shared/errors.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { validateTopicName } from '../../shared/topic.ts';
import { isReservedTopicName } from '../core/access.ts';
import { topicOverLimits } from '../core/limits.ts';
import type { ClientLink } from '../core/link.ts';
import type { ProtocolContext } from './context.ts';
import { toBytes, type BrokerMessage } from '../core/message.ts';
import { passThroughProperties } from './connect.ts';
import { normalizePublishDecision } from '../core/hooks.ts';

export async function handlePublish(ctx: ProtocolContext, link: ClientLink, packet: PublishPacket): Promise<void> {
  const clientId = link.state.clientId as string;
  // [MQTT-3.3.1-2] DUP must be 0 for QoS 0.
  if (packet.qos === 0 && packet.dup) throw new MqttError('MalformedPacket', ReasonCode.MalformedPacket, 'DUP set on a QoS 0 PUBLISH');
  const topic = resolveTopic(ctx, link, packet);
  checkTopic(ctx, topic);
  checkTerms(ctx, link, packet);
  const properties = packet.properties ?? {};
  // [MQTT-3.3.2-14] forwarded, it would break the rule in the server's own PUBLISH (docs/conformance-decisions.md).
  if (properties.responseTopic !== undefined && /[+#]/.test(properties.responseTopic)) throw new MqttError('Protocol', ReasonCode.ProtocolError, 'wildcard in the Response Topic');
  // [MQTT-3.3.4-6] a client must not send a Subscription Identifier.
  if (properties.subscriptionIdentifier !== undefined) throw new MqttError('Protocol', ReasonCode.ProtocolError, 'Subscription Identifier in a PUBLISH from a client');
  const payload = toBytes(packet.payload);
  if (properties.payloadFormatIndicator === true && !isUtf8(payload)) {
    // [MQTT-3.3.2-4] the payload says it is UTF-8 and is not.
    if (packet.qos === 0) throw new MqttError('Protocol', ReasonCode.PayloadFormatInvalid, 'payload is not valid UTF-8 (Payload Format Indicator 1)');
    link.write({ cmd: packet.qos === 1 ? 'puback' : 'pubrec', messageId: packet.messageId as number, reasonCode: ReasonCode.PayloadFormatInvalid });
    ctx.markDirty(link);
    return;
  }

  const message: BrokerMessage = { topic, payload, qos: packet.qos, retain: packet.retain, senderClientId: clientId };
  const passOn = passThroughProperties(properties);
  if (passOn !== undefined) message.properties = passOn;
  if (properties.messageExpiryInterval !== undefined) message.expiresAt = ctx.now() + properties.messageExpiryInterval * 1000;

  if (packet.qos === 2) {
    // [MQTT-4.3.3-10] route once; a duplicate PUBLISH before PUBREL is only acknowledged again.
    const packetId = packet.messageId as number;
    // [MQTT-3.3.4-9] 5.0: more unacknowledged QoS 2 PUBLISH than the Receive Maximum we announced. A 3.x client
    // has no such number, yet each id it leaves without PUBREL is kept: held to a bound of its own, and closed
    // over it as a 5.0 client is (mosquitto refuses PUBLISH over its in-flight and queue bounds: 3.x cannot be
    // told, so it drops the message behind a PUBREC, and a QoS 2 publisher would believe it delivered).
    const max = link.isV5 ? ctx.termsOf(link).receiveMaximum : ctx.limits.maxAwaitingPubrel;
    if (ctx.store.countInboundQoS2(clientId) >= max && !ctx.store.hasInboundQoS2(clientId, packetId)) {
      throw new MqttError(link.isV5 ? 'Protocol' : 'Limit', ReasonCode.ReceiveMaximumExceeded, `more than ${max} QoS 2 messages awaiting PUBREL`);
    }
    if (!ctx.store.rememberInboundQoS2(clientId, packetId)) {
      link.write({ cmd: 'pubrec', messageId: packetId });
      ctx.markDirty(link);
      return;
    }
  }
  if (packet.qos === 0 && ctx.slows(link)) {
    // Over its share while the namespace is behind: QoS 0 has no acknowledgement to hold, and nothing else slows its sender.
    ctx.dropSlowed(link);
    return;
  }
  // Publish rates (MQTT_MAX_PUBLISH_RATE, MQTT_NAMESPACE_PUBLISH_RATE): QoS 1/2 waits its turn, QoS 0 over them is dropped.
  const admitted = ctx.admitPublish(link, packet.qos);
  if (!(admitted === true || (admitted !== false && (await admitted)))) return;
  if (link.closed) return;
  const refusal = await askPublishHook(ctx, link, message, properties.messageExpiryInterval);
  const reached = refusal === undefined ? await ctx.publish(message) : false;
  if (refusal !== undefined) ctx.metrics.add('publishDropped');
  if (ctx.connectionLog.wants('publish')) {
    ctx.connectionLog.event('info', 'message.published', link.state, { topic, qos: packet.qos, retain: packet.retain, bytes: payload.byteLength, code: refusal ?? ReasonCode.Success });
  }
  if (packet.qos === 0) return;
  const ack = { cmd: packet.qos === 1 ? 'puback' : 'pubrec', messageId: packet.messageId as number } as const;
  // 3.x cannot tell the publisher; the message is dropped and acknowledged as usual. 5.0 may hear that nobody took it
  // (3.4.2.1: 0x10 No matching subscribers, neither a subscriber nor a rule). Held while the client is over its share.
  const reasonCode = refusal ?? (reached ? undefined : ReasonCode.NoMatchingSubscribers);
  ctx.acknowledge(link, link.isV5 && reasonCode !== undefined ? { ...ack, reasonCode } : ack);
}

/**
 * [MQTT-3.2.2-11] [MQTT-3.2.2-14] a QoS above the Maximum QoS, or a retained
 * message where Retain Available is 0, is a protocol error: DISCONNECT 0x9B /
 * 0x9A (3.x: the connection is closed, as mosquitto's max_qos and
 * retain_available do).
 */
function checkTerms(ctx: ProtocolContext, link: ClientLink, packet: PublishPacket): void {
  const terms = ctx.termsOf(link);
  if (packet.qos > terms.maximumQos) throw new MqttError('Protocol', ReasonCode.QoSNotSupported, `QoS ${packet.qos} is above the maximum QoS ${terms.maximumQos}`);
  if (packet.retain && !terms.retainAvailable) throw new MqttError('Protocol', ReasonCode.RetainNotSupported, 'retained messages are not available');
}

/** The onPublish hook: undefined to go ahead, or the reason code of the refusal. */
async function askPublishHook(ctx: ProtocolContext, link: ClientLink, message: BrokerMessage, expiryInterval: number | undefined): Promise<number | undefined> {
  if (isReservedTopicName(message.topic, link.state.clientId as string)) {
    // The $SYS tree is the broker's own (read-only for clients, but for a bridge's state), and $share/ is a filter prefix, not a topic.
    ctx.log.log('info', 'publish_refused', { client: link.state.clientId, topic: message.topic, by: 'reserved' });
    return ReasonCode.NotAuthorized;
  }
  if (!ctx.accessOf(link).mayWrite(message.topic)) {
    ctx.log.log('info', 'publish_refused', { client: link.state.clientId, topic: message.topic, by: 'access' });
    return ReasonCode.NotAuthorized;
  }
  const onPublish = ctx.hooks.onPublish;
  if (onPublish === undefined) return undefined;
  const context = {
    ...ctx.clientInfo(link),
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: message.retain,
    ...(link.isV5 ? { properties: { ...message.properties, ...(expiryInterval === undefined ? {} : { messageExpiryInterval: expiryInterval }) } } : {}),
  };
  const outcome = await ctx.runHook('onPublish', context.clientId, () => onPublish(context));
  if (!outcome.ok) return ReasonCode.UnspecifiedError;
  const decision = normalizePublishDecision(outcome.value);
  if (decision.allow) return undefined;
  ctx.log.log('info', 'publish_refused', { client: context.clientId, topic: message.topic });
  return decision.reasonCode ?? ReasonCode.NotAuthorized;
}

/**
 * PUBREL: the message is released and PUBCOMP answers [MQTT-4.3.3-11]. An
 * id the session does not hold was released already: a client resends its
 * PUBREL after a reconnect when the PUBCOMP was lost with the connection
 * (the PUBLISH, if it had not arrived, would have been resent instead). The
 * answer is then PUBCOMP Success, as mosquitto gives: 5.0's 0x92 "is not an
 * error during recovery" (3.7.2.1), yet MQTT.js fails the publish on it, and
 * the application would send again a message delivered exactly once.
 */
export function handlePubrel(ctx: ProtocolContext, link: ClientLink, packet: PubrelPacket): void {
  const clientId = link.state.clientId as string;
  const packetId = packet.messageId as number;
  ctx.store.releaseInboundQoS2(clientId, packetId);
  link.write({ cmd: 'pubcomp', messageId: packetId });
  ctx.markDirty(link);
}

/** Resolves a 5.0 Topic Alias [MQTT-3.3.2-12]; records a new alias mapping. */
function resolveTopic(ctx: ProtocolContext, link: ClientLink, packet: PublishPacket): string {
  const alias = packet.properties?.topicAlias;
  if (alias === undefined) {
    if (packet.topic.length === 0) throw new MqttError('Protocol', ReasonCode.ProtocolError, 'empty topic without a topic alias');
    return packet.topic;
  }
  const maximum = ctx.termsOf(link).topicAliasMaximum;
  if (!link.isV5 || alias === 0 || alias > maximum) {
    throw new MqttError('Protocol', ReasonCode.TopicAliasInvalid, `topic alias ${alias} is outside 1..${maximum}`);
  }
  if (link.topicAliases === undefined) {
    link.topicAliases = link.state.hasTopicAliases === true ? ctx.store.loadTopicAliases(link.id) : new Map();
  }
  if (packet.topic.length > 0) {
    if (link.topicAliases.get(alias) !== packet.topic) {
      link.topicAliases.set(alias, packet.topic);
      ctx.store.saveTopicAlias(link.id, alias, packet.topic);
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

function checkTopic(ctx: ProtocolContext, topic: string): void {
  // [MQTT-3.3.2-2] no wildcards in a topic name.
  if (!validateTopicName(topic)) throw new MqttError('Protocol', ReasonCode.TopicNameInvalid, `invalid topic name "${topic.slice(0, 64)}"`);
  const over = topicOverLimits(topic, ctx.limits);
  if (over !== undefined) throw new MqttError('Limit', ReasonCode.TopicNameInvalid, over);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
