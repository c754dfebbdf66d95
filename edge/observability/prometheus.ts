/**
 * The namespace's metrics as Prometheus families (the format itself is in
 * shared/prometheus.ts, which the sidecar uses too).
 */
import type { NamespaceStats } from './stats.ts';
import type { RuleReport } from '../rules/rules.ts';
import type { ObjectStats } from '../gateway/object-stats.ts';
import { type MetricFamily } from '../../shared/prometheus.ts';

export { formatPrometheus, PrometheusContentType, type MetricFamily } from '../../shared/prometheus.ts';

const namespaceMetrics: Array<{ name: string; type: MetricFamily['type']; help: string; value: (stats: NamespaceStats) => number }> = [
  { name: 'mqtt_uptime_seconds', type: 'gauge', help: 'Seconds since the namespace was created ($SYS/broker/uptime).', value: (s) => s.uptimeSeconds },
  { name: 'mqtt_namespace_created_timestamp_seconds', type: 'gauge', help: 'When the namespace was created, Unix time; counters count from then.', value: (s) => Math.floor(s.createdAt / 1000) },
  { name: 'mqtt_clients_connected', type: 'gauge', help: 'Clients connected now ($SYS/broker/clients/connected).', value: (s) => s.connected },
  { name: 'mqtt_clients_disconnected', type: 'gauge', help: 'Sessions kept for clients that are not connected ($SYS/broker/clients/disconnected).', value: (s) => s.disconnected },
  { name: 'mqtt_sessions', type: 'gauge', help: 'Sessions, connected or not ($SYS/broker/clients/total).', value: (s) => s.sessions },
  { name: 'mqtt_clients_maximum', type: 'gauge', help: 'Most clients ever connected at once ($SYS/broker/clients/maximum).', value: (s) => s.counters.clientsMaximum },
  { name: 'mqtt_subscriptions', type: 'gauge', help: 'Subscriptions ($SYS/broker/subscriptions/count).', value: (s) => s.subscriptions },
  { name: 'mqtt_retained_messages', type: 'gauge', help: 'Retained messages, $SYS ones included ($SYS/broker/retained messages/count).', value: (s) => s.retained },
  { name: 'mqtt_clients_stalled', type: 'gauge', help: 'Connected clients with queued messages and room in their in-flight window: a stall.', value: (s) => s.stalled },
  { name: 'mqtt_stalls_detected_total', type: 'counter', help: 'Stalls the watchdog reported (then recovered by sending the queue).', value: (s) => s.counters.stallsDetected },
  { name: 'mqtt_acks_unmatched_total', type: 'counter', help: 'PUBACK/PUBREC/PUBCOMP for a packet id not in flight: client and broker disagree about the window.', value: (s) => s.counters.acksUnmatched },
  { name: 'mqtt_connections_total', type: 'counter', help: 'Successful MQTT connections (CONNACK accepted).', value: (s) => s.counters.connectionsTotal },
  { name: 'mqtt_messages_received_total', type: 'counter', help: 'MQTT packets of any type received ($SYS/broker/messages/received).', value: (s) => s.counters.messagesReceived },
  { name: 'mqtt_messages_sent_total', type: 'counter', help: 'MQTT packets of any type sent ($SYS/broker/messages/sent).', value: (s) => s.counters.messagesSent },
  { name: 'mqtt_bytes_received_total', type: 'counter', help: 'Bytes received from clients ($SYS/broker/bytes/received).', value: (s) => s.counters.bytesReceived },
  { name: 'mqtt_bytes_sent_total', type: 'counter', help: 'Bytes sent to clients ($SYS/broker/bytes/sent).', value: (s) => s.counters.bytesSent },
  { name: 'mqtt_publish_messages_received_total', type: 'counter', help: 'PUBLISH packets received ($SYS/broker/publish/messages/received).', value: (s) => s.counters.publishReceived },
  { name: 'mqtt_publish_messages_sent_total', type: 'counter', help: 'PUBLISH packets sent ($SYS/broker/publish/messages/sent).', value: (s) => s.counters.publishSent },
  { name: 'mqtt_publish_messages_dropped_total', type: 'counter', help: 'Messages dropped: refused, over a queue limit or too large for a client ($SYS/broker/publish/messages/dropped).', value: (s) => s.counters.publishDropped },
  { name: 'mqtt_behind_seconds', type: 'gauge', help: 'How long the oldest input waiting to be handled has waited; over 0.1 s the namespace is behind and slows whoever is over their share.', value: (s) => s.flow.behindMs / 1000 },
  { name: 'mqtt_input_pending_bytes', type: 'gauge', help: 'Bytes clients have sent that the namespace has not handled yet.', value: (s) => s.flow.pendingBytes },
  { name: 'mqtt_input_partial_bytes', type: 'gauge', help: 'Bytes of incomplete packets the namespace holds in memory.', value: (s) => s.flow.partialBytes },
  { name: 'mqtt_memory_estimated_bytes', type: 'gauge', help: "The core isolate's memory, estimated from what it holds (connections, subscriptions, input and output waiting; workerd tells a Worker nothing of its heap). Cloudflare ends an object past 128 MB.", value: (s) => s.memory.estimatedBytes },
  { name: 'mqtt_clients_slowed', type: 'gauge', help: 'Clients slowed now: over their share while the namespace is behind.', value: (s) => s.flow.slowedClients },
  { name: 'mqtt_acks_held', type: 'gauge', help: 'QoS 1/2 acknowledgements held now from slowed clients.', value: (s) => s.flow.heldAcks },
  { name: 'mqtt_acks_held_total', type: 'counter', help: 'QoS 1/2 acknowledgements held back from clients over their share (each sent later).', value: (s) => s.counters.acksHeld },
  { name: 'mqtt_publish_qos0_dropped_total', type: 'counter', help: 'QoS 0 messages dropped to slow their sender: over its share while the namespace was behind, or over a publish rate.', value: (s) => s.counters.qos0Dropped },
  { name: 'mqtt_publish_delayed_total', type: 'counter', help: 'QoS 1/2 messages that waited for a publish rate before they were routed.', value: (s) => s.counters.publishDelayed },
];

