/** Topic names, filters, shared subscriptions and the reference matcher (spec 4.7, 4.8). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSharedSubscription, topicLevels, topicMatchesFilter, validateTopicFilter, validateTopicName } from '../../shared/topic.ts';

describe('validateTopicName', () => {
  it.each(['a', 'sport/tennis/player1', '/', '//', '/finance', 'sport/', '$SYS/broker', 'ünïcødé/😀', ' ', 'a b'])('accepts %j', (topic) => {
    expect(validateTopicName(topic)).toBe(true);
  });

  it.each(['', 'a/+', '+', '#', 'a/#', 'a+b', 'a#', 'a\u0000b'])('rejects %j', (topic) => {
    expect(validateTopicName(topic)).toBe(false);
  });

  it('limits the UTF-8 length to 65,535 bytes', () => {
    expect(validateTopicName('a'.repeat(65_535))).toBe(true);
    expect(validateTopicName('a'.repeat(65_536))).toBe(false);
    // 'é' is 2 bytes in UTF-8: 32,768 of them are 65,536 bytes.
    expect(validateTopicName('é'.repeat(32_767))).toBe(true);
    expect(validateTopicName('é'.repeat(32_768))).toBe(false);
    // '😀' is 4 bytes (two UTF-16 units).
    expect(validateTopicName('😀'.repeat(16_383) + 'abc')).toBe(true);
    expect(validateTopicName('😀'.repeat(16_384))).toBe(false);
  });
});

describe('validateTopicFilter', () => {
  it.each(['#', '+', 'sport/#', 'sport/tennis/#', '+/tennis/#', 'sport/+/player1', '+/+', '/+', '+/', '/', 'a//b', '$SYS/#', '$share/g/a'])(
    'accepts %j',
    (filter) => {
      expect(validateTopicFilter(filter)).toBe(true);
    },
  );

  it.each(['', 'sport/tennis#', 'sport/tennis/#/ranking', '#/a', 'sport+', 'sport/+x', 'x+/a', '++', '##', 'a/#/', 'a\u0000'])('rejects %j', (filter) => {
    expect(validateTopicFilter(filter)).toBe(false);
  });

  it('limits the UTF-8 length to 65,535 bytes', () => {
    expect(validateTopicFilter('a/'.repeat(32_767) + 'a')).toBe(true);
    expect(validateTopicFilter('a/'.repeat(32_768))).toBe(false);
  });
});

describe('parseSharedSubscription', () => {
  it('splits a shared subscription', () => {
    expect(parseSharedSubscription('$share/workers/jobs/#')).toEqual({ kind: 'shared', group: 'workers', filter: 'jobs/#' });
    expect(parseSharedSubscription('$share/g/+')).toEqual({ kind: 'shared', group: 'g', filter: '+' });
    expect(parseSharedSubscription('$share/g//')).toEqual({ kind: 'shared', group: 'g', filter: '/' });
  });

  it('passes plain filters through', () => {
    expect(parseSharedSubscription('a/+')).toEqual({ kind: 'plain', filter: 'a/+' });
    expect(parseSharedSubscription('$share')).toEqual({ kind: 'plain', filter: '$share' });
    expect(parseSharedSubscription('$sharex/g/a')).toEqual({ kind: 'plain', filter: '$sharex/g/a' });
    expect(parseSharedSubscription('$SYS/#')).toEqual({ kind: 'plain', filter: '$SYS/#' });
  });

  it.each(['$share/', '$share/g', '$share//a', '$share/g/', '$share/+/a', '$share/#/a', '$share/g+/a', '$share/g/a#', '$share/g/#/a', 'a/#/b', ''])(
    'rejects %j',
    (filter) => {
      const result = parseSharedSubscription(filter);
      expect(result.kind).toBe('invalid');
    },
  );
});

describe('topicLevels', () => {
  it('keeps empty levels', () => {
    expect(topicLevels('a//b')).toEqual(['a', '', 'b']);
    expect(topicLevels('/finance')).toEqual(['', 'finance']);
    expect(topicLevels('sport/')).toEqual(['sport', '']);
    expect(topicLevels('a')).toEqual(['a']);
  });
});

describe('topicMatchesFilter', () => {
  // Examples from spec 4.7.1 and 4.7.2.
  it.each<[string, string, boolean]>([
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/#', 'sport', true],
    ['#', 'sport/tennis', true],
    ['#', '/', true],
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['+', 'finance', true],
    ['+/tennis/#', 'sport/tennis/x', true],
    ['ACCOUNTS', 'Accounts', false],
    ['a/b', 'a/b', true],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    // [MQTT-4.7.2-1] no leading wildcard match for $ topics.
    ['#', '$SYS/monitor/Clients', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['$SYS/#', '$SYS/monitor/Clients', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['$SYS/#', '$SYS', true],
    ['a/#', 'a/$x', true],
  ])('%j vs %j → %s', (filter, topic, expected) => {
    expect(topicMatchesFilter(filter, topic)).toBe(expected);
  });

  /** An independent matcher: the filter as a regular expression. */
  function regexMatches(filter: string, topic: string): boolean {
    if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
    const escape = (level: string): string => level.replace(/[.*?^${}()|[\]\\]/g, '\\$&');
    const levels = filter.split('/');
    let source = '';
    levels.forEach((level, i) => {
      if (level === '#') {
        // '#' also matches the parent level: 'a/#' matches 'a'.
        source += i === 0 ? '.*' : '(/.*)?';
        return;
      }
      source += (i === 0 ? '' : '/') + (level === '+' ? '[^/]*' : escape(level));
    });
    return new RegExp(`^${source}$`).test(topic);
  }

  it('agrees with a regex matcher on random topics and filters (seeded)', () => {
    const level = fc.constantFrom('a', 'b', '', '$x');
    const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((levels) => levels.join('/'))
      .filter((t) => t.length > 0);
    const filterLevel = fc.constantFrom('a', 'b', '', '+', '$x');
    const filter = fc
      .tuple(fc.array(filterLevel, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
      .filter((f) => f.length > 0);
    fc.assert(
      fc.property(filter, topic, (f, t) => {
        expect(validateTopicFilter(f)).toBe(true);
        expect(topicMatchesFilter(f, t)).toBe(regexMatches(f, t));
      }),
      { seed: 4711, numRuns: 3000 },
    );
  });

  it('a valid topic name used as a filter matches exactly itself', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }).filter(validateTopicName), (topic) => {
        expect(validateTopicFilter(topic)).toBe(true);
        expect(topicMatchesFilter(topic, topic)).toBe(true);
        expect(topicMatchesFilter(topic, `${topic}/x`)).toBe(false);
        if (!topic.startsWith('$')) expect(topicMatchesFilter('#', topic)).toBe(true);
      }),
      { seed: 4712, numRuns: 1000 },
    );
  });
});
