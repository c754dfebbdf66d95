/**
 * How two topic filters relate as sets of topic names, for access control
 * decided at SUBSCRIBE time: a grant must *cover* the requested filter
 * (every topic it can deliver is granted), and a deny must not *overlap* it
 * (no topic it can deliver is denied).
 *
 * Both follow the matching rules of shared/topic.ts `topicMatchesFilter`,
 * including "a wildcard in the first level does not match a topic starting
 * with '$'" [MQTT-4.7.2-1]. For a filter without wildcards (a topic name),
 * both reduce to `topicMatchesFilter(rule, topic)`. Filters are assumed
 * valid (`validateTopicFilter`).
 */
import { topicLevels } from '../../shared/topic.ts';

/**
 * True when every topic name `filter` matches is also matched by `rule`.
 *
 * @example
 * filterCovers('sensors/#', 'sensors/+/temp'); // true
 * filterCovers('sensors/+', 'sensors/#');      // false: 'sensors/a/b' escapes
 * filterCovers('#', '$SYS/#');                 // false: '#' never matches '$' topics
 */
export function filterCovers(rule: string, filter: string): boolean {
  const ruleLevels = topicLevels(rule);
  const filterLevels = topicLevels(filter);
  for (let i = 0; ; i++) {
    const r = ruleLevels[i];
    const f = filterLevels[i];
    if (r === undefined) return f === undefined;
    // '#' takes the rest, and the parent level itself ('a/#' matches 'a').
    if (r === '#') return !(i === 0 && f !== undefined && isDollarLevel(f));
    // The filter's topics end here, but the rule needs another level.
    if (f === undefined) return false;
    // The filter reaches any depth from here, its parent included ('a/#' matches 'a'):
    // only a '#' in the rule follows. At the first level there is no parent (a topic
    // has at least one level), so '+/#' follows too.
    if (f === '#') return i === 0 && r === '+' && ruleLevels[1] === '#';
    if (f === '+') {
      if (r !== '+') return false;
    } else if (r === '+') {
      if (i === 0 && isDollarLevel(f)) return false;
    } else if (r !== f) {
      return false;
    }
  }
}

/**
 * True when some topic name is matched by both filters.
 *
 * @example
 * filtersOverlap('sensors/+', 'sensors/secret'); // true
 * filtersOverlap('a/#', 'a');                    // true ('a/#' matches 'a')
 * filtersOverlap('+/x', '$SYS/x');               // false
 */
export function filtersOverlap(a: string, b: string): boolean {
  const aLevels = topicLevels(a);
  const bLevels = topicLevels(b);
  for (let i = 0; ; i++) {
    const x = aLevels[i];
    const y = bLevels[i];
    if (x === undefined && y === undefined) return true;
    if (x === '#' || y === '#') {
      const other = x === '#' ? y : x;
      return !(i === 0 && other !== undefined && isDollarLevel(other));
    }
    if (x === undefined || y === undefined) return false;
    if (x === '+' || y === '+') {
      const other = x === '+' ? y : x;
      if (i === 0 && isDollarLevel(other)) return false;
    } else if (x !== y) {
      return false;
    }
  }
}

/** A literal level starting with '$', which first-level wildcards never match. */
function isDollarLevel(level: string): boolean {
  return level !== '+' && level !== '#' && level.startsWith('$');
}
