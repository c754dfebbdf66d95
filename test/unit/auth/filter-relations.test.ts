/**
 * `filterCovers` and `filtersOverlap` checked by brute force against the
 * reference matcher of shared/topic.ts, over every small filter and a
 * universe of topics rich enough to tell them apart.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { topicMatchesFilter, validateTopicFilter } from '../../../shared/topic.ts';
import { filterCovers, filtersOverlap } from '../../../edge/auth/filter-relations.ts';

/** Every string of 1..maxLevels levels drawn from `symbols`, joined with '/'. */
function combinations(symbols: readonly string[], maxLevels: number): string[] {
  const out: string[] = [];
  let layer: string[][] = [[]];
  for (let depth = 1; depth <= maxLevels; depth++) {
    layer = layer.flatMap((levels) => symbols.map((symbol) => [...levels, symbol]));
    out.push(...layer.map((levels) => levels.join('/')));
  }
  return out;
}

// Filters: literals 'a' and '$x', both wildcards. Topics: the same literals plus
// 'z', which no filter names (a stand-in for "any other value"), one level deeper
// than any filter so that '#' and missing levels are told apart.
const filters = combinations(['a', '$x', '+', '#'], 3).filter(validateTopicFilter);
const topics = combinations(['a', '$x', 'z'], 4);

function coversByBruteForce(rule: string, filter: string): boolean {
  return topics.every((topic) => !topicMatchesFilter(filter, topic) || topicMatchesFilter(rule, topic));
}

function overlapsByBruteForce(a: string, b: string): boolean {
  return topics.some((topic) => topicMatchesFilter(a, topic) && topicMatchesFilter(b, topic));
}

describe('filterCovers', () => {
  it.each([
    ['sensors/#', 'sensors/+/temp', true],
    ['sensors/#', 'sensors', true],
    ['sensors/#', 'sensors/#', true],
    ['sensors/+', 'sensors/#', false],
    ['sensors/+', 'sensors/a/b', false],
    ['sensors/+/temp', 'sensors/+/temp', true],
    ['sensors/+/temp', 'sensors/x/temp', true],
    ['sensors/x/temp', 'sensors/+/temp', false],
    ['#', 'anything/at/all', true],
    ['#', '$SYS/#', false],
    ['+/#', '#', true],
    ['a/+/#', 'a/#', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/broker/+', true],
    ['a/+', 'a/', true],
  ] as const)('%s covers %s: %s', (rule, filter, expected) => {
    expect(filterCovers(rule, filter)).toBe(expected);
  });

  it(`matches brute force over ${filters.length}² small filters`, () => {
    for (const rule of filters) {
      for (const filter of filters) {
        expect({ rule, filter, covers: filterCovers(rule, filter) }).toEqual({ rule, filter, covers: coversByBruteForce(rule, filter) });
      }
    }
  });
});

describe('filtersOverlap', () => {
  it.each([
    ['sensors/+', 'sensors/secret', true],
    ['sensors/secret', 'sensors/#', true],
    ['a/#', 'a', true],
    ['a/+', 'a', false],
    ['+/x', '$SYS/x', false],
    ['#', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['a/+/c', 'a/b/+', true],
    ['a/b', 'a/c', false],
  ] as const)('%s overlaps %s: %s', (a, b, expected) => {
    expect(filtersOverlap(a, b)).toBe(expected);
    expect(filtersOverlap(b, a)).toBe(expected);
  });

  it(`matches brute force over ${filters.length}² small filters`, () => {
    for (const a of filters) {
      for (const b of filters) {
        expect({ a, b, overlaps: filtersOverlap(a, b) }).toEqual({ a, b, overlaps: overlapsByBruteForce(a, b) });
      }
    }
  });
});

describe('on topic names both reduce to topicMatchesFilter', () => {
  const level = fc.constantFrom('a', 'b', '', '$s', 'long-level');
  const topic = fc.array(level, { minLength: 1, maxLength: 6 }).map((levels) => levels.join('/'));
  const filter = fc
    .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 0, maxLength: 5 }), fc.boolean())
    .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
    .filter((text) => text !== '' && validateTopicFilter(text));

  it('for random filters and topics', () => {
    fc.assert(
      fc.property(filter, topic, (f, t) => {
        const expected = topicMatchesFilter(f, t);
        expect(filterCovers(f, t)).toBe(expected);
        expect(filtersOverlap(f, t)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});
