/**
 * The retained index (edge/core/retained-index.ts) against the reference
 * matcher (shared/topic.ts): the topics a filter's walk gives, page by page
 * from any position, are exactly the retained topics the filter matches,
 * each once; and a walk reads the rows of what it matches, not the table.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { topicMatchesFilter } from '../../shared/topic.ts';
import { SqlRetainedStore } from '../../edge/core/retained.ts';
import type { WalkPosition } from '../../edge/core/retained-index.ts';
import type { SqlExecutor } from '../../edge/core/session-store.ts';
import { openTestDatabase, type TestDatabase } from './sql.ts';

const quiet = { log: () => undefined };
const limits = { maxRetainedMessages: 1_000_000, maxRetainedBytes: 1_000_000_000 };

let db: TestDatabase;
let store: SqlRetainedStore;

beforeEach(async () => {
  db = await openTestDatabase();
  store = new SqlRetainedStore(db, limits, quiet);
});
afterEach(() => db.close());

function retain(...topics: string[]): void {
  for (const topic of topics) store.put({ topic, payload: new Uint8Array([1]), qos: 1, retain: true });
}

/** Every topic the walk gives, page by page (`limit` topics and `budget` rows a page). */
function walkAll(filter: string, limit = 1000, budget = 100_000): string[] {
  const topics: string[] = [];
  let after: WalkPosition | undefined;
  for (let pages = 0; pages < 100_000; pages++) {
    const page = store.page(filter, after, limit, budget);
    topics.push(...page.topics.map((t) => t.topic));
    if (page.next === undefined) return topics;
    after = page.next;
  }
  throw new Error(`${filter}: the walk does not end`);
}

describe('the retained index matches as the spec says', () => {
  beforeEach(() => retain('a', 'a/b', 'a/b/c', 'a/c', 'a//d', 'b/b', '$SYS/x', '$other/b', 'sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport', 'a-b/b'));

  it.each([
    ['a', ['a']],
    ['a/b', ['a/b']],
    ['+', ['a', 'sport']],
    ['+/b', ['a/b', 'a-b/b', 'b/b']],
    ['+/+', ['a/b', 'a/c', 'a-b/b', 'b/b']],
    ['a/+', ['a/b', 'a/c']],
    ['a/+/+', ['a//d', 'a/b/c']],
    ['a/+/d', ['a//d']],
    // [MQTT-4.7.1-2] 'a/#' matches 'a' itself.
    ['a/#', ['a', 'a//d', 'a/b', 'a/b/c', 'a/c']],
    ['sport/tennis/player1/#', ['sport/tennis/player1', 'sport/tennis/player1/ranking']],
    ['sport/#', ['sport', 'sport/tennis/player1', 'sport/tennis/player1/ranking']],
    ['+/tennis/#', ['sport/tennis/player1', 'sport/tennis/player1/ranking']],
    // [MQTT-4.7.2-1] a wildcard in the first level does not match topics starting with '$'.
    ['#', ['a', 'a-b/b', 'a//d', 'a/b', 'a/b/c', 'a/c', 'b/b', 'sport', 'sport/tennis/player1', 'sport/tennis/player1/ranking']],
    ['+/b', ['a/b', 'a-b/b', 'b/b']],
    ['$other/+', ['$other/b']],
    ['$other/#', ['$other/b']],
    ['+/nomatch', []],
    ['nomatch/#', []],
  ])('%s', (filter, expected) => {
    expect(walkAll(filter).sort()).toEqual([...expected].sort());
    // One topic a page, and the smallest budget: the same topics.
    expect(walkAll(filter, 1, 1).sort()).toEqual([...expected].sort());
  });

  it('forgets a topic that is deleted, and its levels with it', () => {
    store.delete('a/b/c');
    expect(walkAll('a/+/+')).toEqual(['a//d']);
    expect(db.exec("SELECT COUNT(*) AS n FROM retained_levels WHERE name = 'c'").toArray()[0]?.['n']).toBe(1);
    store.delete('a/c');
    expect(db.exec("SELECT COUNT(*) AS n FROM retained_levels WHERE name = 'c'").toArray()[0]?.['n']).toBe(0);
    expect(walkAll('a/+')).toEqual(['a/b']);
  });
});

