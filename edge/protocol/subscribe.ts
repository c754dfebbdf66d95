/**
 * SUBSCRIBE: validate each filter, grant QoS, store the subscription, answer
 * SUBACK, then send matching retained messages per Retain Handling.
 */
import type { QoS, SubscribePacket, Subscription } from '../../shared/codec/types.ts';
import { MqttError } from '../../shared/errors.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { parseSharedSubscription, validateTopicFilter, type SharedParse } from '../../shared/topic.ts';
import { normalizeSubscribeDecision } from '../core/hooks.ts';
import type { ClientLink } from '../core/link.ts';
import type { SubscriptionEntry } from '../core/topic-tree.ts';
import type { ProtocolContext } from './context.ts';

/** SUBACK failure code in 3.1.1 [MQTT-3.9.3-2]; 3.1 has none (refusedQos31). */
const SubackFailure3 = 0x80;
/** Filters handled before the other connections get a turn: each may cost an ACL check, a hook and retained messages. */
const FiltersPerTurn = 16;

/**
 * A Topic Filter that is not well formed (empty [MQTT-4.7.3-1], `#` not
 * alone in the last level [MQTT-4.7.1-1], `+` not alone in its level
 * [MQTT-4.7.1-2]; at 5.0 also a `$share/` filter without a share name, with
 * a wildcard in it or without a filter after it [MQTT-4.8.2-1/2]) makes its
 * SUBSCRIBE or UNSUBSCRIBE malformed: the connection is closed
 * [MQTT-4.8.0-1] (5.0: DISCONNECT 0x81 first [MQTT-4.13.1-1]), as
 * mosquitto does. SUBACK 0x8F / UNSUBACK 0x8F are for filters that are well
 * formed and not allowed (docs/conformance-decisions.md).
 */
export function wellFormedFilter(link: ClientLink, filter: string): SharedParse {
  const parsed = parseSharedSubscription(filter);
  if (!validateTopicFilter(filter) || (link.isV5 && parsed.kind === 'invalid')) {
    throw new MqttError('MalformedPacket', ReasonCode.MalformedPacket, `topic filter ${JSON.stringify(filter.slice(0, 64))} is not well formed`);
  }
  return parsed;
}

