/**
 * Retained messages [MQTT-3.3.1-5..11], behind one interface with two
 * forms: SQLite for clients' messages, memory for the broker's own `$SYS`
 * tree (rewritten every interval: storing it would cost more than it is
 * worth; after a wake the next publish restores it). `RetainedMessages`
 * picks the form by topic, so nothing else special-cases `$SYS`.
 */
import { topicMatchesFilter } from '../../shared/topic.ts';
import type { Logger } from './log.ts';
import { deserializeProperties, serializeProperties, type BrokerMessage } from './message.ts';
import type { SqlExecutor } from './session-store.ts';

export interface RetainedStore {
  /**
   * Stores (or, with an empty payload, deletes) the retained message of its
   * topic. Returns false when it was refused (a limit).
   */
  put(message: BrokerMessage): boolean;
  /** Deletes the retained message of one topic; false if there was none. */
  delete(topic: string): boolean;
  /** Whether `topic` holds a retained message (nothing is read but that). */
  has(topic: string): boolean;
  /** Retained messages a new subscription with this filter gets; expired ones are deleted on the way. */
  matching(filter: string, now: number): BrokerMessage[];
  /** In topic order, for the admin API. */
  list(limit: number): BrokerMessage[];
  count(): number;
}

/** The `$SYS` tree: memory only. */
export class MemoryRetainedStore implements RetainedStore {
  private readonly messages = new Map<string, BrokerMessage>();

  put(message: BrokerMessage): boolean {
    if (message.payload.byteLength === 0) this.messages.delete(message.topic);
    else this.messages.set(message.topic, { ...message, retain: true });
    return true;
  }

  delete(topic: string): boolean {
    return this.messages.delete(topic);
  }

  has(topic: string): boolean {
    return this.messages.has(topic);
  }

  matching(filter: string): BrokerMessage[] {
    return [...this.messages.values()].filter((message) => topicMatchesFilter(filter, message.topic));
  }

  list(limit: number): BrokerMessage[] {
    return [...this.messages.values()].sort((a, b) => (a.topic < b.topic ? -1 : 1)).slice(0, limit);
  }

  count(): number {
    return this.messages.size;
  }
}

const Schema = `CREATE TABLE IF NOT EXISTS retained (
  topic TEXT PRIMARY KEY,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  properties TEXT,
  expires_at INTEGER)`;

/** The size a retained message counts for: payload and topic (what storage holds of it). */
function sizeOf(message: BrokerMessage): number {
  return message.payload.byteLength + message.topic.length;
}

/** Clients' retained messages in SQLite: at most `maxRetainedMessages` topics and `maxRetainedBytes` bytes. */
export class SqlRetainedStore implements RetainedStore {
  /** Counted once, then kept up to date. */
  private counted: { messages: number; bytes: number } | undefined;

  constructor(
    private readonly sql: SqlExecutor,
    private readonly limits: { maxRetainedMessages: number; maxRetainedBytes: number },
    private readonly log: Logger,
  ) {
    sql.exec(Schema);
  }

  put(message: BrokerMessage): boolean {
    const existing = this.storedSize(message.topic);
    if (message.payload.byteLength === 0) {
      // [MQTT-3.3.1-10] an empty retained message deletes the retained one.
      if (existing !== undefined) this.delete(message.topic);
      return true;
    }
    const totals = this.totals();
    const messages = totals.messages + (existing === undefined ? 1 : 0);
    const bytes = totals.bytes - (existing ?? 0) + sizeOf(message);
    if (messages > this.limits.maxRetainedMessages || bytes > this.limits.maxRetainedBytes) {
      // The namespace's budget is spent: the message is delivered, just not retained.
      this.log.log('warn', 'retained_limit', { topic: message.topic, messages: totals.messages, bytes: totals.bytes });
      return false;
    }
    this.sql.exec(
      `INSERT INTO retained (topic, payload, qos, properties, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (topic) DO UPDATE SET payload = excluded.payload, qos = excluded.qos,
         properties = excluded.properties, expires_at = excluded.expires_at`,
      message.topic, message.payload, message.qos, serializeProperties(message.properties), message.expiresAt ?? null,
    );
    this.counted = { messages, bytes };
    return true;
  }

  delete(topic: string): boolean {
    const row = this.sql.exec('DELETE FROM retained WHERE topic = ? RETURNING length(payload) + length(topic) AS size', topic).toArray()[0];
    if (row === undefined) return false;
    if (this.counted !== undefined) this.counted = { messages: this.counted.messages - 1, bytes: this.counted.bytes - (row['size'] as number) };
    return true;
  }

  has(topic: string): boolean {
    return this.sql.exec('SELECT 1 FROM retained WHERE topic = ?', topic).toArray().length > 0;
  }

