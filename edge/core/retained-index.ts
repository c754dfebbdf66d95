/**
 * The index of retained topics: their levels as a tree in SQLite, and the
 * walk that finds, page by page, the retained topics a filter matches,
 * reading topics only (payloads are read for the matches, when sent).
 *
 * Why a tree in SQLite and not in memory: the index must stay inside the
 * isolate's 128 MB whatever clients retain. A tree of topics in memory costs
 * 80 to 300 bytes per topic for ordinary topics (measured: 100,000
 * `ret/<i>` took 10 MB, 100,000 `site/<s>/dev/<i>/temperature` 31 MB) and
 * 8 KB per topic for long distinct ones (100,000 of 32 levels: 800 MB),
 * within the default retained limits. In SQLite it costs storage only, and
 * a filter costs a few indexed reads per level it walks: `+/nomatch`
 * reads the first level's names and one name below each; `a/#` is a range
 * of the retained table's own key; never every retained topic.
 *
 * Walk order: at a `+` level, names in SQLite's order; below a `#`, topics
 * in SQLite's order (a range of the key). A position (the last topic a walk
 * gave, or a subtree it finished) lets the next page go on from there, so
 * a replay of 100,000 topics holds one page at a time, and one position in
 * storage.
 */
import type { SqlExecutor } from './session-store.ts';

const Schema = [
  // The root is id 0 (never stored): a first level's parent.
  `CREATE TABLE IF NOT EXISTS retained_levels (
     id INTEGER PRIMARY KEY,
     parent INTEGER NOT NULL,
     name TEXT NOT NULL,
     topics INTEGER NOT NULL,
     UNIQUE (parent, name))`,
];

/**
 * Where a walk stopped: after `topic` (a topic it gave, or at a `+` level
 * a name it looked under), and with `past` also after every topic below it.
 */
export interface WalkPosition {
  topic: string;
  past: boolean;
}

/** A retained topic a filter matches, with its generation (see SqlRetainedStore). */
export interface MatchedTopic {
  topic: string;
  seq: number;
}

export interface WalkPage {
  topics: MatchedTopic[];
  /** Where the next page starts; undefined when the walk is complete. */
  next: WalkPosition | undefined;
  /** Rows the page read (the work it cost). */
  read: number;
}

/** Children read per query at a `+` level. */
const ChildrenPerQuery = 256;

/** Stops a walk at `limit` topics or `budget` rows read, whichever comes first. */
interface Quota {
  limit: number;
  budget: number;
  topics: MatchedTopic[];
  /** The last place a walk may resume from. */
  last: WalkPosition | undefined;
}

const isSpent = (quota: Quota): boolean => quota.topics.length >= quota.limit || quota.budget <= 0;

export class RetainedIndex {
  constructor(private readonly sql: SqlExecutor) {
    for (const statement of Schema) sql.exec(statement);
  }

  /** Whether the index is empty while the table it indexes is not (a namespace from before the index). */
  needsBuilding(): boolean {
    const index = this.sql.exec('SELECT 1 FROM retained_levels LIMIT 1').toArray();
    return index.length === 0 && this.sql.exec('SELECT 1 FROM retained LIMIT 1').toArray().length > 0;
  }

  /** Indexes every retained topic (once, after an upgrade), a page of the table at a time. */
  build(): void {
    let after = '';
    for (;;) {
      const rows = this.sql.exec('SELECT topic FROM retained WHERE topic > ? ORDER BY topic LIMIT 1000', after).toArray();
      for (const row of rows) this.add(row['topic'] as string);
      const last = rows.at(-1);
      if (last === undefined) return;
      after = last['topic'] as string;
    }
  }

  /** A new retained topic: its levels are counted (created where missing). */
  add(topic: string): void {
    let parent = 0;
    for (const name of topic.split('/')) {
      const row = this.sql
        .exec('INSERT INTO retained_levels (parent, name, topics) VALUES (?, ?, 1) ON CONFLICT (parent, name) DO UPDATE SET topics = topics + 1 RETURNING id', parent, name)
        .toArray()[0];
      parent = row?.['id'] as number;
    }
  }

