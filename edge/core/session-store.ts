/**
 * Durable state of one namespace's sessions in SQLite: sessions,
 * subscriptions, the outbound QoS 1/2 queue (queued and in flight), inbound
 * QoS 2 packet ids awaiting PUBREL, and what a connection keeps beyond its
 * attachment (partial packets, topic aliases, grants, a CONNECT awaiting
 * AUTH). Retained messages are in retained.ts.
 *
 * Every method is synchronous: Durable Object SQLite runs in-process, and
 * writes made before the next `await` commit together, with the runtime
 * holding outgoing messages until they are durable. So an acknowledgement
 * sent after a write here is never ahead of the data it acknowledges.
 */
import type { QoS } from '../../shared/codec/types.ts';
import { decodeBase64, encodeBase64 } from '../../shared/base64.ts';
import { deserializeProperties, serializeProperties, type BrokerMessage } from './message.ts';
import type { SubscriptionEntry } from './topic-tree.ts';
import type { Identity } from './access.ts';

/** The slice of Durable Object `SqlStorage` the store needs. */
export interface SqlExecutor {
  exec(query: string, ...bindings: unknown[]): { toArray(): Record<string, unknown>[]; readonly rowsWritten: number };
}

/** Session expiry interval meaning "never expires" [MQTT-3.1.2-23]. */
export const SessionNeverExpires = 0xffffffff;

export interface SessionRecord {
  clientId: string;
  protocolLevel: 3 | 4 | 5;
  /** Seconds after disconnect; 0 ends the session with the connection. */
  expiryInterval: number;
  /** Id of the live connection, undefined while offline. */
  connectionId?: string;
  disconnectedAt?: number;
  will?: BrokerMessage & { delaySeconds: number };
  /** When a delayed will fires (ms), while offline. */
  willAt?: number;
  /** Who the session belongs to, for access control (its last connection's identity). */
  identity?: Identity;
}

/**
 * Outbound message states, in the order a QoS 2 message walks them;
 * ResendWaiting: sent on an earlier connection, its packet id kept, waiting
 * for room in the window to be resent (DUP).
 */
/** One session as the admin list reads it. */
export interface SessionListing {
  clientId: string;
  protocolLevel: 3 | 4 | 5;
  expiryInterval: number;
  disconnectedAt?: number;
  willTopic?: string;
  /** The username it authenticated with, if any. */
  username?: string;
}

/**
 * Which sessions an admin search selects: those whose client id or
 * username contains `text` (SQLite's LIKE: ASCII letters match in either
 * case), and those of `clientIds` (clients matched on what only memory
 * knows, such as a connected client's address).
 */
export interface SessionMatch {
  text: string;
  clientIds: readonly string[];
}

/** The WHERE clause (with a leading space) and its bindings for `match`; nothing for none. */
function sessionFilter(match: SessionMatch | undefined): { where: string; bindings: unknown[] } {
  if (match === undefined) return { where: '', bindings: [] };
  const pattern = `%${escapeLike(match.text)}%`;
  return {
    // One binding for the id list however long it is (SQLite caps the number of bindings).
    where: ` WHERE client_id LIKE ? ESCAPE '\\' OR json_extract(identity, '$.username') LIKE ? ESCAPE '\\' OR client_id IN (SELECT value FROM json_each(?))`,
    bindings: [pattern, pattern, JSON.stringify(match.clientIds)],
  };
}

/** `text` as a LIKE pattern that matches it literally: `%`, `_` and the escape character itself escaped. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

export const OutboundState = { Queued: 0, PublishSent: 1, PubrelSent: 2, ResendWaiting: 3 } as const;
export type OutboundState = (typeof OutboundState)[keyof typeof OutboundState];

export interface OutboundRecord {
  id: number;
  clientId: string;
  packetId?: number;
  state: OutboundState;
  message: BrokerMessage;
  /** Subscription identifiers to deliver with the message (MQTT 5). */
  subscriptionIds: number[];
  /** `$share/g/f` when the message came to this client as a member of that group. */
  shareFilter?: string;
}

/** An outbound row without its message: what the window and the queue are counted and walked by. */
export interface OutboundHead {
  id: number;
  topic: string;
  packetId?: number;
  state: OutboundState;
  shareFilter?: string;
}

/**
 * A subscription whose retained messages are still being sent (QoS 1 and
 * 2: they are owed, so the position is stored with the subscription and
 * survives a reconnect or a restart): generation `seq` and older, after
 * `after` in the index's walk order.
 */
export interface StoredReplay {
  entry: SubscriptionEntry;
  seq: number;
  after?: { topic: string; past: boolean };
}