  matching(filter: string, now: number): BrokerMessage[] {
    const wildcardAt = filter.search(/[+#]/);
    // Only the topics under the filter's literal prefix are read, not the whole table.
    const candidates = wildcardAt < 0 ? this.exact(filter) : this.withPrefix(filter.slice(0, wildcardAt));
    // 'a/#' also matches 'a' itself, which sorts outside the prefix 'a/' [MQTT-4.7.1-2].
    if (wildcardAt > 0 && filter[wildcardAt] === '#') candidates.push(...this.exact(filter.slice(0, wildcardAt - 1)));
    const matching: BrokerMessage[] = [];
    for (const message of candidates) {
      if (wildcardAt >= 0 && !topicMatchesFilter(filter, message.topic)) continue;
      if (message.expiresAt !== undefined && message.expiresAt <= now) {
        this.delete(message.topic);
        continue;
      }
      matching.push(message);
    }
    return matching;
  }

  list(limit: number): BrokerMessage[] {
    return this.rows('SELECT * FROM retained ORDER BY topic LIMIT ?', limit);
  }

  count(): number {
    return this.totals().messages;
  }

  private totals(): { messages: number; bytes: number } {
    if (this.counted === undefined) {
      // One read of the cursor: a Durable Object's SQL cursor is consumed by toArray().
      const row = this.sql.exec('SELECT COUNT(*) AS n, COALESCE(SUM(length(payload) + length(topic)), 0) AS bytes FROM retained').toArray()[0];
      this.counted = { messages: typeof row?.['n'] === 'number' ? row['n'] : 0, bytes: typeof row?.['bytes'] === 'number' ? row['bytes'] : 0 };
    }
    return this.counted;
  }

  private storedSize(topic: string): number | undefined {
    const row = this.sql.exec('SELECT length(payload) + length(topic) AS size FROM retained WHERE topic = ?', topic).toArray()[0];
    return row === undefined ? undefined : (row['size'] as number);
  }

  private exact(topic: string): BrokerMessage[] {
    return this.rows('SELECT * FROM retained WHERE topic = ?', topic);
  }

  /**
   * The topics under the literal prefix of a wildcard filter, as a range
   * scan on the primary key. Wildcards fill whole levels, so the prefix is
   * empty or ends with '/', and every topic under it sorts before the same
   * text with '/' raised to '0'.
   */
  private withPrefix(prefix: string): BrokerMessage[] {
    if (prefix === '') return this.rows('SELECT * FROM retained');
    if (!prefix.endsWith('/')) throw new Error(`retained prefix must end with '/': ${prefix}`);
    return this.rows('SELECT * FROM retained WHERE topic >= ? AND topic < ?', prefix, `${prefix.slice(0, -1)}0`);
  }

  private rows(query: string, ...bindings: unknown[]): BrokerMessage[] {
    return this.sql.exec(query, ...bindings).toArray().map(retainedFromRow);
  }
}

function retainedFromRow(row: Record<string, unknown>): BrokerMessage {
  const payload = row['payload'];
  const message: BrokerMessage = {
    topic: row['topic'] as string,
    payload: payload instanceof ArrayBuffer ? new Uint8Array(payload) : payload instanceof Uint8Array ? payload : new Uint8Array(0),
    qos: row['qos'] as BrokerMessage['qos'],
    retain: true,
  };
  const properties = deserializeProperties(row['properties'] as string | null);
  if (properties !== undefined) message.properties = properties;
  if (typeof row['expires_at'] === 'number') message.expiresAt = row['expires_at'];
  return message;
}

/** Clients' retained messages in SQLite and the broker's `$SYS` ones in memory, as one store. */
export class RetainedMessages implements RetainedStore {
  constructor(
    private readonly clients: RetainedStore,
    private readonly system: RetainedStore = new MemoryRetainedStore(),
  ) {}

  private storeOf(topic: string): RetainedStore {
    return topic.startsWith('$SYS/') ? this.system : this.clients;
  }

  put(message: BrokerMessage): boolean {
    return this.storeOf(message.topic).put(message);
  }

  delete(topic: string): boolean {
    return this.storeOf(topic).delete(topic);
  }

  has(topic: string): boolean {
    return this.storeOf(topic).has(topic);
  }

  matching(filter: string, now: number): BrokerMessage[] {
    // $SYS topics can only match filters that start with $SYS [MQTT-4.7.2-1].
    return filter.startsWith('$SYS') ? [...this.clients.matching(filter, now), ...this.system.matching(filter, now)] : this.clients.matching(filter, now);
  }

  list(limit: number): BrokerMessage[] {
    return [...this.clients.list(limit), ...this.system.list(limit)].slice(0, limit);
  }

  count(): number {
    return this.clients.count() + this.system.count();
  }
}
