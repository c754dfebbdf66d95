import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RuleMessage } from '../../../edge/rules/body.ts';
import { admits, RuleOutbox, rowBytes } from '../../../edge/rules/outbox.ts';
import { openTestDatabase, type TestDatabase } from '../../core/sql.ts';

const item = (rule: string, payload = 'x'): Omit<RuleMessage, 'id'> => ({ rule, topic: 't', payload: new TextEncoder().encode(payload), qos: 1, retain: false, ts: 1, depth: 0 });

let db: TestDatabase;
beforeEach(async () => {
  db = await openTestDatabase();
});
afterEach(() => db.close());

describe('outbox bounds', () => {
  it('admits a row only while both the row and the byte bounds hold', () => {
    const limits = { maxMessages: 2, maxBytes: 10 };
    expect(admits({ messages: 1, bytes: 5 }, 5, limits)).toBe(true);
    expect(admits({ messages: 2, bytes: 0 }, 1, limits)).toBe(false);
    expect(admits({ messages: 0, bytes: 6 }, 5, limits)).toBe(false);
    expect(rowBytes('é', new Uint8Array(3))).toBe(5);
  });

  it('drops new messages when full, counting them per rule, and keeps the old ones', () => {
    const outbox = new RuleOutbox(db, { maxMessages: 3, maxBytes: 1_000 });
    expect([1, 2, 3, 4, 5].map((n) => outbox.append(item(n % 2 === 0 ? 'even' : 'odd', `p${n}`)))).toEqual([true, true, true, false, false]);
    expect(outbox.totals).toEqual({ messages: 3, bytes: 3 * 3 });
    expect(outbox.countersOf('even').dropped).toBe(1);
    expect(outbox.countersOf('odd').dropped).toBe(1);
    expect(outbox.next('odd', 10).map((m) => new TextDecoder().decode(m.payload))).toEqual(['p1', 'p3']);
  });

  it('bounds bytes as well as rows', () => {
    const outbox = new RuleOutbox(db, { maxMessages: 100, maxBytes: 20 });
    expect(outbox.append(item('r', '0123456789'))).toBe(true);
    expect(outbox.append(item('r', '0123456789'))).toBe(false);
    expect(outbox.totals.bytes).toBe(11);
  });
});

describe('the outbox in SQLite', () => {
  it('keeps rows, counters and retry state across a new instance (a wake or restart)', () => {
    const limits = { maxMessages: 10, maxBytes: 1_000 };
    const first = new RuleOutbox(db, limits);
    first.append(item('r', 'a'));
    first.append(item('r', 'b'));
    const [a] = first.next('r', 1);
    first.delivered('r', a?.id as number);
    const [b] = first.next('r', 1);
    first.attempted([b?.id as number]);
    first.failed('r', 1, 'HTTP 503', 1_000, { failures: 1, retryAt: 1_100 });

    const second = new RuleOutbox(db, limits);
    expect(second.pending('r')).toBe(1);
    expect(second.totals).toEqual({ messages: 1, bytes: 2 });
    expect(second.countersOf('r')).toEqual({ delivered: 1, failed: 1, dropped: 0, failures: 1, retryAt: 1_100, lastError: 'HTTP 503', lastErrorAt: 1_000 });
    expect(second.next('r', 10).map((m) => [new TextDecoder().decode(m.payload), m.attempts])).toEqual([['b', 1]]);
    // A delivery resets the backoff but keeps the last error for the admin API.
    second.delivered('r', b?.id as number);
    expect(second.countersOf('r')).toMatchObject({ delivered: 2, failures: 0, retryAt: 0, lastError: 'HTTP 503' });
  });

  it('forgets the rows of rules that are gone', () => {
    const outbox = new RuleOutbox(db, { maxMessages: 10, maxBytes: 1_000 });
    outbox.append(item('kept'));
    outbox.append(item('gone'));
    outbox.append(item('gone'));
    expect(outbox.forgetRulesExcept(new Set(['kept']))).toBe(2);
    expect(outbox.totals).toEqual({ messages: 1, bytes: 2 });
    expect(new RuleOutbox(db, { maxMessages: 10, maxBytes: 1_000 }).pending('gone')).toBe(0);
  });
});
