/**
 * Retained messages [MQTT-3.3.1-5..11], behind one interface with two
 * forms: SQLite for clients' messages, memory for the broker's own `$SYS`
 * tree (rewritten every interval: storing it would cost more than it is
 * worth; after a wake the next publish restores it). `RetainedMessages`
 * picks the form by topic, so nothing else special-cases `$SYS`.
 *
 * A new subscription finds its retained messages a page at a time
 * (`page`: topics only, through retained-index.ts), and each message is
 * read when it is sent (`get`), so a payload is in memory only while it is
 * being sent. Every stored message has a generation (`seq`, growing with
 * each put): a replay started at generation g sends only messages of
 * generation g or older; a newer one came after the subscription and was
 * delivered to it live.
 */
import type { QoS } from '../../shared/codec/types.ts';
import { topicMatchesFilter } from '../../shared/topic.ts';
import { isBrokerSystemName } from './access.ts';
import type { Logger } from './log.ts';
import { deserializeProperties, serializeProperties, type BrokerMessage } from './message.ts';
import { RetainedIndex, type WalkPage, type WalkPosition } from './retained-index.ts';
import type { SqlExecutor } from './session-store.ts';

/** What the admin API shows of a retained message: its size and the start of its payload, never all of it. */
export interface RetainedListing {
  topic: string;
  qos: number;
  payloadBytes: number;
  preview: Uint8Array;
}

/** A retained message as read to be sent, with its generation. */
export interface StoredRetained {
  message: BrokerMessage;
  seq: number;
}

/** Bytes of a payload the admin listing reads. */
const PreviewBytes = 200;

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
  /** The message of one topic, payload included; an expired one is deleted and not returned. */
  get(topic: string, now: number): StoredRetained | undefined;
  /** The QoS of one topic's message, its payload left unread. */
  qosOf(topic: string): QoS | undefined;
  /** The generation of one topic's message, if it holds one (read from the index, not the row). */
  generationOf(topic: string): number | undefined;
  /** The generation of the newest message: a replay that starts now sends messages up to it. */
  generation(): number;
  /** The next page of topics `filter` matches after `after` (see RetainedIndex.page). */
  page(filter: string, after: WalkPosition | undefined, limit: number, budget: number): WalkPage;
  /** In topic order, for the admin API. */
  list(limit: number): RetainedListing[];
  count(): number;
}

/** The `$SYS` tree: memory only, a few dozen topics. */
export class MemoryRetainedStore implements RetainedStore {
  private readonly messages = new Map<string, StoredRetained>();
  private seq = 0;

  put(message: BrokerMessage): boolean {
    if (message.payload.byteLength === 0) this.messages.delete(message.topic);
    else this.messages.set(message.topic, { message: { ...message, retain: true }, seq: ++this.seq });
    return true;
  }

  delete(topic: string): boolean {
    return this.messages.delete(topic);
  }

  has(topic: string): boolean {
    return this.messages.has(topic);
  }

  get(topic: string): StoredRetained | undefined {
    return this.messages.get(topic);
  }

  qosOf(topic: string): QoS | undefined {
    return this.messages.get(topic)?.message.qos;
  }

  generationOf(topic: string): number | undefined {
    return this.messages.get(topic)?.seq;
  }

  generation(): number {
    return this.seq;
  }

  page(filter: string, after: WalkPosition | undefined, limit: number): WalkPage {
    const topics = [...this.messages.values()]
      .filter(({ message }) => topicMatchesFilter(filter, message.topic) && (after === undefined || message.topic > after.topic))
      .sort((a, b) => (a.message.topic < b.message.topic ? -1 : 1))
      .slice(0, limit)
      .map(({ message, seq }) => ({ topic: message.topic, seq }));
    const last = topics.at(-1);
    return { topics, next: topics.length < limit || last === undefined ? undefined : { topic: last.topic, past: false }, read: this.messages.size };
  }