export async function handleSubscribe(ctx: ProtocolContext, link: ClientLink, packet: SubscribePacket): Promise<void> {
  const clientId = link.state.clientId as string;
  const subscriptionId = packet.properties?.subscriptionIdentifier;
  if (subscriptionId === 0) throw new MqttError('Protocol', ReasonCode.ProtocolError, 'subscription identifier 0');
  const granted: number[] = [];
  const retainedToSend: SubscriptionEntry[] = [];
  const store = ctx.store;

  // The whole packet is checked first: a malformed one changes nothing.
  const filters = packet.subscriptions.map((request) => wellFormedFilter(link, request.topic));
  const terms = ctx.termsOf(link);
  let handled = 0;
  for (const request of packet.subscriptions) {
    if (++handled % FiltersPerTurn === 0) {
      await ctx.pace();
      if (link.closed) return;
    }
    const failure = (code: number): void => {
      granted.push(link.isV5 ? code : link.level === 3 ? refusedQos31(request, terms.maximumQos) : SubackFailure3);
    };
    const shared = filters[handled - 1] as SharedParse;
    if (shared.kind === 'invalid') {
      // A 3.x filter that is well formed by 4.7 but not as a shared subscription: this broker does not take it.
      failure(ReasonCode.TopicFilterInvalid);
      continue;
    }
    if (request.topic.length > ctx.limits.maxTopicLength || shared.filter.split('/').length > ctx.limits.maxTopicLevels) {
      // The same limits as topic names: a filter of 60 KB or 30,000 levels costs every match.
      failure(ReasonCode.TopicFilterInvalid);
      continue;
    }
    if (shared.kind === 'shared' && !terms.sharedSubscriptionsAvailable) {
      // Announced as not available (5.0 CONNACK): refused per filter, the others go on.
      failure(ReasonCode.SharedSubscriptionsNotSupported);
      continue;
    }
    if (shared.kind === 'shared' && request.nl === true) {
      // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
      throw new MqttError('Protocol', ReasonCode.ProtocolError, 'No Local on a shared subscription');
    }
    const exists = store.hasSubscription(clientId, request.topic);
    const namespaceMax = ctx.limits.maxNamespaceSubscriptions;
    // The client's own bound, then the namespace's: every subscription is in its topic tree, in memory.
    if (!exists && (store.countSubscriptions(clientId) >= ctx.limits.maxSubscriptionsPerClient || (namespaceMax > 0 && ctx.subscriptionCount >= namespaceMax))) {
      failure(ReasonCode.QuotaExceeded);
      continue;
    }
    // Refused only when the client may read nothing the filter matches; else what it may not read is withheld per message.
    const access = ctx.accessOf(link).subscription(request.topic);
    if (access === 'none') {
      failure(ReasonCode.NotAuthorized);
      continue;
    }
    // [MQTT-3.2.2-10] never above the Maximum QoS: granted lower (as mosquitto's max_qos).
    let qos = Math.min(request.qos, terms.maximumQos) as QoS;
    const onSubscribe = ctx.hooks.onSubscribe;
    if (onSubscribe !== undefined) {
      const context = { ...ctx.clientInfo(link), filter: request.topic, qos };
      const outcome = await ctx.runHook('onSubscribe', clientId, () => onSubscribe(context));
      if (link.closed) return;
      if (!outcome.ok) {
        failure(ReasonCode.UnspecifiedError);
        continue;
      }
      const decision = normalizeSubscribeDecision(outcome.value);
      if (!decision.allow) {
        failure(decision.reasonCode ?? ReasonCode.NotAuthorized);
        continue;
      }
      // A hook may lower the QoS, never raise it.
      if (decision.qos !== undefined) qos = Math.min(qos, decision.qos) as QoS;
    }
    const entry: SubscriptionEntry = { clientId, filter: request.topic, qos, ...optionsOf(link, request) };
    if (subscriptionId !== undefined) entry.subscriptionId = subscriptionId;
    if (shared.kind === 'shared') entry.shareGroup = shared.group;
    if (access === 'some') entry.readCheck = true;
    ctx.addSubscription(entry);
    granted.push(entry.qos);
    // [MQTT-3.3.1-10/11] retained messages: always (0), only for a new subscription (1), never (2); none for shared ones.
    if (shared.kind !== 'shared' && (entry.retainHandling === 0 || (entry.retainHandling === 1 && !exists))) retainedToSend.push(entry);
  }
  link.write({ cmd: 'suback', messageId: packet.messageId as number, granted });
  ctx.markDirty(link);
  if (ctx.connectionLog.wants('subscribe')) {
    packet.subscriptions.forEach((request, index) => ctx.connectionLog.event('info', 'client.subscribed', link.state, { filter: request.topic, qos: request.qos, code: granted[index] }));
  }
  ctx.sendRetained(link, retainedToSend);
}

/**
 * MQTT 3.1 has no SUBACK failure code: its SUBACK grants a QoS per filter.
 * A refused filter gets the QoS it would have been granted and no
 * subscription, as mosquitto answers a 3.1 client it refuses
 * (docs/conformance-decisions.md, "A refused MQTT 3.1 subscription").
 */
function refusedQos31(request: Subscription, maximumQos: QoS): QoS {
  return Math.min(request.qos, maximumQos) as QoS;
}

type SubscriptionOptions = Pick<SubscriptionEntry, 'noLocal' | 'retainAsPublished' | 'retainHandling'>;

/**
 * No Local, Retain As Published and Retain Handling: a 5.0 client's own
 * [MQTT-3.8.3-3/4]; before 5.0 none, but for another broker's bridge
 * (ConnectionState.brokerBridge), whose every subscription gets No Local
 * and Retain As Published, as mosquitto gives a 3.x bridge: what it
 * publishes is not sent back to it (no loop), and what it is sent keeps
 * its retain flag (retained messages cross as retained).
 */
function optionsOf(link: ClientLink, request: Subscription): SubscriptionOptions {
  if (link.isV5) return { noLocal: request.nl === true, retainAsPublished: request.rap === true, retainHandling: (request.rh ?? 0) as 0 | 1 | 2 };
  const bridge = link.state.brokerBridge === true;
  return { noLocal: bridge, retainAsPublished: bridge, retainHandling: 0 };
}
