/**
 * Pure tests of the observability pieces, no runtime: the $SYS publisher
 * against a fake core, mosquitto-style load averages, and the Prometheus
 * formatter. (They belong in test/unit/; they live here with the other
 * observability tests.)
 */
import { describe, expect, it } from 'vitest';
import { loadEdgeConfig } from '../../../edge/config.ts';
import type { MetricCounters } from '../../../edge/core/metrics.ts';
import { LoadAverage } from '../../../edge/observability/load-average.ts';
import { formatPrometheus, namespaceMetricFamilies, namespaceMetricNames } from '../../../edge/observability/prometheus.ts';
import { namespaceStats } from '../../../edge/observability/stats.ts';
import { allSysTopics, SysTopic, SysTopicsPublisher, type SysTopicsCore } from '../../../edge/observability/sys-topics.ts';

const zero: MetricCounters = {
  messagesReceived: 0,
  messagesSent: 0,
  bytesReceived: 0,
  bytesSent: 0,
  publishReceived: 0,
  publishSent: 0,
  publishDropped: 0,
  connectionsTotal: 0,
  clientsMaximum: 0,
  stallsDetected: 0,
  acksUnmatched: 0,
  qos0Dropped: 0,
  acksHeld: 0,
  publishDelayed: 0,
};

/** A core with numbers the test sets, recording what is published. */
function fakeCore(createdAt = 0) {
  const published: Array<[string, string]> = [];
  const live = { connected: 0, sessions: 0, subscriptions: 0, retained: 0, stalled: 0, counters: { ...zero } };
  const core: SysTopicsCore = {
    stats: () => ({ ...live, createdAt, counters: { ...live.counters } }),
    publishSystem: (topic, payload) => void published.push([topic, payload]),
  };
  return {
    core,
    live,
    published,
    /** What was published since the last call, as a map. */
    take(): Map<string, string> {
      return new Map(published.splice(0));
    },
  };
}

describe('$SYS publisher', () => {
  it('publishes every topic with mosquitto formats on the first update', () => {
    const fake = fakeCore(0);
    Object.assign(fake.live, { connected: 2, sessions: 3, subscriptions: 4, retained: 5 });
    Object.assign(fake.live.counters, { messagesReceived: 10, publishReceived: 6, clientsMaximum: 2, bytesReceived: 300 });
    new SysTopicsPublisher({ intervalMs: 10_000 }).publish(fake.core, 125_400);
    const values = fake.take();
    expect([...values.keys()]).toEqual(allSysTopics);
    expect(values.get(SysTopic.Version)).toMatch(/^edge-mqtt-broker version \d+\.\d+\.\d+/);
    expect(values.get(SysTopic.Uptime)).toBe('125 seconds');
    expect(values.get(SysTopic.ClientsConnected)).toBe('2');
    expect(values.get(SysTopic.ClientsActive)).toBe('2');
    expect(values.get(SysTopic.ClientsTotal)).toBe('3');
    expect(values.get(SysTopic.ClientsDisconnected)).toBe('1');
    expect(values.get(SysTopic.ClientsMaximum)).toBe('2');
    expect(values.get(SysTopic.MessagesReceived)).toBe('10');
    expect(values.get(SysTopic.PublishReceived)).toBe('6');
    expect(values.get(SysTopic.SubscriptionsCount)).toBe('4');
    expect(values.get(SysTopic.RetainedCount)).toBe('5');
    // Seeded with the rate since the namespace was created: 10 messages in 125.4 s.
    expect(values.get('$SYS/broker/load/messages/received/1min')).toBe(((10 * 60) / 125.4).toFixed(2));
    expect(values.get('$SYS/broker/load/bytes/received/15min')).toBe(((300 * 60) / 125.4).toFixed(2));
  });

  it('then publishes only what changed, and uptime every time', () => {
    const fake = fakeCore(0);
    const publisher = new SysTopicsPublisher({ intervalMs: 10_000 });
    publisher.publish(fake.core, 600_000);
    fake.take();
    publisher.publish(fake.core, 610_000);
    expect([...fake.take().keys()]).toEqual([SysTopic.Uptime]);
    fake.live.connected = 1;
    fake.live.sessions = 1;
    publisher.publish(fake.core, 620_000);
    expect([...fake.take().keys()]).toEqual([SysTopic.Uptime, SysTopic.ClientsConnected, SysTopic.ClientsActive, SysTopic.ClientsTotal]);
  });

  it('republishes everything after a pause without subscribers', () => {
    const fake = fakeCore(0);
    const publisher = new SysTopicsPublisher({ intervalMs: 10_000 });
    publisher.publish(fake.core, 600_000);
    fake.take();
    publisher.publish(fake.core, 600_000 + 31_000);
    expect(fake.take().size).toBe(allSysTopics.length);
  });

  it('computes load averages per minute from counter deltas, like mosquitto', () => {
    const fake = fakeCore(0);
    const publisher = new SysTopicsPublisher({ intervalMs: 10_000 });
    // A quiet namespace, a day old: seeded at 0.
    publisher.publish(fake.core, 86_400_000);
    expect(fake.take().get('$SYS/broker/load/publish/received/1min')).toBe('0.00');
    // 100 PUBLISH in 10 s = 600 per minute.
    fake.live.counters.publishReceived = 100;
    publisher.publish(fake.core, 86_410_000);
    const values = fake.take();
    expect(values.get('$SYS/broker/load/publish/received/1min')).toBe((600 * (1 - Math.exp(-10 / 60))).toFixed(2));
    expect(values.get('$SYS/broker/load/publish/received/5min')).toBe((600 * (1 - Math.exp(-10 / 300))).toFixed(2));
    expect(values.get('$SYS/broker/load/publish/received/15min')).toBe((600 * (1 - Math.exp(-10 / 900))).toFixed(2));
    // Unchanged averages are not published again.
    expect(values.has('$SYS/broker/load/publish/sent/1min')).toBe(false);
  });

  it('refuses a non-positive interval', () => {
    expect(() => new SysTopicsPublisher({ intervalMs: 0 })).toThrow(RangeError);
  });
});

