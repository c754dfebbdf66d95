/**
 * Counters of one namespace, in the style of mosquitto's $SYS tree. Kept in
 * memory on the hot path and written to SQLite at most every few seconds
 * (the host schedules the flush with an alarm), so counting never costs a
 * storage write per message; a crash loses at most the last few seconds.
 */
import type { GatedSql } from './gated-sql.ts';

export interface MetricCounters {
  messagesReceived: number;
  messagesSent: number;
  bytesReceived: number;
  bytesSent: number;
  publishReceived: number;
  publishSent: number;
  publishDropped: number;
  connectionsTotal: number;
  clientsMaximum: number;
  /** Clients the stall watchdog found with queued messages and a free window. */
  stallsDetected: number;
  /** PUBACK, PUBREC or PUBCOMP for a packet id the broker has not in flight: the two sides disagree. */
  acksUnmatched: number;
  /** QoS 0 messages dropped to slow their sender: over its share while the namespace was behind (fair-share.ts), or over a publish rate (publish-rate.ts). */
  qos0Dropped: number;
  /** QoS 1/2 acknowledgements held back from clients over their share (each sent once they were not). */
  acksHeld: number;
  /** QoS 1/2 messages that waited for a publish rate before they were routed (publish-rate.ts). */
  publishDelayed: number;
}

const counterNames: Array<keyof MetricCounters> = [
  'messagesReceived',
  'messagesSent',
  'bytesReceived',
  'bytesSent',
  'publishReceived',
  'publishSent',
  'publishDropped',
  'connectionsTotal',
  'clientsMaximum',
  'stallsDetected',
  'acksUnmatched',
  'qos0Dropped',
  'acksHeld',
  'publishDelayed',
];

/** How long counters may stay unflushed. */
export const MetricsFlushIntervalMs = 5000;

export class BrokerMetrics {
  readonly counters: MetricCounters;
  /** When this namespace was first created (ms), for uptime. */
  readonly createdAt: number;
  private dirty = false;
  /** The counters as storage has them. */
  private flushed: MetricCounters;

  /**
   * A namespace without storage keeps its counters in memory only: the
   * traffic of connections that never got in is not worth creating storage
   * for (see GatedSql). They are written with the first flush after it has some.
   */
  constructor(
    private readonly sql: GatedSql,
    now: number,
    /** Called after each flush that wrote, with the counters as the flush before left them (the per-minute history rides on it). */
    private readonly onFlushed?: (before: MetricCounters) => void,
  ) {
    sql.exec('CREATE TABLE IF NOT EXISTS metrics (name TEXT PRIMARY KEY, value INTEGER NOT NULL)');
    const stored = new Map(sql.exec('SELECT name, value FROM metrics').toArray().map((row) => [row['name'] as string, row['value'] as number]));
    this.counters = Object.fromEntries(counterNames.map((name) => [name, stored.get(name) ?? 0])) as unknown as MetricCounters;
    this.createdAt = stored.get('createdAt') ?? now;
    this.flushed = { ...this.counters };
  }

  /** True when counters changed since the last flush and there is storage to flush them to. */
  get isDirty(): boolean {
    return this.dirty && this.sql.isMaterialized;
  }

  add(name: keyof MetricCounters, amount = 1): void {
    this.counters[name] += amount;
    this.dirty = true;
  }

  /** Something that is saved with the counters changed (the connection events): the next flush must happen. */
  markDirty(): void {
    this.dirty = true;
  }

  raiseMaximum(connected: number): void {
    if (connected > this.counters.clientsMaximum) {
      this.counters.clientsMaximum = connected;
      this.dirty = true;
    }
  }

  flush(): void {
    if (!this.isDirty) return;
    this.sql.exec(`INSERT INTO metrics (name, value) VALUES ('createdAt', ?) ON CONFLICT (name) DO NOTHING`, this.createdAt);
    // Only the counters that moved: every row written is billed.
    for (const name of counterNames) {
      if (this.counters[name] === this.flushed[name]) continue;
      this.sql.exec('INSERT INTO metrics (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value', name, this.counters[name]);
    }
    this.dirty = false;
    const before = this.flushed;
    this.flushed = { ...this.counters };
    this.onFlushed?.(before);
  }
}