  /** A retained topic is gone: its levels are counted down, and those left without topics deleted. */
  remove(topic: string): void {
    let parent = 0;
    for (const name of topic.split('/')) {
      const row = this.sql.exec('UPDATE retained_levels SET topics = topics - 1 WHERE parent = ? AND name = ? RETURNING id, topics', parent, name).toArray()[0];
      if (row === undefined) return;
      parent = row['id'] as number;
      if (row['topics'] === 0) this.sql.exec('DELETE FROM retained_levels WHERE id = ?', parent);
    }
  }

  /**
   * The next retained topics `filter` matches after `after` (from the
   * start without it), at most `limit`, reading about `budget` rows at
   * most: a page may hold fewer topics than `limit` and still not be the
   * last (a walk over many names that match nothing stops at its budget,
   * and the next page goes on from there). Topics starting with `$` are
   * matched only by filters whose first level is not a wildcard [MQTT-4.7.2-1].
   */
  page(filter: string, after: WalkPosition | undefined, limit: number, budget: number): WalkPage {
    const levels = filter.split('/');
    let read = 0;
    for (let allowed = budget; ; allowed *= 2) {
      const quota: Quota = { limit, budget: allowed, topics: [], last: after };
      const complete = this.walk(levels, 0, 0, '', after?.topic.split('/'), after?.past ?? false, quota);
      read += allowed - quota.budget;
      const moved = quota.last !== undefined && (after === undefined || quota.last.topic !== after.topic || quota.last.past !== after.past);
      // A budget spent on the way down (nested '+' levels of many names) before anything was
      // passed would give back the same position: again with more, so every page moves on.
      if (complete || quota.topics.length > 0 || moved) return { topics: quota.topics, next: complete ? undefined : quota.last, read };
    }
  }

  /**
   * Walks the subtree of `node` (whose topic is `prefix`) for the filter's
   * levels from `depth` on, in walk order. `from`: the position's levels
   * while the walk is on its path (then at least `depth` of them), else
   * undefined. Returns whether the subtree is done (false: the quota ran
   * out in it, and `quota.last` says where).
   */
  private walk(levels: string[], depth: number, node: number, prefix: string, from: string[] | undefined, past: boolean, quota: Quota): boolean {
    const level = levels[depth] as string;
    if (from !== undefined && from.length === depth) {
      // The position is this node's own topic: with `past`, its whole subtree is behind;
      // else everything below it is ahead (under a '#', all but the topic itself).
      if (past) return true;
      if (level !== '#') from = undefined;
    }
    if (level === '#') return this.rest(prefix, depth, from, quota);
    const isLast = depth === levels.length - 1;
    // Below a '+' followed only by literal levels, each name of it has one topic to look at: read with the name.
    const suffix = levels.slice(depth + 1).every((rest) => rest !== '+' && rest !== '#') ? levels.slice(depth + 1).map((rest) => `/${rest}`).join('') : undefined;
    const isFinal = isLast || (level === '+' && suffix !== undefined);
    const topicOf = (name: string): string => (depth === 0 ? name : `${prefix}/${name}`);
    /** Goes on with one name of this level; false when the quota ran out. */
    const visit = (name: string, id: number | undefined, held: boolean, seq: number): boolean => {
      const topic = topicOf(name);
      const onPath = from !== undefined && from[depth] === name;
      if (isFinal) {
        // On the position's path, the topic is the position itself (or comes before it): given already.
        if (held && !onPath) quota.topics.push({ topic: `${topic}${suffix ?? ''}`, seq });
      } else if (id !== undefined && !(onPath && past && from?.length === depth + 1)) {
        if (!this.walk(levels, depth + 1, id, topic, onPath ? from : undefined, past, quota)) return false;
      }
      quota.last = { topic, past: true };
      return !isSpent(quota);
    };
    if (level !== '+') {
      // A position elsewhere (not on this name) is past everything this level has.
      if (from !== undefined && from[depth] !== level) return true;
      quota.budget--;
      if (isLast) {
        const row = this.sql.exec('SELECT seq FROM retained WHERE topic = ?', topicOf(level)).toArray()[0];
        return visit(level, undefined, row !== undefined, (row?.['seq'] as number | null) ?? 0);
      }
      const child = this.sql.exec('SELECT id FROM retained_levels WHERE parent = ? AND name = ?', node, level).toArray()[0];
      return child === undefined || visit(level, child['id'] as number, false, 0);
    }
    // '+': every name of this level in order, from the position's own on.
    let cursor = from?.[depth] ?? '';
    let inclusive = true;
    for (;;) {
      if (isSpent(quota)) return false;
      const children = isFinal
        ? this.sql
            .exec(
              `SELECT c.name, r.topic IS NOT NULL AS held, r.seq FROM retained_levels c LEFT JOIN retained r ON r.topic = ? || c.name || ?
               WHERE c.parent = ? AND c.name ${inclusive ? '>=' : '>'} ? ORDER BY c.name LIMIT ?`,
              depth === 0 ? '' : `${prefix}/`, suffix ?? '', node, cursor, ChildrenPerQuery,
            )
            .toArray()
        : this.sql.exec(`SELECT id, name FROM retained_levels WHERE parent = ? AND name ${inclusive ? '>=' : '>'} ? ORDER BY name LIMIT ?`, node, cursor, ChildrenPerQuery).toArray();
      quota.budget -= children.length + 1;
      inclusive = false;
      for (const child of children) {
        const name = child['name'] as string;
        cursor = name;
        // [MQTT-4.7.2-1] a wildcard in the first level does not match topics starting with '$'.
        if (depth === 0 && name.startsWith('$')) continue;
        if (!visit(name, child['id'] as number | undefined, child['held'] === 1, (child['seq'] as number | null) ?? 0)) return false;
      }
      if (children.length < ChildrenPerQuery) return true;
    }
  }