const schema = [
  `CREATE TABLE IF NOT EXISTS sessions (
     client_id TEXT PRIMARY KEY,
     protocol_level INTEGER NOT NULL,
     expiry_interval INTEGER NOT NULL,
     connection_id TEXT,
     disconnected_at INTEGER,
     will TEXT,
     will_at INTEGER,
     identity TEXT)`,
  `CREATE TABLE IF NOT EXISTS subscriptions (
     client_id TEXT NOT NULL,
     filter TEXT NOT NULL,
     qos INTEGER NOT NULL,
     no_local INTEGER NOT NULL,
     retain_as_published INTEGER NOT NULL,
     retain_handling INTEGER NOT NULL,
     subscription_id INTEGER,
     share_group TEXT,
     read_check INTEGER NOT NULL DEFAULT 0,
     replay_seq INTEGER,
     replay_after TEXT,
     replay_past INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (client_id, filter))`,
  `CREATE TABLE IF NOT EXISTS outbound (
     id INTEGER PRIMARY KEY,
     client_id TEXT NOT NULL,
     packet_id INTEGER,
     state INTEGER NOT NULL,
     topic TEXT NOT NULL,
     payload BLOB NOT NULL,
     qos INTEGER NOT NULL,
     retain INTEGER NOT NULL,
     properties TEXT,
     expires_at INTEGER,
     subscription_ids TEXT,
     share_filter TEXT)`,
  `CREATE INDEX IF NOT EXISTS outbound_by_client ON outbound (client_id, id)`,
  // A client's next queued message is one seek, however many of its messages are in flight before it.
  `CREATE INDEX IF NOT EXISTS outbound_by_state ON outbound (client_id, state, id)`,
  `CREATE TABLE IF NOT EXISTS inbound_qos2 (
     client_id TEXT NOT NULL,
     packet_id INTEGER NOT NULL,
     PRIMARY KEY (client_id, packet_id))`,
  `CREATE TABLE IF NOT EXISTS partial_packets (
     connection_id TEXT PRIMARY KEY,
     bytes BLOB NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS partial_chunks (
     connection_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     bytes BLOB NOT NULL,
     PRIMARY KEY (connection_id, seq))`,
  `CREATE TABLE IF NOT EXISTS pending_connects (
     connection_id TEXT PRIMARY KEY,
     packet BLOB NOT NULL)`,
  // Topic grants per connection were stored here until access control was reworked (b9cbd14); nothing has read them since.
  `DROP TABLE IF EXISTS connection_grants`,
  `CREATE TABLE IF NOT EXISTS topic_aliases (
     connection_id TEXT NOT NULL,
     alias INTEGER NOT NULL,
     topic TEXT NOT NULL,
     PRIMARY KEY (connection_id, alias))`,
];

/** Columns added after the first release: stores created earlier get them on open. */
const addedColumns: Array<[table: string, column: string, type: string]> = [
  ['outbound', 'share_filter', 'TEXT'],
  ['sessions', 'identity', 'TEXT'],
  ['subscriptions', 'read_check', 'INTEGER NOT NULL DEFAULT 0'],
  ['subscriptions', 'replay_seq', 'INTEGER'],
  ['subscriptions', 'replay_after', 'TEXT'],
  ['subscriptions', 'replay_past', 'INTEGER NOT NULL DEFAULT 0'],
];

/** The `n` of a `SELECT COUNT(*) AS n`; 0 when there is no row (a namespace without storage yet). */
export function countOf(result: { toArray(): Record<string, unknown>[] }): number {
  const value = result.toArray()[0]?.['n'];
  return typeof value === 'number' ? value : 0;
}

function toUint8(value: unknown): Uint8Array {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (value instanceof Uint8Array) return value;
  return new Uint8Array(0);
}