describe('LoadAverage', () => {
  it('approaches a steady rate from 0 as 1 - e^(-t/window)', () => {
    const load = new LoadAverage();
    for (let second = 0; second <= 3600; second += 10) load.update(second * 5, second * 1000); // 5/s = 300/min
    const averages = load.averages!;
    expect(averages['1min']).toBeCloseTo(300, 6);
    expect(averages['5min']).toBeCloseTo(300 * (1 - Math.exp(-3600 / 300)), 6);
    expect(averages['15min']).toBeCloseTo(300 * (1 - Math.exp(-3600 / 900)), 6);
  });

  it('decays after traffic stops, the short window first', () => {
    const load = new LoadAverage(() => 600);
    load.update(1000, 0);
    load.update(1000, 60_000);
    const averages = load.averages!;
    expect(averages['1min']).toBeCloseTo(600 * Math.exp(-1), 6);
    expect(averages['15min']).toBeCloseTo(600 * Math.exp(-1 / 15), 6);
  });

  it('never goes negative when a counter restarts lower', () => {
    const load = new LoadAverage(() => 0);
    load.update(500, 0);
    load.update(400, 10_000);
    expect(load.averages?.['1min']).toBe(0);
  });

  it('has nothing to report before a second sample without a seed', () => {
    const load = new LoadAverage();
    load.update(10, 0);
    expect(load.averages).toBeUndefined();
  });
});

describe('Prometheus format', () => {
  it('writes HELP and TYPE once per family and escapes label values', () => {
    const text = formatPrometheus([
      { name: 'x_total', help: 'A counter.\nSecond line \\ done', type: 'counter', samples: [{ labels: { a: 'q"uote\\n\nl' }, value: 3 }, { labels: {}, value: NaN }] },
    ]);
    expect(text).toBe('# HELP x_total A counter.\\nSecond line \\\\ done\n# TYPE x_total counter\nx_total{a="q\\"uote\\\\n\\nl"} 3\nx_total NaN\n');
  });

  it('refuses invalid metric and label names', () => {
    expect(() => formatPrometheus([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }])).toThrow(/metric name/);
    expect(() => formatPrometheus([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': 'x' }, value: 1 }] }])).toThrow(/label name/);
  });

  it('exposes every namespace metric, counters ending in _total', () => {
    const fake = fakeCore(1_000);
    fake.live.connected = 2;
    const stats = namespaceStats(fake.core, 'a', 61_000);
    const families = namespaceMetricFamilies([stats, { ...stats, namespace: 'b' }]);
    expect(families.map((family) => family.name)).toEqual(namespaceMetricNames);
    for (const family of families) {
      expect(family.type === 'counter').toBe(family.name.endsWith('_total'));
      expect(family.samples.map((sample) => sample.labels['namespace'])).toEqual(['a', 'b']);
    }
    const text = formatPrometheus(families);
    expect(text).toContain('mqtt_clients_connected{namespace="a"} 2\n');
    expect(text).toContain('mqtt_uptime_seconds{namespace="b"} 60\n');
  });
});

describe('MQTT_SYS_INTERVAL', () => {
  it('is seconds, 10 by default, fractions allowed, 0 for off', () => {
    expect(loadEdgeConfig({}).sysIntervalMs).toBe(10_000);
    expect(loadEdgeConfig({}, {}, { sysInterval: 30 }).sysIntervalMs).toBe(30_000);
    expect(loadEdgeConfig({ MQTT_SYS_INTERVAL: '0.5' }, {}, { sysInterval: 30 }).sysIntervalMs).toBe(500);
    expect(loadEdgeConfig({ MQTT_SYS_INTERVAL: '0' }).sysIntervalMs).toBe(0);
  });

  it('fails loudly on anything else', () => {
    for (const bad of ['ten', '-1', '0.05', '1e3', '86401', ' 10']) {
      expect(() => loadEdgeConfig({ MQTT_SYS_INTERVAL: bad }), bad).toThrow(/MQTT_SYS_INTERVAL/);
    }
    expect(() => loadEdgeConfig({}, {}, { sysInterval: -1 })).toThrow(/sysInterval/);
  });
});
