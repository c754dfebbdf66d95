/**
 * Dead letters: messages a rule's target refused for good, or that failed
 * MQTT_RULES_MAX_ATTEMPTS times, moved out of the outbox so that the rule
 * goes on with its later messages. They wait in the namespace's SQLite for
 * a person: listed, retried (back into the outbox under their own id) or
 * deleted through the admin API. The store is bounded in rows and bytes;
 * when a new dead letter does not fit, the oldest ones go (counted), since
 * the newest failure is the one most worth seeing.
 *
 * A dead letter keeps its outbox id, the message's id for receivers, so
 * the table's key is that id and a message is at most once in the outbox
 * or here.
 */
import type { SqlExecutor } from '../core/session-store.ts';
import { payloadFields, type RuleMessage } from './body.ts';
import type { DeadLetterLimits } from './config.ts';
import { admits, MaxErrorLength, readRow, rowBytes, type OutboxRow, type OutboxUsage } from './outbox.ts';

export interface DeadLetter extends OutboxRow {
  lastError: string;
  /** When it became a dead letter (ms since the epoch). */
  deadAt: number;
}

/** A dead letter as the admin API lists it: the payload as text or base64, as the rules' body has it. */
export type DeadLetterView = {
  id: number;
  rule: string;
  topic: string;
  /** The payload's size; the payload shown is cut to MaxListedPayloadBytes (then `payloadTruncated`). */
  payloadBytes: number;
  payloadTruncated?: true;
  qos: 0 | 1 | 2;
  retain: boolean;
  clientId: string | null;
  ts: number;
  attempts: number;
  lastError: string;
  deadAt: number;
} & ({ payload: string } | { payload_base64: string });

export interface DeadLetterCounters {
  /** Messages moved here (a retried message that fails again counts again). */
  deadLettered: number;
  /** Dead letters dropped to make room for newer ones. */
  dropped: number;
  /** Dead letters deleted through the admin API. */
  deleted: number;
}

/** A dead letter that went to make room: what the log says of it. */
export interface DroppedDeadLetter {
  id: number;
  rule: string;
  topic: string;
}

/** One listing carries at most this much payload (an RPC answer and a JSON document, not a dump). */
export const MaxListedBytes = 8 * 1024 * 1024;
/** One dead letter's payload is shown up to this size (the default largest packet). */
export const MaxListedPayloadBytes = 1024 * 1024;

const emptyCounters = (): DeadLetterCounters => ({ deadLettered: 0, dropped: 0, deleted: 0 });

const Columns = 'id, rule, topic, payload, qos, retain, client_id, ts, depth, attempts, last_error, dead_at';
/** The same for a listing: the payload cut (a BLOB's substr counts bytes), and its whole size. */
const ListedColumns = 'id, rule, topic, substr(payload, 1, ?) AS payload, length(payload) AS payload_bytes, qos, retain, client_id, ts, depth, attempts, last_error, dead_at';

export class DeadLetterStore {
  private readonly usage: OutboxUsage = { messages: 0, bytes: 0 };
  private readonly countByRule = new Map<string, number>();
  private readonly counters = new Map<string, DeadLetterCounters>();

