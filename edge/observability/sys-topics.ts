/**
 * The `$SYS/broker/...` tree of one namespace, with mosquitto's topic names
 * and payload formats, so tools written for mosquitto read it unchanged.
 *
 * The core calls `publish` from an alarm every `intervalMs` while at least
 * one subscription can match a $SYS topic, and never otherwise. Messages go
 * out retained (a new subscriber gets the latest values at once) and, as in
 * mosquitto, only when their value changed; `uptime` every time.
 *
 * State (last values, load averages) is in memory: after the Durable Object
 * is evicted, the first publish of the new instance sends everything again
 * and restarts the load averages (see LoadAverage).
 */
import type { SystemTopicsPublisher, SystemTopicsSource } from '../core/system-topics.ts';
import type { MetricCounters } from '../core/metrics.ts';
import { LoadAverage, LoadWindows, type LoadWindow } from './load-average.ts';
import { BrokerProduct, BrokerVersion, namespaceStats, type NamespaceStats } from './stats.ts';

/**
 * After a pause this long (no $SYS subscriber for a while), publish every
 * topic again, not only the changed ones: an administrator may have
 * deleted retained $SYS messages meanwhile.
 */
const ResumeAfterIntervals = 3;

export const SysTopic = {
  Version: '$SYS/broker/version',
  Uptime: '$SYS/broker/uptime',
  ClientsConnected: '$SYS/broker/clients/connected',
  ClientsActive: '$SYS/broker/clients/active',
  ClientsDisconnected: '$SYS/broker/clients/disconnected',
  ClientsInactive: '$SYS/broker/clients/inactive',
  ClientsTotal: '$SYS/broker/clients/total',
  ClientsMaximum: '$SYS/broker/clients/maximum',
  MessagesReceived: '$SYS/broker/messages/received',
  MessagesSent: '$SYS/broker/messages/sent',
  BytesReceived: '$SYS/broker/bytes/received',
  BytesSent: '$SYS/broker/bytes/sent',
  PublishReceived: '$SYS/broker/publish/messages/received',
  PublishSent: '$SYS/broker/publish/messages/sent',
  PublishDropped: '$SYS/broker/publish/messages/dropped',
  SubscriptionsCount: '$SYS/broker/subscriptions/count',
  RetainedCount: '$SYS/broker/retained messages/count',
} as const;

/** `$SYS/broker/load/<series>/{1min,5min,15min}` and the counter each one averages. */
const loadSeries: Array<[series: string, counter: keyof MetricCounters]> = [
  ['messages/received', 'messagesReceived'],
  ['messages/sent', 'messagesSent'],
  ['publish/received', 'publishReceived'],
  ['publish/sent', 'publishSent'],
  ['publish/dropped', 'publishDropped'],
  ['bytes/received', 'bytesReceived'],
  ['bytes/sent', 'bytesSent'],
  ['connections', 'connectionsTotal'],
];

export function loadTopic(series: string, window: LoadWindow): string {
  return `$SYS/broker/load/${series}/${window}`;
}

/** Every topic this publisher can send, in publishing order (docs/operations.md, tests). */
export const allSysTopics: readonly string[] = [
  ...Object.values(SysTopic),
  ...loadSeries.flatMap(([series]) => (Object.keys(LoadWindows) as LoadWindow[]).map((window) => loadTopic(series, window))),
];

export interface SysTopicsOptions {
  /** Publishing interval, ms. */
  intervalMs: number;
}

/** What of the core the publisher uses; a fake core in unit tests. */
export type SysTopicsCore = SystemTopicsSource;

export class SysTopicsPublisher implements SystemTopicsPublisher {
  readonly intervalMs: number;
  private lastPublishAt: number | undefined;
  /** Payload last published per topic: unchanged values are not sent again. */
  private readonly published = new Map<string, string>();
  private readonly loads = new Map<string, LoadAverage>();

  constructor(options: SysTopicsOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError(`$SYS interval must be positive, got ${options.intervalMs} ms`);
    this.intervalMs = options.intervalMs;
  }

  publish(core: SysTopicsCore, now: number): void {
    const stats = namespaceStats(core, '', now);
    const resumed = this.lastPublishAt === undefined || now - this.lastPublishAt > ResumeAfterIntervals * this.intervalMs;
    if (resumed) this.published.clear();
    this.lastPublishAt = now;
    for (const [topic, payload] of this.values(stats)) {
      if (topic !== SysTopic.Uptime && this.published.get(topic) === payload) continue;
      this.published.set(topic, payload);
      core.publishSystem(topic, payload);
    }
  }

  /** Topic and payload of everything to publish now, in mosquitto's formats. */
  private values(stats: NamespaceStats): Array<[string, string]> {
    const counters = stats.counters;
    const values: Array<[string, string]> = [
      [SysTopic.Version, `${BrokerProduct} version ${BrokerVersion}`],
      [SysTopic.Uptime, `${stats.uptimeSeconds} seconds`],
      [SysTopic.ClientsConnected, String(stats.connected)],
      // mosquitto still publishes the pre-1.4 names next to the new ones; so do we.
      [SysTopic.ClientsActive, String(stats.connected)],
      [SysTopic.ClientsDisconnected, String(stats.disconnected)],
      [SysTopic.ClientsInactive, String(stats.disconnected)],
      [SysTopic.ClientsTotal, String(stats.sessions)],
      [SysTopic.ClientsMaximum, String(counters.clientsMaximum)],
      [SysTopic.MessagesReceived, String(counters.messagesReceived)],
      [SysTopic.MessagesSent, String(counters.messagesSent)],
      [SysTopic.BytesReceived, String(counters.bytesReceived)],
      [SysTopic.BytesSent, String(counters.bytesSent)],
      [SysTopic.PublishReceived, String(counters.publishReceived)],
      [SysTopic.PublishSent, String(counters.publishSent)],
      [SysTopic.PublishDropped, String(counters.publishDropped)],
      [SysTopic.SubscriptionsCount, String(stats.subscriptions)],
      [SysTopic.RetainedCount, String(stats.retained)],
    ];
    for (const [series, counter] of loadSeries) {
      const averages = this.loadOf(series, stats.createdAt);
      averages.update(counters[counter], stats.now);
      const current = averages.averages;
      if (current === undefined) continue;
      for (const window of Object.keys(LoadWindows) as LoadWindow[]) {
        // mosquitto's "%.2f"; a change below 0.01 is not worth a message.
        values.push([loadTopic(series, window), current[window].toFixed(2)]);
      }
    }
    return values;
  }

  private loadOf(series: string, createdAt: number): LoadAverage {
    let load = this.loads.get(series);
    if (load === undefined) {
      // Seeded with the rate since the namespace was created (at least over a minute):
      // closer after a wake than mosquitto's 0, and exact for a namespace that just started.
      load = new LoadAverage((value, at) => (value * 60_000) / Math.max(60_000, at - createdAt));
      this.loads.set(series, load);
    }
    return load;
  }
}