/** Per rule of MQTT_RULES, labelled `namespace` and `rule`. */
const ruleMetrics: Array<{ name: string; type: MetricFamily['type']; help: string; value: (rule: RuleReport) => number }> = [
  { name: 'mqtt_rule_matched_total', type: 'counter', help: 'Messages that matched the rule (delivered + dropped + pending + dead letters kept, dropped and deleted).', value: (r) => r.matched },
  { name: 'mqtt_rule_delivered_total', type: 'counter', help: "Messages the rule's target accepted.", value: (r) => r.delivered },
  { name: 'mqtt_rule_failed_total', type: 'counter', help: 'Failed delivery attempts (retried with backoff, or ending as a dead letter).', value: (r) => r.failed },
  { name: 'mqtt_rule_dropped_total', type: 'counter', help: 'Messages not kept because the rules outbox was full.', value: (r) => r.dropped },
  { name: 'mqtt_rule_outbox_pending', type: 'gauge', help: 'Messages in the outbox waiting for the rule target.', value: (r) => r.pending },
  { name: 'mqtt_rule_dead_lettered_total', type: 'counter', help: 'Messages moved to the dead letters: refused by the target for good, or out of attempts (MQTT_RULES_MAX_ATTEMPTS).', value: (r) => r.deadLettered },
  { name: 'mqtt_rule_dead_letters', type: 'gauge', help: 'Dead letters kept now, waiting to be retried or deleted.', value: (r) => r.deadLetters },
  { name: 'mqtt_rule_dead_letters_dropped_total', type: 'counter', help: 'Dead letters dropped to make room for newer ones (MQTT_RULES_DEAD_LETTERS_MAX_MESSAGES / _MAX_BYTES).', value: (r) => r.deadLettersDropped },
];

/** Per Durable Object of the namespace (its core and each gateway), labelled `namespace`, `role` and `object`. */
const objectMetrics: Array<{ name: string; type: MetricFamily['type']; help: string; value: (object: ObjectStats) => number }> = [
  { name: 'mqtt_object_connections', type: 'gauge', help: 'Clients the object holds.', value: (o) => o.connections },
  { name: 'mqtt_object_messages_received_total', type: 'counter', help: 'Core: MQTT packets the namespace received; gateway: link frames it carried to the core.', value: (o) => o.messagesIn },
  { name: 'mqtt_object_messages_sent_total', type: 'counter', help: 'Core: MQTT packets the namespace sent; gateway: link frames the core sent it.', value: (o) => o.messagesOut },
  { name: 'mqtt_object_calls_received_total', type: 'counter', help: 'Cross-object calls the core got from this gateway (each billed as a request).', value: (o) => o.callsIn },
  { name: 'mqtt_object_calls_sent_total', type: 'counter', help: 'Cross-object calls the core made to this gateway (each billed as a request).', value: (o) => o.callsOut },
  { name: 'mqtt_object_sqlite_rows_read_total', type: 'counter', help: 'SQLite rows the object read since it last started (billed per row).', value: (o) => o.rowsRead },
  { name: 'mqtt_object_sqlite_rows_written_total', type: 'counter', help: 'SQLite rows the object wrote since it last started (billed per row).', value: (o) => o.rowsWritten },
];

/** The metric names added when a namespace has gateways (MQTT_GATEWAYS > 1). */
export const objectMetricNames: readonly string[] = objectMetrics.map((metric) => metric.name);

/** Every metric name `/metrics` exposes for a namespace (docs/operations.md, tests). */
export const namespaceMetricNames: readonly string[] = ['mqtt_info', ...namespaceMetrics.map((metric) => metric.name)];
/** The metric names added when a namespace has rules. */
export const ruleMetricNames: readonly string[] = ruleMetrics.map((metric) => metric.name);

/** The metric families of one or more namespaces, each sample labelled with its namespace (and rule, for the rules' own). */
export function namespaceMetricFamilies(all: readonly NamespaceStats[]): MetricFamily[] {
  const info: MetricFamily = {
    name: 'mqtt_info',
    type: 'gauge',
    help: 'Always 1; the labels name the broker version.',
    samples: all.map((stats) => ({ labels: { namespace: stats.namespace, version: stats.version }, value: 1 })),
  };
  return [
    info,
    ...namespaceMetrics.map((metric) => ({
      name: metric.name,
      type: metric.type,
      help: metric.help,
      samples: all.map((stats) => ({ labels: { namespace: stats.namespace }, value: metric.value(stats) })),
    })),
    // A broker without MQTT_RULES shows no empty rule families.
    ...(all.every((stats) => stats.rules.length === 0) ? [] : ruleMetrics).map((metric) => ({
      name: metric.name,
      type: metric.type,
      help: metric.help,
      samples: all.flatMap((stats) => stats.rules.map((rule) => ({ labels: { namespace: stats.namespace, rule: rule.name }, value: metric.value(rule) }))),
    })),
    // A namespace of one object (no gateways) shows no per-object families: the namespace's own are that object's.
    ...(all.every((stats) => (stats.objects ?? []).length <= 1) ? [] : objectMetrics).map((metric) => ({
      name: metric.name,
      type: metric.type,
      help: metric.help,
      samples: all.flatMap((stats) => (stats.objects ?? []).map((object) => ({ labels: { namespace: stats.namespace, role: object.role, object: object.name }, value: metric.value(object) }))),
    })),
  ];
}