describe('paging', () => {
  const level = fc.constantFrom('a', 'b', 'ab', 'a-b', 'a.b', '', 'c', '$x', 'z');
  const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((levels) => levels.join('/')).filter((t) => t.length > 0);
  const filter = fc
    .array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 4 })
    .chain((levels) => fc.boolean().map((multi) => (multi ? [...levels, '#'] : levels).join('/')))
    .filter((f) => f.length > 0);

  it('gives every matching topic once, in any page size and budget, from the start and from every position', () => {
    fc.assert(
      fc.property(fc.uniqueArray(topic, { maxLength: 30 }), filter, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 20 }), (topics, f, limit, budget) => {
        db.exec('DELETE FROM retained');
        db.exec('DELETE FROM retained_levels');
        store = new SqlRetainedStore(db, limits, quiet);
        retain(...topics);
        const expected = topics.filter((t) => topicMatchesFilter(f, t)).sort();
        const walked = walkAll(f, limit, budget);
        expect([...walked].sort()).toEqual(expected);
        // The order is the walk's, whatever the page size: paging only cuts it.
        expect(walkAll(f)).toEqual(walked);
      }),
      { numRuns: 300, seed: 20261207 },
    );
  });
});

/** Counts the rows the statements read that name `table` (sql.js cannot count them; the statements' results are rows). */
function countingRows(sql: SqlExecutor, table: string): { sql: SqlExecutor; rows: () => number } {
  let rows = 0;
  return {
    sql: {
      exec(query, ...bindings) {
        const result = sql.exec(query, ...bindings);
        const all = result.toArray();
        if (query.includes(table)) rows += all.length + 1;
        return { toArray: () => all, rowsWritten: result.rowsWritten };
      },
    },
    rows: () => rows,
  };
}

describe('cost', () => {
  it('answers a first-level wildcard that matches nothing over 20,000 topics with a few reads, not a scan', () => {
    const counted = countingRows(db, 'retained');
    store = new SqlRetainedStore(counted.sql, limits, quiet);
    for (let i = 0; i < 20_000; i++) store.put({ topic: `ret/${i}`, payload: new Uint8Array([1]), qos: 0, retain: true });
    const before = counted.rows();
    for (let i = 0; i < 100; i++) expect(walkAll(`+/nomatch-${i}`)).toEqual([]);
    expect(counted.rows() - before).toBeLessThan(100 * 10);
  });

  it('reads a page at a time: a replay of 5,000 topics under one level in pages of 32', () => {
    for (let i = 0; i < 5_000; i++) store.put({ topic: `ret/${String(i).padStart(5, '0')}`, payload: new Uint8Array([1]), qos: 0, retain: true });
    let after: WalkPosition | undefined;
    let pages = 0;
    let seen = 0;
    for (;;) {
      const page = store.page('ret/#', after, 32, 1024);
      expect(page.topics.length).toBeLessThanOrEqual(32);
      seen += page.topics.length;
      pages++;
      if (page.next === undefined) break;
      after = page.next;
    }
    expect(seen).toBe(5_000);
    expect(pages).toBeGreaterThanOrEqual(5_000 / 32);
  });
});

describe('a namespace from before the index', () => {
  it('builds the index from its retained table once, and keeps its generations', async () => {
    const old = await openTestDatabase();
    old.exec('CREATE TABLE retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, properties TEXT, expires_at INTEGER)');
    for (const topic of ['x/1', 'x/2', 'y/1']) old.exec('INSERT INTO retained (topic, payload, qos) VALUES (?, ?, 1)', topic, new Uint8Array([7]));
    const upgraded = new SqlRetainedStore(old, limits, quiet);
    expect(upgraded.page('+/1', undefined, 10, 100).topics.map((t) => t.topic)).toEqual(['x/1', 'y/1']);
    expect(upgraded.get('x/2', 0)?.message.payload).toEqual(new Uint8Array([7]));
    upgraded.put({ topic: 'x/3', payload: new Uint8Array([1]), qos: 0, retain: true });
    expect(upgraded.generation()).toBe(1);
    old.close();
  });
});