function optionalNumber(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

function messageFromRow(row: Record<string, unknown>): BrokerMessage {
  const message: BrokerMessage = {
    topic: row['topic'] as string,
    payload: toUint8(row['payload']),
    qos: row['qos'] as QoS,
    retain: row['retain'] === 1,
  };
  const properties = deserializeProperties(row['properties'] as string | null);
  if (properties !== undefined) message.properties = properties;
  const expiresAt = optionalNumber(row['expires_at']);
  if (expiresAt !== undefined) message.expiresAt = expiresAt;
  return message;
}

export class SessionStore {
  /**
   * Messages and bytes queued per client, once counted: a deep queue must not
   * be scanned again for every message added to it (that made a queue of n
   * messages cost n² rows read). Kept exact by the statements that add,
   * send and drop queued rows; any other change to a client's rows forgets
   * its entry, and the next use counts again.
   */
  private readonly queueUsageCache = new Map<string, { count: number; bytes: number }>();

  /**
   * Per client, the row of each packet id in flight, once read: an
   * acknowledgement finds its row by primary key instead of scanning the
   * client's rows, which with a deep queue made each PUBACK cost the whole
   * queue (65 % of the object's CPU at fan-in, in a profile). Authoritative
   * once loaded: every statement that gives a row a packet id or removes one
   * keeps it, so an acknowledgement for an id not in it is unknown, at no cost.
   */
  private readonly packetRows = new Map<string, Map<number, number>>();

  /** Bytes queued in the whole namespace (payloads and topics), once counted; kept exact as queueUsageCache is. */
  private namespaceQueued: number | undefined;

  constructor(private readonly sql: SqlExecutor) {
    for (const statement of schema) sql.exec(statement);
    for (const [table, column, type] of addedColumns) {
      const columns = sql.exec(`PRAGMA table_info(${table})`).toArray().map((row) => row['name']);
      if (!columns.includes(column)) sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
  }

  // ---- sessions -------------------------------------------------------

  getSession(clientId: string): SessionRecord | undefined {
    const row = this.sql.exec('SELECT * FROM sessions WHERE client_id = ?', clientId).toArray()[0];
    if (row === undefined) return undefined;
    const record: SessionRecord = {
      clientId,
      protocolLevel: row['protocol_level'] as 3 | 4 | 5,
      expiryInterval: row['expiry_interval'] as number,
    };
    if (typeof row['connection_id'] === 'string') record.connectionId = row['connection_id'];
    const disconnectedAt = optionalNumber(row['disconnected_at']);
    if (disconnectedAt !== undefined) record.disconnectedAt = disconnectedAt;
    if (typeof row['will'] === 'string') {
      const stored = JSON.parse(row['will']) as { message: Record<string, unknown>; delaySeconds: number; senderClientId?: string };
      const will = { ...messageFromRow({ ...stored.message, payload: decodeBase64(stored.message['payload'] as string) ?? new Uint8Array(0) }), delaySeconds: stored.delaySeconds };
      if (stored.senderClientId !== undefined) will.senderClientId = stored.senderClientId;
      record.will = will;
    }
    const willAt = optionalNumber(row['will_at']);
    if (willAt !== undefined) record.willAt = willAt;
    if (typeof row['identity'] === 'string') record.identity = JSON.parse(row['identity']) as Identity;
    return record;
  }

  /** Creates or replaces the session row for a client that just connected. */
  saveConnectedSession(record: SessionRecord): void {
    let will: string | null = null;
    if (record.will !== undefined) {
      const w = record.will;
      will = JSON.stringify({
        message: {
          topic: w.topic,
          payload: encodeBase64(w.payload),
          qos: w.qos,
          retain: w.retain ? 1 : 0,
          properties: serializeProperties(w.properties),
          expires_at: w.expiresAt ?? null,
        },
        delaySeconds: w.delaySeconds,
        senderClientId: w.senderClientId,
      });
    }
    this.sql.exec(
      `INSERT INTO sessions (client_id, protocol_level, expiry_interval, connection_id, disconnected_at, will, will_at, identity)
       VALUES (?, ?, ?, ?, NULL, ?, NULL, ?)
       ON CONFLICT (client_id) DO UPDATE SET protocol_level = excluded.protocol_level,
         expiry_interval = excluded.expiry_interval, connection_id = excluded.connection_id,
         disconnected_at = NULL, will = excluded.will, will_at = NULL, identity = excluded.identity`,
      record.clientId, record.protocolLevel, record.expiryInterval, record.connectionId ?? null, will,
      record.identity === undefined ? null : JSON.stringify(record.identity),
    );
  }

  /** Sessions, all of them or those `match` selects. */
  countSessions(match?: SessionMatch): number {
    const filter = sessionFilter(match);
    return countOf(this.sql.exec(`SELECT COUNT(*) AS n FROM sessions${filter.where}`, ...filter.bindings));
  }

  /**
   * Sessions for the admin API, online ones first, then by client id: a
   * page of `limit` from `offset`, all sessions or those `match` selects.
   * What the list shows of each, without decoding its will (only the topic
   * is read out of it).
   */
  listSessions(limit: number, offset = 0, match?: SessionMatch): SessionListing[] {
    const filter = sessionFilter(match);
    return this.sql
      .exec(
        `SELECT client_id, protocol_level, expiry_interval, disconnected_at,
           json_extract(will, '$.message.topic') AS will_topic, json_extract(identity, '$.username') AS username
         FROM sessions${filter.where} ORDER BY connection_id IS NULL, client_id LIMIT ? OFFSET ?`,
        ...filter.bindings,
        limit,
        offset,
      )
      .toArray()
      .map((row) => {
        const listing: SessionListing = { clientId: row['client_id'] as string, protocolLevel: row['protocol_level'] as 3 | 4 | 5, expiryInterval: row['expiry_interval'] as number };
        const disconnectedAt = optionalNumber(row['disconnected_at']);
        if (disconnectedAt !== undefined) listing.disconnectedAt = disconnectedAt;
        if (typeof row['will_topic'] === 'string') listing.willTopic = row['will_topic'];
        if (typeof row['username'] === 'string') listing.username = row['username'];
        return listing;
      });
  }

  setExpiryInterval(clientId: string, expiryInterval: number): void {
    this.sql.exec('UPDATE sessions SET expiry_interval = ? WHERE client_id = ?', expiryInterval, clientId);
  }

  /** Who the session belongs to now (a re-authentication changed it). */
  setIdentity(clientId: string, identity: Identity): void {
    this.sql.exec('UPDATE sessions SET identity = ? WHERE client_id = ?', JSON.stringify(identity), clientId);
  }

  clearWill(clientId: string): void {
    this.sql.exec('UPDATE sessions SET will = NULL, will_at = NULL WHERE client_id = ?', clientId);
  }

  /** Marks the session offline; a will that must wait fires at willAt. */
  markDisconnected(clientId: string, at: number, willAt: number | undefined): void {
    this.sql.exec(
      'UPDATE sessions SET connection_id = NULL, disconnected_at = ?, will_at = ? WHERE client_id = ?',
      at, willAt ?? null, clientId,
    );
  }

  /** Removes the session and everything it owns. */
  deleteSession(clientId: string): void {
    if (this.namespaceQueued !== undefined) this.namespaceQueued -= this.queueUsage(clientId).bytes;
    this.sql.exec('DELETE FROM sessions WHERE client_id = ?', clientId);
    this.sql.exec('DELETE FROM subscriptions WHERE client_id = ?', clientId);
    this.sql.exec('DELETE FROM outbound WHERE client_id = ?', clientId);
    this.queueUsageCache.delete(clientId);
    this.packetRows.delete(clientId);
    this.sql.exec('DELETE FROM inbound_qos2 WHERE client_id = ?', clientId);
  }

  /** Sessions marked online whose connection no longer exists (after a crash or restart). */
  onlineSessions(): Array<{ clientId: string; connectionId: string }> {
    return this.sql
      .exec('SELECT client_id, connection_id FROM sessions WHERE connection_id IS NOT NULL')
      .toArray()
      .map((row) => ({ clientId: row['client_id'] as string, connectionId: row['connection_id'] as string }));
  }

  /** Offline sessions with a pending will or a finite expiry: the alarm's work list. */
  nextSessionDeadline(): number | undefined {
    const row = this.sql
      .exec(
        `SELECT MIN(deadline) AS deadline FROM (
           SELECT will_at AS deadline FROM sessions WHERE connection_id IS NULL AND will_at IS NOT NULL
           UNION ALL
           SELECT disconnected_at + expiry_interval * 1000 FROM sessions
             WHERE connection_id IS NULL AND disconnected_at IS NOT NULL AND expiry_interval < ${SessionNeverExpires})`,
      )
      .toArray()[0];
    return optionalNumber(row?.['deadline']);
  }

  dueWills(now: number): string[] {
    return this.sql
      .exec('SELECT client_id FROM sessions WHERE connection_id IS NULL AND will_at IS NOT NULL AND will_at <= ?', now)
      .toArray()
      .map((row) => row['client_id'] as string);
  }

  expiredSessions(now: number): string[] {
    return this.sql
      .exec(
        `SELECT client_id FROM sessions WHERE connection_id IS NULL AND disconnected_at IS NOT NULL
           AND expiry_interval < ${SessionNeverExpires} AND disconnected_at + expiry_interval * 1000 <= ?`,
        now,
      )
      .toArray()
      .map((row) => row['client_id'] as string);
  }

  // ---- subscriptions --------------------------------------------------

  /** Subscriptions across clients for the admin API, by client id then filter. */
  listSubscriptions(limit: number): SubscriptionEntry[] {
    return this.sql.exec('SELECT * FROM subscriptions ORDER BY client_id, filter LIMIT ?', limit).toArray().map(subscriptionFromRow);
  }

  allSubscriptions(): SubscriptionEntry[] {
    return this.sql.exec('SELECT * FROM subscriptions').toArray().map(subscriptionFromRow);
  }

  subscriptionsOf(clientId: string): SubscriptionEntry[] {
    return this.sql.exec('SELECT * FROM subscriptions WHERE client_id = ?', clientId).toArray().map(subscriptionFromRow);
  }

  countSubscriptions(clientId: string): number {
    return countOf(this.sql.exec('SELECT COUNT(*) AS n FROM subscriptions WHERE client_id = ?', clientId));
  }

  hasSubscription(clientId: string, filter: string): boolean {
    return this.sql.exec('SELECT 1 FROM subscriptions WHERE client_id = ? AND filter = ?', clientId, filter).toArray().length > 0;
  }

  putSubscription(entry: SubscriptionEntry): void {
    this.sql.exec(
      `INSERT INTO subscriptions (client_id, filter, qos, no_local, retain_as_published, retain_handling, subscription_id, share_group, read_check)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (client_id, filter) DO UPDATE SET qos = excluded.qos, no_local = excluded.no_local,
         retain_as_published = excluded.retain_as_published, retain_handling = excluded.retain_handling,
         subscription_id = excluded.subscription_id, share_group = excluded.share_group, read_check = excluded.read_check`,
      entry.clientId, entry.filter, entry.qos, entry.noLocal ? 1 : 0, entry.retainAsPublished ? 1 : 0,
      entry.retainHandling, entry.subscriptionId ?? null, entry.shareGroup ?? null, entry.readCheck === true ? 1 : 0,
    );
  }

  deleteSubscription(clientId: string, filter: string): boolean {
    return this.sql.exec('DELETE FROM subscriptions WHERE client_id = ? AND filter = ?', clientId, filter).rowsWritten > 0;
  }

  // ---- outbound queue -------------------------------------------------

  /** Appends a message for a client; with a packet id it is in flight at once. */
  enqueue(clientId: string, message: BrokerMessage, subscriptionIds: number[], packetId: number | undefined, shareFilter?: string): number {
    const row = this.sql
      .exec(
        `INSERT INTO outbound (client_id, packet_id, state, topic, payload, qos, retain, properties, expires_at, subscription_ids, share_filter)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id, length(payload) + length(topic) AS size`,
        clientId, packetId ?? null, packetId === undefined ? OutboundState.Queued : OutboundState.PublishSent,
        message.topic, message.payload, message.qos, message.retain ? 1 : 0,
        serializeProperties(message.properties), message.expiresAt ?? null,
        subscriptionIds.length === 0 ? null : JSON.stringify(subscriptionIds),
        shareFilter ?? null,
      )
      .toArray()[0];
    if (packetId === undefined) this.adjustQueueUsage(clientId, 1, (row?.['size'] as number | undefined) ?? 0);
    else this.packetRows.get(clientId)?.set(packetId, row?.['id'] as number);
    return row?.['id'] as number;
  }

  /** The rows in flight of a client by packet id (read once, then kept). */
  private rowsByPacketId(clientId: string): Map<number, number> {
    let rows = this.packetRows.get(clientId);
    if (rows === undefined) {
      rows = new Map();
      for (const row of this.sql.exec('SELECT id, packet_id FROM outbound WHERE client_id = ? AND packet_id IS NOT NULL', clientId).toArray()) {
        rows.set(row['packet_id'] as number, row['id'] as number);
      }
      this.packetRows.set(clientId, rows);
    }
    return rows;
  }

  private adjustQueueUsage(clientId: string, count: number, bytes: number): void {
    if (this.namespaceQueued !== undefined) this.namespaceQueued += bytes;
    const usage = this.queueUsageCache.get(clientId);
    if (usage === undefined) return;
    usage.count += count;
    usage.bytes += bytes;
  }

  /**
   * Ids of QoS 1 messages in flight to a session that ends with its
   * connection: rows without the message (it is never resent), so the
   * in-flight window and its packet ids survive hibernation.
   */
  recordInflightIds(clientId: string, packetIds: number[]): void {
    const rows = this.packetRows.get(clientId);
    for (const packetId of packetIds) {
      const row = this.sql
        .exec(
          `INSERT INTO outbound (client_id, packet_id, state, topic, payload, qos, retain) VALUES (?, ?, ${OutboundState.PublishSent}, '', X'', 1, 0) RETURNING id`,
          clientId, packetId,
        )
        .toArray()[0];
      if (row !== undefined) rows?.set(packetId, row['id'] as number);
    }
  }

  /** Ids of messages waiting to be resent, oldest first (their messages are read one by one as they go). */
  resendWaitingHeads(clientId: string, limit: number): OutboundHead[] {
    return this.sql
      .exec(`SELECT id, topic, packet_id, state, share_filter FROM outbound WHERE client_id = ? AND state = ${OutboundState.ResendWaiting} ORDER BY id LIMIT ?`, clientId, limit)
      .toArray()
      .map(headFromRow);
  }

  countResendWaiting(clientId: string): number {
    return countOf(this.sql.exec(`SELECT COUNT(*) AS n FROM outbound WHERE client_id = ? AND state = ${OutboundState.ResendWaiting}`, clientId));
  }

  /** Moves a message sent before to ResendWaiting or back (never a queued one: queued rows leave the queue through markSent). */
  setState(id: number, state: OutboundState): void {
    this.sql.exec('UPDATE outbound SET state = ? WHERE id = ? AND state <> 0', state, id);
  }

  /** Every PUBLISH sent on an earlier connection and not acknowledged waits to be resent (a session resumes). */
  markUnacknowledgedForResend(clientId: string): void {
    this.sql.exec(`UPDATE outbound SET state = ${OutboundState.ResendWaiting} WHERE client_id = ? AND state = ${OutboundState.PublishSent}`, clientId);
  }

  /** The rows with a packet id (PUBLISH or PUBREL sent and not acknowledged, or waiting to be resent), oldest first, without their messages. */
  inflightHeads(clientId: string): OutboundHead[] {
    return this.sql.exec('SELECT id, topic, packet_id, state, share_filter FROM outbound WHERE client_id = ? AND state <> 0 ORDER BY id', clientId).toArray().map(headFromRow);
  }

  /** Whether a packet id is in flight to the client (a PUBLISH or a PUBREL not yet acknowledged). */
  /** The QoS and state of the message in flight under `packetId`, if any: which acknowledgement it waits for. */
  inflightOf(clientId: string, packetId: number): { qos: number; state: OutboundState } | undefined {
    const id = this.rowsByPacketId(clientId).get(packetId);
    if (id === undefined) return undefined;
    const row = this.sql.exec('SELECT qos, state FROM outbound WHERE id = ?', id).toArray()[0];
    return row === undefined ? undefined : { qos: row['qos'] as number, state: row['state'] as OutboundState };
  }

  isInflight(clientId: string, packetId: number): boolean {
    return this.rowsByPacketId(clientId).has(packetId);
  }

  countInflight(clientId: string): number {
    return countOf(this.sql.exec('SELECT COUNT(*) AS n FROM outbound WHERE client_id = ? AND state <> 0', clientId));
  }

  /** One outbound row with its message (payload included), if it is still there. */
  outbound(id: number): OutboundRecord | undefined {
    const row = this.sql.exec('SELECT * FROM outbound WHERE id = ?', id).toArray()[0];
    return row === undefined ? undefined : outboundFromRow(row);
  }

  /** The oldest queued (not yet sent) message, with its payload: the queue is read one message at a time. */
  nextQueued(clientId: string): OutboundRecord | undefined {
    const row = this.sql.exec('SELECT * FROM outbound WHERE client_id = ? AND state = 0 ORDER BY id LIMIT 1', clientId).toArray()[0];
    return row === undefined ? undefined : outboundFromRow(row);
  }

  /** Messages a leaving share group member may hand over (queued ones, and QoS 1 ones in flight), without their messages. */
  shareMovable(clientId: string): OutboundHead[] {
    return this.sql
      .exec('SELECT id, topic, packet_id, state, share_filter FROM outbound WHERE client_id = ? AND share_filter IS NOT NULL AND (state = 0 OR (state IN (1, 3) AND qos = 1)) ORDER BY id', clientId)
      .toArray()
      .map(headFromRow);
  }

  /** Everyone subscribed with exactly this filter (the members of a share group). */
  subscribersOf(filter: string): SubscriptionEntry[] {
    return this.sql.exec('SELECT * FROM subscriptions WHERE filter = ?', filter).toArray().map(subscriptionFromRow);
  }

  countQueued(clientId: string): number {
    return this.queueUsage(clientId).count;
  }

  /** A queued message was sent: it is in flight now. */
  markSent(id: number, packetId: number): void {
    const row = this.sql
      .exec('UPDATE outbound SET state = 1, packet_id = ? WHERE id = ? AND state = 0 RETURNING client_id, length(payload) + length(topic) AS size', packetId, id)
      .toArray()[0];
    if (row === undefined) return;
    this.adjustQueueUsage(row['client_id'] as string, -1, -(row['size'] as number));
    this.packetRows.get(row['client_id'] as string)?.set(packetId, id);
  }

  /** QoS 2: PUBREC received, PUBREL sent; the message body is no longer needed. */
  markPubrelSent(clientId: string, packetId: number): boolean {
    const id = this.rowsByPacketId(clientId).get(packetId);
    if (id === undefined) return false;
    return this.sql.exec(`UPDATE outbound SET state = 2, payload = X'', properties = NULL WHERE id = ? AND state IN (1, 3)`, id).rowsWritten > 0;
  }

  /**
   * Completes an outbound message (PUBACK or a failed PUBREC for a PUBLISH
   * sent, PUBCOMP for a PUBREL) and returns whether it existed. A PUBLISH
   * waiting to be resent was sent before, so it may be answered too.
   */
  complete(clientId: string, packetId: number, state: OutboundState): boolean {
    const states = state === OutboundState.PublishSent ? `${OutboundState.PublishSent}, ${OutboundState.ResendWaiting}` : String(state);
    const rows = this.rowsByPacketId(clientId);
    const id = rows.get(packetId);
    if (id === undefined) return false;
    const deleted = this.sql.exec(`DELETE FROM outbound WHERE id = ? AND state IN (${states})`, id).rowsWritten > 0;
    if (deleted) rows.delete(packetId);
    return deleted;
  }

  /** Deletes the queued and unacknowledged messages (not those past PUBREC) whose topic `drop` says; returns how many. */
  dropOutboundWhere(clientId: string, drop: (topic: string) => boolean): number {
    const rows = this.sql.exec(`SELECT id, topic FROM outbound WHERE client_id = ? AND state <> ${OutboundState.PubrelSent} AND topic <> ''`, clientId).toArray();
    let dropped = 0;
    for (const row of rows) {
      if (!drop(row['topic'] as string)) continue;
      this.deleteOutbound(row['id'] as number);
      dropped++;
    }
    return dropped;
  }

  deleteOutbound(id: number): void {
    const row = this.sql.exec('DELETE FROM outbound WHERE id = ? RETURNING client_id, state, packet_id, length(payload) + length(topic) AS size', id).toArray()[0];
    if (row === undefined) return;
    if (row['state'] === OutboundState.Queued) this.adjustQueueUsage(row['client_id'] as string, -1, -(row['size'] as number));
    if (row['packet_id'] !== null) this.packetRows.get(row['client_id'] as string)?.delete(row['packet_id'] as number);
  }

  /** Drops the oldest queued message of a client (queue limit policy). */
  /** Drops the oldest queued message; returns the bytes it held (payload and topic). */
  dropOldestQueued(clientId: string): number {
    const row = this.sql
      .exec(
        'DELETE FROM outbound WHERE id = (SELECT id FROM outbound WHERE client_id = ? AND state = 0 ORDER BY id LIMIT 1) RETURNING length(payload) + length(topic) AS size',
        clientId,
      )
      .toArray()[0];
    const size = (row?.['size'] as number | undefined) ?? 0;
    if (row !== undefined) this.adjustQueueUsage(clientId, -1, -size);
    return size;
  }

  /** Messages and bytes (payload and topic) queued for a client. */
  queueUsage(clientId: string): { count: number; bytes: number } {
    const known = this.queueUsageCache.get(clientId);
    if (known !== undefined) return { ...known };
    const row = this.sql
      .exec('SELECT COUNT(*) AS n, COALESCE(SUM(length(payload) + length(topic)), 0) AS bytes FROM outbound WHERE client_id = ? AND state = 0', clientId)
      .toArray()[0];
    const usage = { count: (row?.['n'] as number | undefined) ?? 0, bytes: (row?.['bytes'] as number | undefined) ?? 0 };
    this.queueUsageCache.set(clientId, { ...usage });
    return usage;
  }

  /** Bytes (payloads and topics) queued for all the namespace's sessions. */
  namespaceQueueBytes(): number {
    if (this.namespaceQueued === undefined) {
      const row = this.sql.exec('SELECT COALESCE(SUM(length(payload) + length(topic)), 0) AS bytes FROM outbound WHERE state = 0').toArray()[0];
      this.namespaceQueued = (row?.['bytes'] as number | undefined) ?? 0;
    }
    return this.namespaceQueued;
  }

  // ---- retained replays -----------------------------------------------

  /** A subscription's retained messages (generation `seq` and older) are to be sent, from the start. */
  startReplay(clientId: string, filter: string, seq: number): void {
    this.sql.exec('UPDATE subscriptions SET replay_seq = ?, replay_after = NULL, replay_past = 0 WHERE client_id = ? AND filter = ?', seq, clientId, filter);
  }

  /** Where a subscription's replay has got to; none: it is complete. */
  advanceReplay(clientId: string, filter: string, after: { topic: string; past: boolean } | undefined): void {
    if (after === undefined) this.sql.exec('UPDATE subscriptions SET replay_seq = NULL, replay_after = NULL, replay_past = 0 WHERE client_id = ? AND filter = ?', clientId, filter);
    else this.sql.exec('UPDATE subscriptions SET replay_after = ?, replay_past = ? WHERE client_id = ? AND filter = ?', after.topic, after.past ? 1 : 0, clientId, filter);
  }

  /** A client's subscriptions with retained messages still to send. */
  replays(clientId: string): StoredReplay[] {
    return this.sql
      .exec('SELECT * FROM subscriptions WHERE client_id = ? AND replay_seq IS NOT NULL ORDER BY rowid', clientId)
      .toArray()
      .map((row) => {
        const replay: StoredReplay = { entry: subscriptionFromRow(row), seq: row['replay_seq'] as number };
        if (typeof row['replay_after'] === 'string') replay.after = { topic: row['replay_after'], past: row['replay_past'] === 1 };
        return replay;
      });
  }

  // ---- inbound QoS 2 --------------------------------------------------

  /** Records an inbound QoS 2 packet id; false when it was already recorded (a duplicate). */
  rememberInboundQoS2(clientId: string, packetId: number): boolean {
    return this.sql.exec('INSERT OR IGNORE INTO inbound_qos2 (client_id, packet_id) VALUES (?, ?)', clientId, packetId).rowsWritten > 0;
  }

  countInboundQoS2(clientId: string): number {
    return countOf(this.sql.exec('SELECT COUNT(*) AS n FROM inbound_qos2 WHERE client_id = ?', clientId));
  }

  hasInboundQoS2(clientId: string, packetId: number): boolean {
    return this.sql.exec('SELECT 1 FROM inbound_qos2 WHERE client_id = ? AND packet_id = ?', clientId, packetId).toArray().length > 0;
  }

  releaseInboundQoS2(clientId: string, packetId: number): boolean {
    return this.sql.exec('DELETE FROM inbound_qos2 WHERE client_id = ? AND packet_id = ?', clientId, packetId).rowsWritten > 0;
  }

  // ---- per-connection leftovers -----------------------------------------

  /**
   * Appends bytes of a connection's incomplete packet. A long packet sent
   * slowly is stored piece by piece, never rewritten whole (which would
   * cost the square of its size).
   */
  appendPartialChunk(connectionId: string, bytes: Uint8Array): void {
    this.sql.exec(
      'INSERT INTO partial_chunks (connection_id, seq, bytes) VALUES (?, (SELECT COALESCE(MAX(seq), -1) + 1 FROM partial_chunks WHERE connection_id = ?), ?)',
      connectionId, connectionId, bytes,
    );
  }

  /** The stored start of a connection's incomplete packet (chunks in order; a whole blob of an earlier version first). */
  loadPartialPacket(connectionId: string): Uint8Array | undefined {
    const parts: Uint8Array[] = [];
    const whole = this.sql.exec('SELECT bytes FROM partial_packets WHERE connection_id = ?', connectionId).toArray()[0];
    if (whole !== undefined) parts.push(toUint8(whole['bytes']));
    for (const row of this.sql.exec('SELECT bytes FROM partial_chunks WHERE connection_id = ? ORDER BY seq', connectionId).toArray()) parts.push(toUint8(row['bytes']));
    if (parts.length === 0) return undefined;
    const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
    const joined = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      joined.set(part, offset);
      offset += part.byteLength;
    }
    return joined;
  }

  saveTopicAlias(connectionId: string, alias: number, topic: string): void {
    this.sql.exec('INSERT OR REPLACE INTO topic_aliases (connection_id, alias, topic) VALUES (?, ?, ?)', connectionId, alias, topic);
  }

  loadTopicAliases(connectionId: string): Map<number, string> {
    const rows = this.sql.exec('SELECT alias, topic FROM topic_aliases WHERE connection_id = ?', connectionId).toArray();
    return new Map(rows.map((row) => [row['alias'] as number, row['topic'] as string]));
  }

  /** The CONNECT of an enhanced authentication exchange, encoded, until the exchange ends. */
  savePendingConnect(connectionId: string, packet: Uint8Array): void {
    this.sql.exec('INSERT OR REPLACE INTO pending_connects (connection_id, packet) VALUES (?, ?)', connectionId, packet);
  }

  loadPendingConnect(connectionId: string): Uint8Array | undefined {
    const row = this.sql.exec('SELECT packet FROM pending_connects WHERE connection_id = ?', connectionId).toArray()[0];
    return row === undefined ? undefined : toUint8(row['packet']);
  }

  deletePendingConnect(connectionId: string): void {
    this.sql.exec('DELETE FROM pending_connects WHERE connection_id = ?', connectionId);
  }

  /** Forgets what belonged to a closed connection. */
  forgetConnection(connectionId: string): void {
    this.sql.exec('DELETE FROM pending_connects WHERE connection_id = ?', connectionId);
    this.deletePartialPacket(connectionId);
    this.sql.exec('DELETE FROM topic_aliases WHERE connection_id = ?', connectionId);
  }

  deletePartialPacket(connectionId: string): void {
    this.sql.exec('DELETE FROM partial_packets WHERE connection_id = ?', connectionId);
    this.sql.exec('DELETE FROM partial_chunks WHERE connection_id = ?', connectionId);
  }
}

function subscriptionFromRow(row: Record<string, unknown>): SubscriptionEntry {
  const entry: SubscriptionEntry = {
    clientId: row['client_id'] as string,
    filter: row['filter'] as string,
    qos: row['qos'] as QoS,
    noLocal: row['no_local'] === 1,
    retainAsPublished: row['retain_as_published'] === 1,
    retainHandling: row['retain_handling'] as 0 | 1 | 2,
  };
  const subscriptionId = optionalNumber(row['subscription_id']);
  if (subscriptionId !== undefined) entry.subscriptionId = subscriptionId;
  if (typeof row['share_group'] === 'string') entry.shareGroup = row['share_group'];
  if (row['read_check'] === 1) entry.readCheck = true;
  return entry;
}

function outboundFromRow(row: Record<string, unknown>): OutboundRecord {
  const record: OutboundRecord = {
    id: row['id'] as number,
    clientId: row['client_id'] as string,
    state: row['state'] as OutboundState,
    message: messageFromRow(row),
    subscriptionIds: typeof row['subscription_ids'] === 'string' ? (JSON.parse(row['subscription_ids']) as number[]) : [],
  };
  const packetId = optionalNumber(row['packet_id']);
  if (packetId !== undefined) record.packetId = packetId;
  if (typeof row['share_filter'] === 'string') record.shareFilter = row['share_filter'];
  return record;
}

function headFromRow(row: Record<string, unknown>): OutboundHead {
  const head: OutboundHead = { id: row['id'] as number, topic: row['topic'] as string, state: row['state'] as OutboundState };
  const packetId = optionalNumber(row['packet_id']);
  if (packetId !== undefined) head.packetId = packetId;
  if (typeof row['share_filter'] === 'string') head.shareFilter = row['share_filter'];
  return head;
}
