/**
 * A namespace's traffic per minute, kept in its SQLite for a day: what the
 * dashboard's chart shows beyond the minute a browser has been watching.
 *
 * Each row is a snapshot of the cumulative counters as a minute began:
 * at the first counter flush of a minute, the counters as the flush before
 * left them (what arrived since is this minute's, give or take the few
 * seconds between flushes). A minute's sample is the difference to the
 * next row, or to the live counters for the latest. So:
 * - nothing is written per message: counters already reach storage every
 *   few seconds while they change (metrics.ts), and this adds at most one
 *   row a minute to that flush;
 * - nothing is kept in memory that hibernation could lose: the last row is
 *   the baseline the next one is measured from;
 * - an idle namespace writes nothing and needs no alarm: without a flush
 *   there is no row, and a missing minute means nothing happened in it.
 */
import type { SqlExecutor } from './session-store.ts';
import type { MetricCounters } from './metrics.ts';

/** Rows kept: one day of minutes. */
export const HistoryMinutes = 1440;
const MinuteMs = 60_000;

/** One minute of traffic as the admin API returns it (`GET /admin/<ns>/history`). */
export interface HistorySample {
  /** Start of the minute (ms since the epoch). */
  t: number;
  /** MQTT packets received and sent (as `$SYS/broker/messages/*`). */
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Clients connected when the minute's snapshot was taken. */
  connections: number;
  /** PUBLISH packets dropped (refused, over a queue limit, too large for a client). */
  dropped: number;
  /** Stalls the watchdog detected. */
  stalls: number;
}

/** A row: the cumulative counters as minute `minute` began (the gauge `connections` as it was then). */
type Snapshot = Omit<HistorySample, 't'> & { minute: number };

export class TrafficHistory {
  /** Minute of the newest row; read from storage once, after a wake. */
  private newestMinute: number | null | undefined;

  constructor(private readonly sql: SqlExecutor) {
    sql.exec(`CREATE TABLE IF NOT EXISTS traffic_history (
      minute INTEGER PRIMARY KEY, messages_in INTEGER NOT NULL, messages_out INTEGER NOT NULL,
      bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL, connections INTEGER NOT NULL,
      dropped INTEGER NOT NULL, stalls INTEGER NOT NULL)`);
  }

  /**
   * The counters were just flushed to storage; `before` is what the
   * previous flush had written. The first flush of a minute adds `before`
   * as the minute's starting point and drops rows older than a day. Call
   * only when there is storage (the flush itself checks that).
   */
  record(now: number, before: MetricCounters, connected: number): void {
    const minute = Math.floor(now / MinuteMs);
    if (this.newestMinute === undefined) this.newestMinute = this.readNewestMinute();
    if (this.newestMinute !== null && this.newestMinute >= minute) return;
    const s = snapshotOf(minute, before, connected);
    this.sql.exec(
      `INSERT INTO traffic_history (minute, messages_in, messages_out, bytes_in, bytes_out, connections, dropped, stalls)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (minute) DO NOTHING`,
      s.minute, s.messagesIn, s.messagesOut, s.bytesIn, s.bytesOut, s.connections, s.dropped, s.stalls,
    );
    this.sql.exec('DELETE FROM traffic_history WHERE minute <= ?', minute - HistoryMinutes);
    this.newestMinute = minute;
  }

  /** The samples of the last `minutes` minutes, oldest first; the newest measured against the live counters. */
  samples(now: number, counters: MetricCounters, connected: number, minutes: number): HistorySample[] {
    const since = Math.floor(now / MinuteMs) - minutes + 1;
    const rows = this.sql
      .exec('SELECT * FROM traffic_history WHERE minute >= ? ORDER BY minute', since)
      .toArray()
      .map(snapshotFromRow);
    const live = snapshotOf(Math.floor(now / MinuteMs), counters, connected);
    return rows.map((row, index) => sampleBetween(row, rows[index + 1] ?? live));
  }

  private readNewestMinute(): number | null {
    const row = this.sql.exec('SELECT MAX(minute) AS minute FROM traffic_history').toArray()[0];
    return typeof row?.['minute'] === 'number' ? row['minute'] : null;
  }
}

function snapshotOf(minute: number, c: MetricCounters, connected: number): Snapshot {
  return {
    minute,
    messagesIn: c.messagesReceived,
    messagesOut: c.messagesSent,
    bytesIn: c.bytesReceived,
    bytesOut: c.bytesSent,
    connections: connected,
    dropped: c.publishDropped,
    stalls: c.stallsDetected,
  };
}

function snapshotFromRow(row: Record<string, unknown>): Snapshot {
  const n = (name: string): number => Number(row[name] ?? 0);
  return {
    minute: n('minute'),
    messagesIn: n('messages_in'),
    messagesOut: n('messages_out'),
    bytesIn: n('bytes_in'),
    bytesOut: n('bytes_out'),
    connections: n('connections'),
    dropped: n('dropped'),
    stalls: n('stalls'),
  };
}

/** Counters only grow; max() keeps a sample sane if a crash lost a flush between two snapshots. */
function sampleBetween(from: Snapshot, to: Snapshot): HistorySample {
  const delta = (name: keyof Snapshot): number => Math.max(0, to[name] - from[name]);
  return {
    t: from.minute * MinuteMs,
    messagesIn: delta('messagesIn'),
    messagesOut: delta('messagesOut'),
    bytesIn: delta('bytesIn'),
    bytesOut: delta('bytesOut'),
    connections: from.connections,
    dropped: delta('dropped'),
    stalls: delta('stalls'),
  };
}
