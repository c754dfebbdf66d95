/**
 * The sidecar's own counters and their Prometheus form. No per-client
 * labels: a fleet of devices must not become a fleet of time series.
 */
import { formatPrometheus, type MetricFamily } from '../shared/prometheus.ts';
import type { CloseCause } from './close-codes.ts';
import type { EdgeLinkStats } from './edge-link.ts';

/** The sidecar's live numbers, as the server reads them for /metrics. */
export interface SidecarStats {
  connections: number;
  /** Over-limit clients whose CONNECT is being read only to refuse it. */
  refusing: number;
  /** Bytes held by the sidecar on their way to the edge, all devices together. */
  bufferedToEdge: number;
  /** Bytes held by the sidecar on their way to devices. */
  bufferedToDevice: number;
  /** The multiplexed link to the edge, when it is on. */
  link?: EdgeLinkStats;
}

/** Causes that mean the sidecar turned a device away before or instead of bridging it. */
const refusalCauses: ReadonlySet<CloseCause> = new Set(['over-limit', 'edge-unavailable', 'connect-timeout', 'malformed-packet']);

export class SidecarMetrics {
  readonly accepted = { tcp: 0, tls: 0 };
  readonly closed = new Map<CloseCause, number>();
  droppedAtAccept = 0;
  bytesFromDevices = 0;
  bytesToDevices = 0;
  pingsAnswered = 0;

  recordClose(outcome: { cause: CloseCause | undefined; bytesIn: number; bytesOut: number }, pings: number): void {
    const cause = outcome.cause ?? 'device-closed';
    this.closed.set(cause, (this.closed.get(cause) ?? 0) + 1);
    this.bytesFromDevices += outcome.bytesIn;
    this.bytesToDevices += outcome.bytesOut;
    this.pingsAnswered += pings;
  }

  render(stats: SidecarStats, version: string): string {
    const gauge = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'gauge', samples: [{ labels: {}, value }] });
    const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', samples: [{ labels: {}, value }] });
    const byCause = (filter: (cause: CloseCause) => boolean): Array<{ labels: Record<string, string>; value: number }> =>
      [...this.closed].filter(([cause]) => filter(cause)).map(([cause, value]) => ({ labels: { cause }, value }));
    return formatPrometheus([
      { name: 'mqtt_sidecar_info', help: 'Sidecar version.', type: 'gauge', samples: [{ labels: { version }, value: 1 }] },
      gauge('mqtt_sidecar_connections', 'Devices bridged or being bridged now.', stats.connections),
      gauge('mqtt_sidecar_refusing', 'Over-limit devices whose CONNECT is read only to refuse it.', stats.refusing),
      gauge('mqtt_sidecar_buffered_to_edge_bytes', 'Bytes held on their way to the edge.', stats.bufferedToEdge),
      gauge('mqtt_sidecar_buffered_to_device_bytes', 'Bytes held on their way to devices.', stats.bufferedToDevice),
      // The process's own memory: what every bound above is there to keep flat.
      gauge('mqtt_sidecar_resident_memory_bytes', 'Resident memory of the sidecar process.', process.memoryUsage.rss()),
      gauge('mqtt_sidecar_heap_used_bytes', 'JavaScript heap in use by the sidecar process.', process.memoryUsage().heapUsed),
      {
        name: 'mqtt_sidecar_connections_accepted_total',
        help: 'Device connections accepted, per listener.',
        type: 'counter',
        samples: [
          { labels: { listener: 'tcp' }, value: this.accepted.tcp },
          { labels: { listener: 'tls' }, value: this.accepted.tls },
        ],
      },
      counter('mqtt_sidecar_connections_dropped_total', 'Connections closed at accept: over the limit with too many refusals pending.', this.droppedAtAccept),
      { name: 'mqtt_sidecar_connections_refused_total', help: 'Devices turned away, per cause.', type: 'counter', samples: byCause((cause) => refusalCauses.has(cause)) },
      { name: 'mqtt_sidecar_connections_closed_total', help: 'Bridged connections that ended, per cause.', type: 'counter', samples: byCause((cause) => !refusalCauses.has(cause)) },
      counter('mqtt_sidecar_bytes_from_devices_total', 'Bytes read from devices (closed connections).', this.bytesFromDevices),
      counter('mqtt_sidecar_bytes_to_devices_total', 'Bytes written to devices (closed connections).', this.bytesToDevices),
      counter('mqtt_sidecar_pingreq_answered_total', 'PINGREQs answered by the sidecar without waking the edge (closed connections).', this.pingsAnswered),
      ...(stats.link === undefined ? [] : linkFamilies(stats.link, gauge, counter)),
    ]);
  }
}

function linkFamilies(
  link: EdgeLinkStats,
  gauge: (name: string, help: string, value: number) => MetricFamily,
  counter: (name: string, help: string, value: number) => MetricFamily,
): MetricFamily[] {
  return [
    gauge('mqtt_sidecar_link_up', 'Whether the multiplexed link to the edge is up.', link.up),
    gauge('mqtt_sidecar_link_channels', 'Devices carried on the link now.', link.channels),
    gauge('mqtt_sidecar_link_per_device', 'The edge does not know the link: devices use a WebSocket each.', link.perDevice ? 1 : 0),
    counter('mqtt_sidecar_link_connects_total', 'Times the link came up.', link.connects),
    counter('mqtt_sidecar_link_messages_sent_total', 'WebSocket messages sent on the link (each carries many packets).', link.messagesSent),
    counter('mqtt_sidecar_link_messages_received_total', 'WebSocket messages received on the link.', link.messagesReceived),
    counter('mqtt_sidecar_link_fanout_deliveries_total', 'Device deliveries that crossed the link once for many devices.', link.fanoutDeliveries),
    gauge('mqtt_sidecar_link_credit_bytes', 'Bytes of device packets the edge takes now (link version 3).', link.creditBytes),
    gauge('mqtt_sidecar_link_channels_awaiting_credit', 'Devices whose packets wait for the edge to take more (not read meanwhile).', link.channelsAwaitingCredit),
  ];
}
