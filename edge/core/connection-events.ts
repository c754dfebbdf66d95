/**
 * The namespace's last refusals and disconnect causes, for the dashboard
 * and `GET /admin/<ns>/events`: the connection events of
 * shared/connection-log.ts that say why a client could not connect or
 * went away, with who it was and from where (never a password or a
 * payload: the events carry neither).
 *
 * What it costs:
 * - nothing in storage per event: an event is kept in memory and written
 *   with the namespace's counter flush (metrics.ts, every few seconds while
 *   anything changes), all events since the last flush as one row;
 * - bounded: at most `capacity` events in memory and, in SQLite, only the
 *   rows that hold the newest `capacity` events (older rows are deleted as
 *   newer ones arrive), so at most `capacity` rows, usually a handful;
 * - read only when asked for (and then kept in memory until the object
 *   sleeps).
 * A crash loses at most the events since the last flush, as it loses the
 * counters'. A namespace without storage (it never accepted a client, see
 * gated-sql.ts) keeps its events in memory only: a refusal must not be a
 * way to create storage.
 */
import type { ConnectionEvent, ConnectionFacts } from '../../shared/connection-log.ts';
import type { ConnectionEventEntry, EventQuery, RecordedEvent } from './readouts.ts';
import type { SqlExecutor } from './session-store.ts';

/** The events kept: every way a connection is refused or ends, and the warnings that come before an end. */
export const RecordedEvents = ['connection.refused', 'connection.closed', 'connection.protocol-error', 'connection.keepalive-timeout', 'connection.taken-over'] as const satisfies readonly (ConnectionEvent & RecordedEvent)[];

/** Events kept per namespace. */
export const EventLogCapacity = 500;
/** Client-supplied text (a client id may be 64 KiB) is cut to this many characters. */
const MaxTextLength = 256;

const Schema = `CREATE TABLE IF NOT EXISTS connection_events (
  seq INTEGER PRIMARY KEY,
  count INTEGER NOT NULL,
  events TEXT NOT NULL)`;

export function isRecordedEvent(name: string): name is RecordedEvent {
  return (RecordedEvents as readonly string[]).includes(name);
}

export class ConnectionEventLog {
  /** Events not in storage yet, oldest first. */
  private unsaved: ConnectionEventEntry[] = [];
  /** Events in storage, oldest first; read when first asked for after a wake. */
  private saved: ConnectionEventEntry[] | undefined;
  /** The rows in storage (each a batch of events), oldest first; read at the first save after a wake. */
  private rows: Array<{ seq: number; count: number }> | undefined;

  constructor(
    private readonly sql: SqlExecutor,
    private readonly now: () => number,
    /** An event arrived: the counter flush that saves it must happen. */
    private readonly changed: () => void,
    private readonly capacity = EventLogCapacity,
  ) {
    sql.exec(Schema);
  }

  /** Events not written yet (they are with the next counter flush). */
  get unsavedCount(): number {
    return this.unsaved.length;
  }

  /** A connection event was logged: kept if it is one of the recorded kinds. */
  note(event: ConnectionEvent, facts: ConnectionFacts): void {
    if (!isRecordedEvent(event)) return;
    this.unsaved.push(entryOf(this.now(), event, facts));
    // More than a whole log before a flush: the oldest would be deleted right after being written.
    if (this.unsaved.length > this.capacity) this.unsaved.splice(0, this.unsaved.length - this.capacity);
    this.changed();
  }

  /** The newest events first, at most `query.limit`, of the asked types and reason. */
  list(query: EventQuery): ConnectionEventEntry[] {
    const types = query.types === undefined || query.types.length === 0 ? undefined : new Set<string>(query.types);
    const all = [...this.savedEntries(), ...this.unsaved];
    const found: ConnectionEventEntry[] = [];
    for (let i = all.length - 1; i >= 0 && found.length < query.limit; i--) {
      const entry = all[i] as ConnectionEventEntry;
      if (types !== undefined && !types.has(entry.event)) continue;
      if (query.reason !== undefined && entry.reason !== query.reason) continue;
      found.push(entry);
    }
    return found;
  }

  /**
   * Writes the unsaved events as one row, then deletes the rows that hold
   * none of the newest `capacity` events. Called by the counter flush, which
   * happens only when the namespace has storage.
   */
  save(): void {
    if (this.unsaved.length === 0) return;
    const rows = (this.rows ??= this.readRows());
    const seq = (rows[rows.length - 1]?.seq ?? 0) + 1;
    this.sql.exec('INSERT INTO connection_events (seq, count, events) VALUES (?, ?, ?)', seq, this.unsaved.length, JSON.stringify(this.unsaved));
    rows.push({ seq, count: this.unsaved.length });
    // From the newest row back until the rows hold `capacity` events: the older ones hold none worth keeping.
    let covered = 0;
    let oldestNeeded = rows.length;
    while (oldestNeeded > 0 && covered < this.capacity) covered += (rows[--oldestNeeded] as { count: number }).count;
    if (oldestNeeded > 0) {
      this.sql.exec('DELETE FROM connection_events WHERE seq < ?', (rows[oldestNeeded] as { seq: number }).seq);
      rows.splice(0, oldestNeeded);
    }
    if (this.saved !== undefined) this.saved = [...this.saved, ...this.unsaved].slice(-this.capacity);
    this.unsaved = [];
  }

  private savedEntries(): ConnectionEventEntry[] {
    if (this.saved !== undefined) return this.saved;
    const batches = this.sql.exec('SELECT events FROM connection_events ORDER BY seq').toArray();
    this.saved = batches.flatMap((row) => parseBatch(row['events'])).slice(-this.capacity);
    return this.saved;
  }

  private readRows(): Array<{ seq: number; count: number }> {
    return this.sql
      .exec('SELECT seq, count FROM connection_events ORDER BY seq')
      .toArray()
      .map((row) => ({ seq: row['seq'] as number, count: row['count'] as number }));
  }
}

/** What an event's line says, as an entry; texts cut to size. */
function entryOf(at: number, event: RecordedEvent, facts: ConnectionFacts): ConnectionEventEntry {
  const entry: ConnectionEventEntry = { at, event };
  const text = (value: string | undefined): string | undefined => (value === undefined ? undefined : value.slice(0, MaxTextLength));
  const set = <K extends keyof ConnectionEventEntry>(key: K, value: ConnectionEventEntry[K] | undefined): void => {
    if (value !== undefined) entry[key] = value;
  };
  set('clientId', text(facts.client));
  set('username', text(facts.username));
  set('remoteAddress', text(facts.remote));
  set('transport', facts.transport);
  set('protocolLevel', facts.protocol);
  set('reason', text(facts.reason));
  set('code', facts.code);
  set('error', text(facts.error));
  return entry;
}

/** A stored batch; a row that does not parse (it cannot happen, but must not break the list) is empty. */
function parseBatch(value: unknown): ConnectionEventEntry[] {
  if (typeof value !== 'string') return [];
  try {
    const parsed = JSON.parse(value) as unknown;
    return Array.isArray(parsed) ? (parsed as ConnectionEventEntry[]) : [];
  } catch {
    return [];
  }
}
