/**
 * The subscription trie against the reference matcher of shared/topic.ts:
 * for random filters and topics, the tree returns exactly the entries whose
 * filter matches, including '$' topics and '#' matching its parent level.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopicTree, type SubscriptionEntry } from '../../../edge/core/topic-tree.ts';
import { topicMatchesFilter } from '../../../shared/topic.ts';

const entry = (clientId: string, filter: string): SubscriptionEntry => ({
  clientId,
  filter,
  qos: 0,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
});

function matches(tree: TopicTree, topic: string): string[] {
  const found: string[] = [];
  tree.match(topic, (e) => found.push(`${e.clientId}:${e.filter}`));
  return found.sort();
}

describe('TopicTree', () => {
  it('matches exact, + and # filters, and # the parent level too', () => {
    const tree = new TopicTree();
    for (const filter of ['a/b', 'a/+', 'a/#', '#', '+/b', 'a/b/c', '+/+/+', 'a']) tree.add(filter, entry('c', filter));
    expect(matches(tree, 'a/b')).toEqual(['c:#', 'c:+/b', 'c:a/#', 'c:a/+', 'c:a/b']);
    expect(matches(tree, 'a')).toEqual(['c:#', 'c:a', 'c:a/#']);
    expect(matches(tree, 'a/b/c')).toEqual(['c:#', 'c:+/+/+', 'c:a/#', 'c:a/b/c']);
  });

  it('does not match $ topics with a leading wildcard [MQTT-4.7.2-1]', () => {
    const tree = new TopicTree();
    for (const filter of ['#', '+/x', '$SYS/#', '$SYS/+']) tree.add(filter, entry('c', filter));
    expect(matches(tree, '$SYS/x')).toEqual(['c:$SYS/#', 'c:$SYS/+']);
  });

  it('removes entries and prunes empty branches', () => {
    const tree = new TopicTree();
    tree.add('a/b/c', entry('one', 'a/b/c'));
    tree.add('a/b/c', entry('two', 'a/b/c'));
    expect(tree.size).toBe(2);
    expect(tree.remove('a/b/c', 'one', 'a/b/c')).toBe(true);
    expect(tree.remove('a/b/c', 'one', 'a/b/c')).toBe(false);
    expect(matches(tree, 'a/b/c')).toEqual(['two:a/b/c']);
    expect(tree.remove('a/b/c', 'two', 'a/b/c')).toBe(true);
    expect(tree.size).toBe(0);
    expect(matches(tree, 'a/b/c')).toEqual([]);
  });

  it('agrees with the reference matcher on random filters and topics', () => {
    const level = fc.constantFrom('a', 'b', '', '$x', 'c');
    const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((levels) => levels.join('/'));
    const filterLevel = fc.constantFrom('a', 'b', '', '$x', '+');
    const filter = fc
      .tuple(fc.array(filterLevel, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'));
    fc.assert(
      fc.property(fc.uniqueArray(filter, { maxLength: 12 }), fc.array(topic, { minLength: 1, maxLength: 5 }), (filters, topics) => {
        const tree = new TopicTree();
        for (const [index, f] of filters.entries()) tree.add(f, entry(`c${index % 3}`, f));
        for (const t of topics) {
          const expected = filters
            .map((f, index) => ({ f, index }))
            .filter(({ f }) => topicMatchesFilter(f, t))
            .map(({ f, index }) => `c${index % 3}:${f}`)
            .sort();
          expect(matches(tree, t)).toEqual(expected);
        }
      }),
      { seed: 20261127, numRuns: 500 },
    );
  });
});