  /**
   * A `#` level: the topic `prefix` itself [MQTT-4.7.1-2] (but for a `#`
   * alone), then every topic below it, as a range of the retained table's
   * key; a `#` alone: every topic but those starting with `$` [MQTT-4.7.2-1].
   * `from`: undefined (from the start), of `depth` levels (the prefix
   * itself was given), or more (a topic in the range was given).
   */
  private rest(prefix: string, depth: number, from: string[] | undefined, quota: Quota): boolean {
    const after = from !== undefined && from.length > depth ? from.join('/') : undefined;
    if (depth === 0) {
      // Everything below '$' (0x24), then everything from '%' (0x25) on.
      if (after === undefined || after < '$') {
        if (!this.range(after ?? '', after !== undefined, '$', quota)) return false;
        return this.range('%', false, undefined, quota);
      }
      return this.range(after < '%' ? '%' : after, after >= '%', undefined, quota);
    }
    if (from === undefined) {
      quota.budget--;
      const row = this.sql.exec('SELECT seq FROM retained WHERE topic = ?', prefix).toArray()[0];
      if (row !== undefined) quota.topics.push({ topic: prefix, seq: (row['seq'] as number | null) ?? 0 });
      quota.last = { topic: prefix, past: false };
      if (isSpent(quota)) return false;
    }
    // Every topic under 'p/' sorts from 'p/' up to 'p0' ('0' follows '/').
    return this.range(after ?? `${prefix}/`, after !== undefined, `${prefix}0`, quota);
  }

  /** Topics from `low` (without it when `exclusive`) up to `high` (without it), in key order, within the quota. */
  private range(low: string, exclusive: boolean, high: string | undefined, quota: Quota): boolean {
    let cursor = low;
    let strict = exclusive;
    for (;;) {
      if (isSpent(quota)) return false;
      const room = Math.min(quota.limit - quota.topics.length, ChildrenPerQuery);
      const rows = this.sql
        .exec(
          `SELECT topic, seq FROM retained WHERE topic ${strict ? '>' : '>='} ?${high === undefined ? '' : ' AND topic < ?'} ORDER BY topic LIMIT ?`,
          ...(high === undefined ? [cursor, room] : [cursor, high, room]),
        )
        .toArray();
      quota.budget -= rows.length + 1;
      for (const row of rows) {
        cursor = row['topic'] as string;
        quota.topics.push({ topic: cursor, seq: (row['seq'] as number | null) ?? 0 });
        quota.last = { topic: cursor, past: false };
      }
      strict = true;
      if (rows.length < room) return true;
    }
  }
}
