/**
 * Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE`
 * once per metric family, then one sample per label set. Pure: no runtime
 * APIs, so the sidecar can format its own metrics with it too.
 *
 * @example
 * formatPrometheus([{ name: 'mqtt_clients_connected', help: 'Clients connected now.', type: 'gauge',
 *   samples: [{ labels: { namespace: 'default' }, value: 2 }] }]);
 * // # HELP mqtt_clients_connected Clients connected now.
 * // # TYPE mqtt_clients_connected gauge
 * // mqtt_clients_connected{namespace="default"} 2
 */
import type { NamespaceStats } from './stats.ts';

export const PrometheusContentType = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricFamily {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total`. */
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

const MetricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LabelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function formatPrometheus(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (!MetricNamePattern.test(family.name)) throw new Error(`invalid metric name "${family.name}"`);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) lines.push(`${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
  }
  return `${lines.join('\n')}\n`;
}

function formatLabels(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([name, value]) => {
    if (!LabelNamePattern.test(name)) throw new Error(`invalid label name "${name}"`);
    return `${name}="${escapeLabelValue(value)}"`;
  });
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** In HELP text only backslash and newline are escaped. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** In label values backslash, double quote and newline are escaped. */
function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The metrics of a broker namespace; names follow mosquitto's $SYS topics where there is one. */
const namespaceMetrics: Array<{ name: string; type: MetricFamily['type']; help: string; value: (stats: NamespaceStats) => number }> = [
  { name: 'mqtt_uptime_seconds', type: 'gauge', help: 'Seconds since the namespace was created ($SYS/broker/uptime).', value: (s) => s.uptimeSeconds },
  { name: 'mqtt_namespace_created_timestamp_seconds', type: 'gauge', help: 'When the namespace was created, Unix time; counters count from then.', value: (s) => Math.floor(s.createdAt / 1000) },
  { name: 'mqtt_clients_connected', type: 'gauge', help: 'Clients connected now ($SYS/broker/clients/connected).', value: (s) => s.connected },
  { name: 'mqtt_clients_disconnected', type: 'gauge', help: 'Sessions kept for clients that are not connected ($SYS/broker/clients/disconnected).', value: (s) => s.disconnected },
  { name: 'mqtt_sessions', type: 'gauge', help: 'Sessions, connected or not ($SYS/broker/clients/total).', value: (s) => s.sessions },
  { name: 'mqtt_clients_maximum', type: 'gauge', help: 'Most clients ever connected at once ($SYS/broker/clients/maximum).', value: (s) => s.counters.clientsMaximum },
  { name: 'mqtt_subscriptions', type: 'gauge', help: 'Subscriptions ($SYS/broker/subscriptions/count).', value: (s) => s.subscriptions },
  { name: 'mqtt_retained_messages', type: 'gauge', help: 'Retained messages, $SYS ones included ($SYS/broker/retained messages/count).', value: (s) => s.retained },
  { name: 'mqtt_connections_total', type: 'counter', help: 'Successful MQTT connections (CONNACK accepted).', value: (s) => s.counters.connectionsTotal },
  { name: 'mqtt_messages_received_total', type: 'counter', help: 'MQTT packets of any type received ($SYS/broker/messages/received).', value: (s) => s.counters.messagesReceived },
  { name: 'mqtt_messages_sent_total', type: 'counter', help: 'MQTT packets of any type sent ($SYS/broker/messages/sent).', value: (s) => s.counters.messagesSent },
  { name: 'mqtt_bytes_received_total', type: 'counter', help: 'Bytes received from clients ($SYS/broker/bytes/received).', value: (s) => s.counters.bytesReceived },
  { name: 'mqtt_bytes_sent_total', type: 'counter', help: 'Bytes sent to clients ($SYS/broker/bytes/sent).', value: (s) => s.counters.bytesSent },
  { name: 'mqtt_publish_messages_received_total', type: 'counter', help: 'PUBLISH packets received ($SYS/broker/publish/messages/received).', value: (s) => s.counters.publishReceived },
  { name: 'mqtt_publish_messages_sent_total', type: 'counter', help: 'PUBLISH packets sent ($SYS/broker/publish/messages/sent).', value: (s) => s.counters.publishSent },
  { name: 'mqtt_publish_messages_dropped_total', type: 'counter', help: 'Messages dropped: refused, over a queue limit or too large for a client ($SYS/broker/publish/messages/dropped).', value: (s) => s.counters.publishDropped },
];

/** Every metric name `/metrics` exposes (README, tests). */
export const namespaceMetricNames: readonly string[] = ['mqtt_info', ...namespaceMetrics.map((metric) => metric.name)];

/** The metric families of one or more namespaces, each sample labelled with its namespace. */
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
  ];
}