  list(limit: number): RetainedListing[] {
    return [...this.messages.values()]
      .map(({ message }) => ({ topic: message.topic, qos: message.qos, payloadBytes: message.payload.byteLength, preview: message.payload.subarray(0, PreviewBytes) }))
      .sort((a, b) => (a.topic < b.topic ? -1 : 1))
      .slice(0, limit);
  }

  count(): number {
    return this.messages.size;
  }
}

/**
 * The generation and the small columns before the payload, so that reading
 * them never walks a large payload's overflow pages (a namespace from
 * before generations gets `seq` appended, and reads it through the index).
 */
const Schema = [
  `CREATE TABLE IF NOT EXISTS retained (
     topic TEXT PRIMARY KEY,
     seq INTEGER,
     qos INTEGER NOT NULL,
     expires_at INTEGER,
     properties TEXT,
     payload BLOB NOT NULL)`,
];
/** After the column exists: topics and generations, read by the index's walks without the rows. */
const GenerationIndex = 'CREATE INDEX IF NOT EXISTS retained_generations ON retained (topic, seq)';

/** The size a retained message counts for: payload and topic (what storage holds of it). */
function sizeOf(message: BrokerMessage): number {
  return message.payload.byteLength + message.topic.length;
}

/** Clients' retained messages in SQLite: at most `maxRetainedMessages` topics and `maxRetainedBytes` bytes. */
export class SqlRetainedStore implements RetainedStore {
  /** Counted once, then kept up to date. */
  private counted: { messages: number; bytes: number } | undefined;
  /** The newest generation, read once, then counted here. */
  private seq: number | undefined;
  private readonly index: RetainedIndex;

  constructor(
    private readonly sql: SqlExecutor,
    private readonly limits: { maxRetainedMessages: number; maxRetainedBytes: number },
    private readonly log: Logger,
  ) {
    for (const statement of Schema) sql.exec(statement);
    const columns = sql.exec('PRAGMA table_info(retained)').toArray().map((row) => row['name']);
    if (columns.length > 0 && !columns.includes('seq')) sql.exec('ALTER TABLE retained ADD COLUMN seq INTEGER');
    sql.exec(GenerationIndex);
    this.index = new RetainedIndex(sql);
    if (this.index.needsBuilding()) {
      this.index.build();
      log.log('info', 'retained_index_built', { topics: this.count() });
    }
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
      `INSERT INTO retained (topic, seq, qos, expires_at, properties, payload) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (topic) DO UPDATE SET seq = excluded.seq, qos = excluded.qos, expires_at = excluded.expires_at,
         properties = excluded.properties, payload = excluded.payload`,
      message.topic, this.generation() + 1, message.qos, message.expiresAt ?? null, serializeProperties(message.properties), message.payload,
    );
    this.seq = this.generation() + 1;
    if (existing === undefined) this.index.add(message.topic);
    this.counted = { messages, bytes };
    return true;
  }

  delete(topic: string): boolean {
    const row = this.sql.exec('DELETE FROM retained WHERE topic = ? RETURNING length(payload) + length(topic) AS size', topic).toArray()[0];
    if (row === undefined) return false;
    this.index.remove(topic);
    if (this.counted !== undefined) this.counted = { messages: this.counted.messages - 1, bytes: this.counted.bytes - (row['size'] as number) };
    return true;
  }

  has(topic: string): boolean {
    return this.sql.exec('SELECT 1 FROM retained WHERE topic = ?', topic).toArray().length > 0;
  }

  get(topic: string, now: number): StoredRetained | undefined {
    const row = this.sql.exec('SELECT * FROM retained WHERE topic = ?', topic).toArray()[0];
    if (row === undefined) return undefined;
    const stored = { message: retainedFromRow(row), seq: (row['seq'] as number | null) ?? 0 };
    if (stored.message.expiresAt !== undefined && stored.message.expiresAt <= now) {
      this.delete(topic);
      return undefined;
    }
    return stored;
  }

  qosOf(topic: string): QoS | undefined {
    return this.sql.exec('SELECT qos FROM retained WHERE topic = ?', topic).toArray()[0]?.['qos'] as QoS | undefined;
  }

  generationOf(topic: string): number | undefined {
    const row = this.sql.exec('SELECT seq FROM retained WHERE topic = ?', topic).toArray()[0];
    return row === undefined ? undefined : ((row['seq'] as number | null) ?? 0);
  }

  generation(): number {
    if (this.seq === undefined) {
      const row = this.sql.exec('SELECT MAX(seq) AS seq FROM retained').toArray()[0];
      this.seq = typeof row?.['seq'] === 'number' ? row['seq'] : 0;
    }
    return this.seq;
  }

  page(filter: string, after: WalkPosition | undefined, limit: number, budget: number): WalkPage {
    return this.index.page(filter, after, limit, budget);
  }

  list(limit: number): RetainedListing[] {
    return this.sql
      .exec('SELECT topic, qos, length(payload) AS bytes, substr(payload, 1, ?) AS preview FROM retained ORDER BY topic LIMIT ?', PreviewBytes, limit)
      .toArray()
      .map((row) => ({ topic: row['topic'] as string, qos: row['qos'] as number, payloadBytes: row['bytes'] as number, preview: bytesOf(row['preview']) }));
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
}