  constructor(
    private readonly sql: SqlExecutor,
    private readonly limits: DeadLetterLimits,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS rule_dead_letters (
      id INTEGER PRIMARY KEY, rule TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL,
      qos INTEGER NOT NULL, retain INTEGER NOT NULL, client_id TEXT, ts INTEGER NOT NULL, depth INTEGER NOT NULL,
      attempts INTEGER NOT NULL, last_error TEXT NOT NULL, dead_at INTEGER NOT NULL, bytes INTEGER NOT NULL)`);
    sql.exec('CREATE INDEX IF NOT EXISTS rule_dead_letters_by_rule ON rule_dead_letters (rule, id)');
    sql.exec('CREATE INDEX IF NOT EXISTS rule_dead_letters_by_age ON rule_dead_letters (dead_at, id)');
    sql.exec(`CREATE TABLE IF NOT EXISTS rule_dead_letter_stats (
      rule TEXT PRIMARY KEY, dead_lettered INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0)`);
    // As the outbox: totals in memory, rebuilt from the rows on every wake.
    for (const row of sql.exec('SELECT rule, COUNT(*) AS n, SUM(bytes) AS b FROM rule_dead_letters GROUP BY rule').toArray()) {
      this.countByRule.set(row['rule'] as string, row['n'] as number);
      this.usage.messages += row['n'] as number;
      this.usage.bytes += row['b'] as number;
    }
    for (const row of sql.exec('SELECT * FROM rule_dead_letter_stats').toArray()) {
      this.counters.set(row['rule'] as string, { deadLettered: row['dead_lettered'] as number, dropped: row['dropped'] as number, deleted: row['deleted'] as number });
    }
  }

  get totals(): Readonly<OutboxUsage> {
    return this.usage;
  }

  /** Dead letters of the rule now. */
  count(rule: string): number {
    return this.countByRule.get(rule) ?? 0;
  }

  countersOf(rule: string): Readonly<DeadLetterCounters> {
    return this.counters.get(rule) ?? emptyCounters();
  }

  /**
   * Keeps a message the outbox gave up on, making room by dropping the
   * oldest dead letters. Returns those dropped (the new one itself when it
   * alone is larger than the store may hold).
   */
  add(row: OutboxRow, error: string, now: number): DroppedDeadLetter[] {
    const bytes = rowBytes(row.topic, row.payload);
    this.update(row.rule, (c) => void c.deadLettered++);
    if (bytes > this.limits.maxBytes) {
      this.update(row.rule, (c) => void c.dropped++);
      return [{ id: row.id, rule: row.rule, topic: row.topic }];
    }
    const dropped: DroppedDeadLetter[] = [];
    while (!admits(this.usage, bytes, this.limits)) {
      const oldest = this.sql.exec('SELECT id, rule, topic FROM rule_dead_letters ORDER BY dead_at, id LIMIT 1').toArray()[0];
      if (oldest === undefined) break;
      const gone = { id: oldest['id'] as number, rule: oldest['rule'] as string, topic: oldest['topic'] as string };
      this.remove(gone.id);
      this.update(gone.rule, (c) => void c.dropped++);
      dropped.push(gone);
    }
    this.sql.exec(
      `INSERT INTO rule_dead_letters (${Columns}, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      row.id,
      row.rule,
      row.topic,
      row.payload,
      row.qos,
      row.retain ? 1 : 0,
      row.clientId ?? null,
      row.ts,
      row.depth,
      row.attempts,
      error.slice(0, MaxErrorLength),
      now,
      bytes,
    );
    this.usage.messages++;
    this.usage.bytes += bytes;
    this.countByRule.set(row.rule, this.count(row.rule) + 1);
    return dropped;
  }

  get(id: number): DeadLetter | undefined {
    const row = this.sql.exec(`SELECT ${Columns} FROM rule_dead_letters WHERE id = ?`, id).toArray()[0];
    return row === undefined ? undefined : { ...readRow(row), lastError: row['last_error'] as string, deadAt: row['dead_at'] as number };
  }

  /** The ids of a rule's dead letters, oldest message first (the bulk routes). */
  idsOf(rule: string): number[] {
    return this.sql.exec('SELECT id FROM rule_dead_letters WHERE rule = ? ORDER BY id', rule).toArray().map((row) => row['id'] as number);
  }

