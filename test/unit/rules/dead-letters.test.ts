/**
 * The dead-letter store in SQLite (sql.js): what a dead letter keeps, its
 * bounds (the oldest go, counted), the listing's limits, and what survives
 * a new instance; then the admin actions through `Rules`: a retried dead
 * letter goes back under its own id, ahead of its rule's later messages.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../edge/core/log.ts';
import { loadRulesConfig } from '../../../edge/rules/config.ts';
import { DeadLetterStore, MaxListedBytes, MaxListedPayloadBytes } from '../../../edge/rules/dead-letters.ts';
import type { OutboxRow } from '../../../edge/rules/outbox.ts';
import { RuleOutbox } from '../../../edge/rules/outbox.ts';
import { Rules } from '../../../edge/rules/rules.ts';
import { openTestDatabase, type TestDatabase } from '../../core/sql.ts';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const row = (id: number, rule: string, payload: string | Uint8Array = `p${id}`): OutboxRow => ({
  id,
  rule,
  topic: 't',
  payload: typeof payload === 'string' ? new TextEncoder().encode(payload) : payload,
  qos: 1,
  retain: false,
  ts: 1_000 + id,
  depth: 0,
  attempts: 3,
});

let db: TestDatabase;
beforeEach(async () => {
  db = await openTestDatabase();
});
afterEach(() => db.close());

describe('the dead-letter store', () => {
  it('keeps the message with its attempts, last error and time, and lists it as the body shows a payload', () => {
    const store = new DeadLetterStore(db, { maxMessages: 10, maxBytes: 1_000 });
    expect(store.add({ ...row(7, 'r'), clientId: 'c1' }, 'webhook answered HTTP 400', 5_000)).toEqual([]);
    store.add(row(9, 'r', new Uint8Array([0xff, 0x00])), 'x'.repeat(600), 6_000);
    expect(store.count('r')).toBe(2);
    expect(store.countersOf('r')).toEqual({ deadLettered: 2, dropped: 0, deleted: 0 });
    expect(store.list(undefined, 10)).toEqual({
      deadLetters: [
        { id: 7, rule: 'r', topic: 't', payload: 'p7', payloadBytes: 2, qos: 1, retain: false, clientId: 'c1', ts: 1_007, attempts: 3, lastError: 'webhook answered HTTP 400', deadAt: 5_000 },
        // Errors are cut as the outbox cuts them.
        { id: 9, rule: 'r', topic: 't', payload_base64: '/wA=', payloadBytes: 2, qos: 1, retain: false, clientId: null, ts: 1_009, attempts: 3, lastError: 'x'.repeat(500), deadAt: 6_000 },
      ],
      truncated: false,
    });
    expect(store.get(7)).toMatchObject({ id: 7, rule: 'r', clientId: 'c1', attempts: 3, lastError: 'webhook answered HTTP 400', deadAt: 5_000 });
  });

  it('drops the oldest dead letters when full, counted against their own rule', () => {
    const store = new DeadLetterStore(db, { maxMessages: 2, maxBytes: 1_000 });
    store.add(row(1, 'a'), 'e', 1);
    store.add(row(2, 'b'), 'e', 2);
    expect(store.add(row(3, 'b'), 'e', 3)).toEqual([{ id: 1, rule: 'a', topic: 't' }]);
    // "Oldest" is by when it became a dead letter, not by its id.
    store.add(row(0, 'a'), 'e', 4);
    expect(store.list(undefined, 10).deadLetters.map((d) => d.id)).toEqual([0, 3]);
    expect(store.countersOf('a')).toEqual({ deadLettered: 2, dropped: 1, deleted: 0 });
    expect(store.countersOf('b')).toEqual({ deadLettered: 2, dropped: 1, deleted: 0 });
    expect(store.totals).toEqual({ messages: 2, bytes: 2 * 3 });
  });

  it('bounds bytes too, and drops at once a message larger than the whole store', () => {
    const store = new DeadLetterStore(db, { maxMessages: 100, maxBytes: 20 });
    store.add(row(1, 'r', '0123456789'), 'e', 1);
    expect(store.add(row(2, 'r', '0123456789'), 'e', 2)).toEqual([{ id: 1, rule: 'r', topic: 't' }]);
    expect(store.add(row(3, 'r', 'x'.repeat(30)), 'e', 3)).toEqual([{ id: 3, rule: 'r', topic: 't' }]);
    expect(store.list('r', 10).deadLetters.map((d) => d.id)).toEqual([2]);
    expect(store.countersOf('r')).toEqual({ deadLettered: 3, dropped: 2, deleted: 0 });
  });

  it('lists one rule or all, oldest message first, up to the limit', () => {
    const store = new DeadLetterStore(db, { maxMessages: 100, maxBytes: 10_000 });
    for (const [id, rule] of [[5, 'a'], [2, 'b'], [3, 'a'], [9, 'a']] as const) store.add(row(id, rule), 'e', id);
    expect(store.list('a', 10)).toMatchObject({ deadLetters: [{ id: 3 }, { id: 5 }, { id: 9 }], truncated: false });
    expect(store.list('a', 2)).toMatchObject({ deadLetters: [{ id: 3 }, { id: 5 }], truncated: true });
    expect(store.list(undefined, 3).deadLetters.map((d) => d.id)).toEqual([2, 3, 5]);
    expect(store.list('none', 3)).toEqual({ deadLetters: [], truncated: false });
    expect(store.idsOf('a')).toEqual([3, 5, 9]);
  });

  it('cuts a large payload in the listing, and stops before the listing carries too much', () => {
    const store = new DeadLetterStore(db, { maxMessages: 100, maxBytes: 64 * 1024 * 1024 });
    const perRow = MaxListedPayloadBytes;
    const rows = Math.floor(MaxListedBytes / perRow);
    store.add(row(1, 'r', new Uint8Array(perRow + 10).fill(0x61)), 'e', 1);
    for (let id = 2; id <= rows + 1; id++) store.add(row(id, 'r', new Uint8Array(perRow).fill(0x62)), 'e', id);
    const listed = store.list('r', 100);
    expect(listed.truncated).toBe(true);
    expect(listed.deadLetters).toHaveLength(rows);
    const first = listed.deadLetters[0];
    expect(first).toMatchObject({ id: 1, payloadBytes: perRow + 10, payloadTruncated: true });
    expect(first !== undefined && 'payload' in first ? first.payload.length : 0).toBe(perRow);
    expect(listed.deadLetters[1]).not.toHaveProperty('payloadTruncated');
  });

  it('keeps dead letters and counters across a new instance, and forgets those of rules that are gone', () => {
    const limits = { maxMessages: 10, maxBytes: 1_000 };
    const first = new DeadLetterStore(db, limits);
    first.add(row(1, 'kept'), 'e', 1);
    first.add(row(2, 'gone'), 'e', 2);
    first.add(row(3, 'kept'), 'e', 3);
    expect(first.delete(3)).toBe(true);
    expect(first.delete(3)).toBe(false);
    const second = new DeadLetterStore(db, limits);
    expect(second.count('kept')).toBe(1);
    expect(second.totals).toEqual({ messages: 2, bytes: 6 });
    expect(second.countersOf('kept')).toEqual({ deadLettered: 2, dropped: 0, deleted: 1 });
    expect(second.forgetRulesExcept(new Set(['kept']))).toBe(1);
    expect(new DeadLetterStore(db, limits).count('gone')).toBe(0);
  });
});

describe('the outbox takes a retried dead letter back', () => {
  it('under its own id, so ahead of the later rows, with its attempts starting again', () => {
    const outbox = new RuleOutbox(db, { maxMessages: 3, maxBytes: 1_000 });
    const append = (payload: string) => outbox.append({ rule: 'r', topic: 't', payload: new TextEncoder().encode(payload), qos: 1, retain: false, ts: 1, depth: 0 });
    append('a');
    append('b');
    outbox.attempted([1]);
    const a = outbox.take('r', 1);
    expect(a).toMatchObject({ id: 1, attempts: 1 });
    append('c');
    expect(outbox.restore(a as OutboxRow)).toBe(true);
    expect(outbox.next('r', 10).map((m) => [m.id, text(m.payload), m.attempts])).toEqual([[1, 'a', 0], [2, 'b', 0], [3, 'c', 0]]);
    expect(outbox.pending('r')).toBe(3);
    // Full: it stays where it is.
    expect(outbox.restore({ ...(a as OutboxRow), id: 9 })).toBe(false);
  });
});

describe('dead letters through the rules', () => {
  interface Setup {
    rules: Rules;
    statuses: Map<string, number>;
    received: string[];
    logs: Array<{ event: string; fields: Record<string, unknown> }>;
    publish(topic: string, payload: string): void;
    /** Runs the drain (its alarm) until it rests. */
    drain(): Promise<void>;
  }

  function setup(env: Record<string, string> = {}): Setup {
    const config = loadRulesConfig({ MQTT_RULES: JSON.stringify([{ name: 'hook', filter: 'h/#', to: 'webhook:http://receiver.test/' }, { name: 'other', filter: 'o/#', to: 'webhook:http://receiver.test/' }]), ...env });
    const statuses = new Map<string, number>();
    const received: string[] = [];
    const logs: Setup['logs'] = [];
    const log: Logger = { log: (_level, event, fields = {}) => void logs.push({ event, fields }) };
    const rules = new Rules({
      namespace: 'ns',
      config,
      sql: db,
      log,
      now: () => 10_000,
      requestAlarm: () => undefined,
      republish: () => undefined,
      fetch: async (request) => {
        const body = (await request.json()) as { payload: string };
        const status = statuses.get(body.payload) ?? 200;
        if (status === 200) received.push(body.payload);
        return new Response(null, { status });
      },
    });
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 50; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    };
    return {
      rules,
      statuses,
      received,
      logs,
      publish: (topic, payload) => rules.accepted({ topic, payload: new TextEncoder().encode(payload), qos: 1, retain: false }),
      drain: async () => {
        rules.onAlarm();
        await settle();
      },
    };
  }

  const reportOf = (rules: Rules, name = 'hook') => rules.report().find((rule) => rule.name === name);

  it('a refused message goes to the dead letters, is logged without its payload, and the rule goes on', async () => {
    const t = setup();
    t.statuses.set('bad', 400);
    for (const payload of ['a', 'bad', 'b', 'c']) t.publish('h/x', payload);
    await t.drain();
    expect(t.received.sort()).toEqual(['a', 'b', 'c']);
    expect(t.rules.listDeadLetters('hook', 10)).toMatchObject({ deadLetters: [{ id: 2, payload: 'bad', attempts: 1, lastError: 'webhook answered HTTP 400' }], truncated: false });
    expect(reportOf(t.rules)).toMatchObject({ matched: 4, delivered: 3, pending: 0, failed: 1, deadLettered: 1, deadLetters: 1, deadLettersDropped: 0, deadLettersDeleted: 0 });
    const line = t.logs.find((entry) => entry.event === 'rule_dead_lettered');
    expect(line?.fields).toMatchObject({ rule: 'hook', id: 2, topic: 'h/x', attempts: 1, reason: 'refused' });
    expect(JSON.stringify(line?.fields)).not.toContain('bad');
  });

  it('retry puts one back where it was (its own id, first in line); delete drops one; both say what they did', async () => {
    const t = setup();
    t.statuses.set('bad', 400);
    t.publish('h/x', 'bad');
    await t.drain();
    t.statuses.delete('bad');
    expect(t.rules.retryDeadLetters({ id: 99 })).toEqual({ selected: 0, done: 0 });
    expect(t.rules.retryDeadLetters({ id: 1 })).toEqual({ selected: 1, done: 1, rule: 'hook' });
    expect(t.rules.listDeadLetters(undefined, 10)?.deadLetters).toEqual([]);
    await t.drain();
    expect(t.received).toEqual(['bad']);
    expect(reportOf(t.rules)).toMatchObject({ matched: 1, delivered: 1, pending: 0, deadLettered: 1, deadLetters: 0 });

    t.statuses.set('worse', 422);
    t.publish('h/x', 'worse');
    await t.drain();
    expect(t.rules.deleteDeadLetters({ id: 2 })).toEqual({ selected: 1, done: 1, rule: 'hook' });
    expect(t.rules.deleteDeadLetters({ id: 2 })).toEqual({ selected: 0, done: 0 });
    expect(reportOf(t.rules)).toMatchObject({ matched: 2, delivered: 1, deadLettered: 2, deadLetters: 0, deadLettersDeleted: 1 });
  });

  it('bulk retry moves as many as the outbox has room for, oldest first; bulk delete empties one rule only', async () => {
    const t = setup({ MQTT_RULES_OUTBOX_MAX_MESSAGES: '2' });
    for (const payload of ['x1', 'x2', 'x3']) t.statuses.set(payload, 404);
    t.publish('h/x', 'x1');
    t.publish('h/x', 'x2');
    await t.drain();
    t.publish('h/x', 'x3');
    t.statuses.set('o1', 400);
    t.publish('o/x', 'o1');
    await t.drain();
    expect(t.rules.listDeadLetters('hook', 10)?.deadLetters.map((d) => d.id)).toEqual([1, 2, 3]);
    expect(t.rules.retryDeadLetters({ rule: 'nope' })).toBeUndefined();
    expect(t.rules.listDeadLetters('nope', 10)).toBeUndefined();
    // The outbox holds 2: the two oldest go back, the third waits.
    expect(t.rules.retryDeadLetters({ rule: 'hook' })).toEqual({ selected: 3, done: 2, rule: 'hook' });
    expect(t.rules.listDeadLetters('hook', 10)?.deadLetters.map((d) => d.id)).toEqual([3]);
    expect(t.rules.retryDeadLetters({ id: 3 })).toEqual({ selected: 1, done: 0, rule: 'hook' });
    expect(t.rules.deleteDeadLetters({ rule: 'hook' })).toEqual({ selected: 1, done: 1, rule: 'hook' });
    expect(t.rules.listDeadLetters(undefined, 10)?.deadLetters.map((d) => d.rule)).toEqual(['other']);
  });
});