function bytesOf(value: unknown): Uint8Array {
  return value instanceof ArrayBuffer ? new Uint8Array(value) : value instanceof Uint8Array ? value : new Uint8Array(0);
}

function retainedFromRow(row: Record<string, unknown>): BrokerMessage {
  const message: BrokerMessage = { topic: row['topic'] as string, payload: bytesOf(row['payload']), qos: row['qos'] as BrokerMessage['qos'], retain: true };
  const properties = deserializeProperties(row['properties'] as string | null);
  if (properties !== undefined) message.properties = properties;
  if (typeof row['expires_at'] === 'number') message.expiresAt = row['expires_at'];
  return message;
}

/**
 * Clients' retained messages in SQLite and the broker's `$SYS` ones in
 * memory, as one store. The one `$SYS` subtree clients write, the bridges'
 * connection states (access.ts), is theirs: in SQLite, kept through
 * restarts as any client's retained message.
 */
export class RetainedMessages {
  constructor(
    private readonly clients: RetainedStore,
    private readonly system: RetainedStore = new MemoryRetainedStore(),
  ) {}

  private storeOf(topic: string): RetainedStore {
    return isBrokerSystemName(topic) ? this.system : this.clients;
  }

  /**
   * The store a filter's topics are in: `$SYS` topics can only match a
   * filter that starts with `$SYS` [MQTT-4.7.2-1]. Under
   * `$SYS/broker/connection/` they are the clients' (bridges' states), any
   * other `$SYS` filter finds the broker's own. A filter over both
   * (`$SYS/#`) gets the bridges' states live but not from the store when it
   * subscribes: a replay follows one store's generations.
   */
  private storeOfFilter(filter: string): RetainedStore {
    return isBrokerSystemName(filter) ? this.system : this.clients;
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

  get(topic: string, now: number): StoredRetained | undefined {
    return this.storeOf(topic).get(topic, now);
  }

  qosOf(topic: string): QoS | undefined {
    return this.storeOf(topic).qosOf(topic);
  }

  generationOf(topic: string): number | undefined {
    return this.storeOf(topic).generationOf(topic);
  }

  generation(filter: string): number {
    return this.storeOfFilter(filter).generation();
  }

  page(filter: string, after: WalkPosition | undefined, limit: number, budget: number): WalkPage {
    return this.storeOfFilter(filter).page(filter, after, limit, budget);
  }

  list(limit: number): RetainedListing[] {
    return [...this.clients.list(limit), ...this.system.list(limit)].slice(0, limit);
  }

  count(): number {
    return this.clients.count() + this.system.count();
  }
}
