/**
 * The rules' durable outbox in the namespace's SQLite: one row per message
 * and rule that matched it, written in the same turn the message is
 * accepted (so it commits with it) and deleted once its target has it.
 * Beside it, each rule's counters and retry state, so neither a wake from
 * hibernation nor a restart loses a message or resets a count.
 *
 * `matched` is not stored: every match becomes a row or a drop, and a row
 * leaves as a delivery or a dead letter (dead-letters.ts), which stays, is
 * dropped for room, is deleted, or comes back as a row with its own id; so
 * matched = delivered + dropped + pending + dead letters kept, dropped and
 * deleted. The publish path thus costs one INSERT (an UPSERT when it drops).
 */
import type { SqlExecutor } from '../core/session-store.ts';
import type { RuleMessage } from './body.ts';
import type { OutboxLimits } from './config.ts';
import type { RetryState } from './backoff.ts';

/** A row as the drain reads it: the message, and how often it was tried already. */
export interface OutboxRow extends RuleMessage {
  attempts: number;
}

export interface OutboxUsage {
  messages: number;
  bytes: number;
}

/** What one row costs against MQTT_RULES_OUTBOX_MAX_BYTES: its topic and payload. */
export function rowBytes(topic: string, payload: Uint8Array): number {
  return new TextEncoder().encode(topic).byteLength + payload.byteLength;
}

/** Whether a row of `bytes` still fits; when it does not, the new message is dropped (the old ones are older promises). */
export function admits(usage: OutboxUsage, bytes: number, limits: OutboxLimits): boolean {
  return usage.messages + 1 <= limits.maxMessages && usage.bytes + bytes <= limits.maxBytes;
}

/** A rule's stored counters and retry state. */
export interface RuleCounters {
  delivered: number;
  /** Failed attempts (one message may fail many times). */
  failed: number;
  /** Messages refused because the outbox was full. */
  dropped: number;
  /** Consecutive failures since the last delivery: what the backoff grows with. */
  failures: number;
  /** No attempt before this time (ms). */
  retryAt: number;
  lastError?: string;
  lastErrorAt?: number;
}

const emptyCounters = (): RuleCounters => ({ delivered: 0, failed: 0, dropped: 0, failures: 0, retryAt: 0 });

/** Errors are kept short: they end up in the admin API and the dashboard. */
export const MaxErrorLength = 500;

const RowColumns = 'id, rule, topic, payload, qos, retain, client_id, ts, depth, attempts';

/** A row of `RowColumns` (rule_outbox, or rule_dead_letters with the same columns) as a message. */
export function readRow(row: Record<string, unknown>): OutboxRow {
  return {
    id: row['id'] as number,
    rule: row['rule'] as string,
    topic: row['topic'] as string,
    payload: new Uint8Array(row['payload'] as ArrayBuffer),
    qos: row['qos'] as 0 | 1 | 2,
    retain: row['retain'] === 1,
    ...(typeof row['client_id'] === 'string' ? { clientId: row['client_id'] } : {}),
    ts: row['ts'] as number,
    depth: row['depth'] as number,
    attempts: row['attempts'] as number,
  };
}

export class RuleOutbox {
  private readonly usage: OutboxUsage = { messages: 0, bytes: 0 };
  private readonly pendingByRule = new Map<string, number>();
  private readonly counters = new Map<string, RuleCounters>();