  /**
   * Dead letters, oldest message first, of one rule or all: at most `limit`,
   * and no more payload than MaxListedBytes (at least one, each cut to
   * MaxListedPayloadBytes). `truncated` says more are there.
   */
  list(rule: string | undefined, limit: number): { deadLetters: DeadLetterView[]; truncated: boolean } {
    const where = rule === undefined ? '' : 'WHERE rule = ?';
    const args = rule === undefined ? [] : [rule];
    // Sizes first, payloads only of the rows that fit: a listing never reads more than it shows.
    const sizes = this.sql.exec(`SELECT id, MIN(length(payload), ?) AS shown FROM rule_dead_letters ${where} ORDER BY id LIMIT ?`, MaxListedPayloadBytes, ...args, limit + 1).toArray();
    let shown = 0;
    let total = 0;
    for (const size of sizes.slice(0, limit)) {
      total += size['shown'] as number;
      if (shown > 0 && total > MaxListedBytes) break;
      shown++;
    }
    const last = sizes[shown - 1]?.['id'];
    if (last === undefined) return { deadLetters: [], truncated: false };
    const rows = this.sql
      .exec(`SELECT ${ListedColumns} FROM rule_dead_letters WHERE id <= ? ${rule === undefined ? '' : 'AND rule = ?'} ORDER BY id LIMIT ?`, MaxListedPayloadBytes, last, ...args, shown)
      .toArray();
    return { deadLetters: rows.map(view), truncated: sizes.length > shown };
  }

  /** Removes a dead letter the caller has put back in the outbox (not counted: it is a message again). */
  release(id: number): void {
    this.remove(id);
  }

  /** Deletes a dead letter for good (counted); false if there is none. */
  delete(id: number): boolean {
    const row = this.remove(id);
    if (row === undefined) return false;
    this.update(row.rule, (c) => void c.deleted++);
    return true;
  }

  /** Dead letters of rules no longer configured go, as their outbox rows do: nothing could retry them. */
  forgetRulesExcept(names: ReadonlySet<string>): number {
    let forgotten = 0;
    for (const rule of [...this.countByRule.keys()]) {
      if (names.has(rule)) continue;
      for (const id of this.idsOf(rule)) if (this.remove(id) !== undefined) forgotten++;
    }
    return forgotten;
  }

  private remove(id: number): { rule: string } | undefined {
    const row = this.sql.exec('DELETE FROM rule_dead_letters WHERE id = ? RETURNING rule, bytes', id).toArray()[0];
    if (row === undefined) return undefined;
    const rule = row['rule'] as string;
    this.usage.messages--;
    this.usage.bytes -= row['bytes'] as number;
    const left = this.count(rule) - 1;
    if (left > 0) this.countByRule.set(rule, left);
    else this.countByRule.delete(rule);
    return { rule };
  }

  /** As the outbox's counters: changed in memory, written whole. */
  private update(rule: string, change: (counters: DeadLetterCounters) => void): void {
    const counters = this.counters.get(rule) ?? emptyCounters();
    change(counters);
    this.counters.set(rule, counters);
    this.sql.exec(
      `INSERT INTO rule_dead_letter_stats (rule, dead_lettered, dropped, deleted) VALUES (?, ?, ?, ?)
       ON CONFLICT (rule) DO UPDATE SET dead_lettered = excluded.dead_lettered, dropped = excluded.dropped, deleted = excluded.deleted`,
      rule,
      counters.deadLettered,
      counters.dropped,
      counters.deleted,
    );
  }
}

/** A listed row: the payload as the body shows one, the rest as stored. */
function view(row: Record<string, unknown>): DeadLetterView {
  const message: RuleMessage = readRow(row);
  const payloadBytes = row['payload_bytes'] as number;
  return {
    id: message.id,
    rule: message.rule,
    topic: message.topic,
    ...payloadFields(message.payload),
    payloadBytes,
    ...(payloadBytes > message.payload.byteLength ? { payloadTruncated: true as const } : {}),
    qos: message.qos,
    retain: message.retain,
    clientId: message.clientId ?? null,
    ts: message.ts,
    attempts: row['attempts'] as number,
    lastError: row['last_error'] as string,
    deadAt: row['dead_at'] as number,
  };
}