  constructor(
    private readonly sql: SqlExecutor,
    private readonly limits: OutboxLimits,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS rule_outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL,
      qos INTEGER NOT NULL, retain INTEGER NOT NULL, client_id TEXT, ts INTEGER NOT NULL, depth INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL)`);
    sql.exec('CREATE INDEX IF NOT EXISTS rule_outbox_by_rule ON rule_outbox (rule, id)');
    sql.exec(`CREATE TABLE IF NOT EXISTS rule_stats (
      rule TEXT PRIMARY KEY, delivered INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
      dropped INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, retry_at INTEGER NOT NULL DEFAULT 0,
      last_error TEXT, last_error_at INTEGER)`);
    // The totals are kept in memory for the publish path, rebuilt from the rows on every wake.
    for (const row of sql.exec('SELECT rule, COUNT(*) AS n, SUM(bytes) AS b FROM rule_outbox GROUP BY rule').toArray()) {
      this.pendingByRule.set(row['rule'] as string, row['n'] as number);
      this.usage.messages += row['n'] as number;
      this.usage.bytes += row['b'] as number;
    }
    for (const row of sql.exec('SELECT * FROM rule_stats').toArray()) {
      const counters: RuleCounters = {
        delivered: row['delivered'] as number,
        failed: row['failed'] as number,
        dropped: row['dropped'] as number,
        failures: row['failures'] as number,
        retryAt: row['retry_at'] as number,
      };
      if (typeof row['last_error'] === 'string') counters.lastError = row['last_error'];
      if (typeof row['last_error_at'] === 'number') counters.lastErrorAt = row['last_error_at'];
      this.counters.set(row['rule'] as string, counters);
    }
  }

  get totals(): Readonly<OutboxUsage> {
    return this.usage;
  }

  pending(rule: string): number {
    return this.pendingByRule.get(rule) ?? 0;
  }

  countersOf(rule: string): Readonly<RuleCounters> {
    return this.counters.get(rule) ?? emptyCounters();
  }

  /** Appends a matched message; false (and counted as dropped) when the outbox is full. */
  append(message: Omit<RuleMessage, 'id'>): boolean {
    if (this.insert(null, message)) return true;
    this.update(message.rule, (c) => void c.dropped++);
    return false;
  }

  /** One INSERT if the row fits: a new id (null: SQLite picks the next, never one used before), or a message's own. */
  private insert(id: number | null, message: Omit<RuleMessage, 'id'>): boolean {
    const bytes = rowBytes(message.topic, message.payload);
    if (!admits(this.usage, bytes, this.limits)) return false;
    this.sql.exec(
      'INSERT INTO rule_outbox (id, rule, topic, payload, qos, retain, client_id, ts, depth, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      id,
      message.rule,
      message.topic,
      message.payload,
      message.qos,
      message.retain ? 1 : 0,
      message.clientId ?? null,
      message.ts,
      message.depth,
      bytes,
    );
    this.usage.messages++;
    this.usage.bytes += bytes;
    this.pendingByRule.set(message.rule, this.pending(message.rule) + 1);
    return true;
  }

  /** The rule's oldest rows, in the order they were accepted (by id: a retried dead letter keeps its place). */
  next(rule: string, limit: number): OutboxRow[] {
    return this.sql.exec(`SELECT ${RowColumns} FROM rule_outbox WHERE rule = ? ORDER BY id LIMIT ?`, rule, limit).toArray().map(readRow);
  }

  /** The target has it: the row goes, the rule's backoff resets. */
  delivered(rule: string, id: number): void {
    // Only its size is read back: a delivered payload is not needed again.
    this.remove(rule, id, 'bytes');
    this.update(rule, (c) => {
      c.delivered++;
      c.failures = 0;
      c.retryAt = 0;
    });
  }

  /** Removes a row and returns it (to become a dead letter); undefined if it is not there. */
  take(rule: string, id: number): OutboxRow | undefined {
    const row = this.remove(rule, id, `${RowColumns}, bytes`);
    return row === undefined ? undefined : readRow(row);
  }

  private remove(rule: string, id: number, returning: string): Record<string, unknown> | undefined {
    const row = this.sql.exec(`DELETE FROM rule_outbox WHERE id = ? RETURNING ${returning}`, id).toArray()[0];
    if (row === undefined) return undefined;
    this.usage.messages--;
    this.usage.bytes -= row['bytes'] as number;
    this.pendingByRule.set(rule, Math.max(0, this.pending(rule) - 1));
    return row;
  }

  /**
   * Puts a message back under its own id (a retried dead letter): it keeps
   * its place, ahead of the rule's later rows, and receivers that drop
   * repeated (namespace, id) pairs still can. Its attempts start again.
   * False when the outbox has no room for it.
   */
  restore(message: RuleMessage): boolean {
    return this.insert(message.id, message);
  }

  /** One more failed attempt of each row (they stay, to be tried again). */
  attempted(ids: readonly number[]): void {
    for (const id of ids) this.sql.exec('UPDATE rule_outbox SET attempts = attempts + 1 WHERE id = ?', id);
  }

  /** A window's failed attempts: counted, the first error kept, and the rule's retry state as backoff.ts decided it. */
  failed(rule: string, attempts: number, error: string, now: number, retry: RetryState): void {
    const text = error.slice(0, MaxErrorLength);
    this.update(rule, (c) => {
      c.failed += attempts;
      c.failures = retry.failures;
      c.retryAt = retry.retryAt;
      c.lastError = text;
      c.lastErrorAt = now;
    });
  }

  /** Rows and counters of rules no longer configured go: nothing would ever deliver them, and they would hold the outbox's room. */
  forgetRulesExcept(names: ReadonlySet<string>): number {
    let forgotten = 0;
    for (const [rule, count] of [...this.pendingByRule]) {
      if (names.has(rule)) continue;
      const row = this.sql.exec('SELECT SUM(bytes) AS b FROM rule_outbox WHERE rule = ?', rule).toArray()[0];
      this.sql.exec('DELETE FROM rule_outbox WHERE rule = ?', rule);
      this.usage.messages -= count;
      this.usage.bytes -= (row?.['b'] as number | null) ?? 0;
      this.pendingByRule.delete(rule);
      forgotten += count;
    }
    return forgotten;
  }

  /** Changes a rule's counters in memory, then writes them whole (memory mirrors the row, loaded from it on wake). */
  private update(rule: string, change: (counters: RuleCounters) => void): void {
    const counters = this.counters.get(rule) ?? emptyCounters();
    change(counters);
    this.counters.set(rule, counters);
    this.sql.exec(
      `INSERT INTO rule_stats (rule, delivered, failed, dropped, failures, retry_at, last_error, last_error_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (rule) DO UPDATE SET delivered = excluded.delivered, failed = excluded.failed, dropped = excluded.dropped,
       failures = excluded.failures, retry_at = excluded.retry_at, last_error = excluded.last_error, last_error_at = excluded.last_error_at`,
      rule,
      counters.delivered,
      counters.failed,
      counters.dropped,
      counters.failures,
      counters.retryAt,
      counters.lastError ?? null,
      counters.lastErrorAt ?? null,
    );
  }
}
