/**
 * Topic names and topic filters (spec 4.7): validation, shared subscription
 * parsing, and a reference matcher.
 *
 * The codec only checks that topics are well-formed UTF-8; what a topic may
 * contain (wildcards, empty levels, length) is decided here, by the broker.
 */

/** A UTF-8 Encoded String is at most 65,535 bytes (spec 1.5.4). */
const MaxTopicBytes = 65_535;
const SharePrefix = '$share/';

/** UTF-8 byte length without allocating (JS strings are UTF-16; lone surrogates count as U+FFFD, 3 bytes). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

function hasValidLength(text: string): boolean {
  // Fast path: even all 3-byte units fit.
  return text.length * 3 <= MaxTopicBytes || utf8Length(text) <= MaxTopicBytes;
}

/**
 * A Topic Name a PUBLISH (or a will) may carry: at least one character
 * [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-2], no U+0000 [MQTT-4.7.3-2],
 * at most 65,535 bytes.
 *
 * @example
 * validateTopicName('sport/tennis'); // true
 * validateTopicName('sport/+');      // false
 */
export function validateTopicName(topic: string): boolean {
  if (topic.length === 0 || !hasValidLength(topic)) return false;
  for (let i = 0; i < topic.length; i++) {
    const unit = topic.charCodeAt(i);
    if (unit === 0x2b /* + */ || unit === 0x23 /* # */ || unit === 0) return false;
  }
  return true;
}

/**
 * A Topic Filter a SUBSCRIBE may carry: at least one character
 * [MQTT-4.7.3-1]; '#' only as a whole level and the last one [MQTT-4.7.1-2];
 * '+' only as a whole level [MQTT-4.7.1-3]; no U+0000; at most 65,535 bytes.
 * A '$share/...' filter is validated as a plain filter here: use
 * `parseSharedSubscription` to take it apart.
 *
 * @example
 * validateTopicFilter('sport/+/player1'); // true
 * validateTopicFilter('sport/tennis#');   // false
 */
export function validateTopicFilter(filter: string): boolean {
  if (filter.length === 0 || !hasValidLength(filter)) return false;
  let levelStart = 0;
  for (let i = 0; i <= filter.length; i++) {
    const unit = i === filter.length ? 0x2f /* end acts as a separator */ : filter.charCodeAt(i);
    if (unit === 0) return false;
    if (unit === 0x2b /* + */ || unit === 0x23 /* # */) {
      // The wildcard must fill its level: previous char is a separator (or start) and next one too (or end).
      const next = i + 1 < filter.length ? filter.charCodeAt(i + 1) : 0x2f;
      if (i !== levelStart || next !== 0x2f) return false;
      if (unit === 0x23 && i + 1 !== filter.length) return false;
    } else if (unit === 0x2f /* / */) {
      levelStart = i + 1;
    }
  }
  return true;
}

export type SharedParse =
  | { kind: 'plain'; filter: string }
  | { kind: 'shared'; group: string; filter: string }
  | { kind: 'invalid'; reason: string };

/**
 * Classifies a subscription's Topic Filter and validates it.
 *
 * '$share/{ShareName}/{filter}' is a Shared Subscription (spec 4.8.2): the
 * ShareName is at least one character and holds no '/', '+' or '#'
 * [MQTT-4.8.2-1/2], and the filter after it is a valid Topic Filter.
 * Anything else is a plain filter, validated with `validateTopicFilter`.
 *
 * @example
 * parseSharedSubscription('$share/workers/jobs/#'); // { kind: 'shared', group: 'workers', filter: 'jobs/#' }
 * parseSharedSubscription('$share/workers');        // { kind: 'invalid', ... }
 */
export function parseSharedSubscription(filter: string): SharedParse {
  if (!filter.startsWith(SharePrefix)) {
    return validateTopicFilter(filter) ? { kind: 'plain', filter } : { kind: 'invalid', reason: 'invalid topic filter' };
  }
  if (!hasValidLength(filter)) return { kind: 'invalid', reason: 'topic filter too long' };
  const groupEnd = filter.indexOf('/', SharePrefix.length);
  if (groupEnd === -1) return { kind: 'invalid', reason: 'shared subscription without a topic filter' };
  const group = filter.slice(SharePrefix.length, groupEnd);
  if (group.length === 0) return { kind: 'invalid', reason: 'empty share name' };
  if (/[+#\u0000]/.test(group)) return { kind: 'invalid', reason: 'share name contains a wildcard' };
  const inner = filter.slice(groupEnd + 1);
  if (!validateTopicFilter(inner)) return { kind: 'invalid', reason: 'invalid topic filter in shared subscription' };
  return { kind: 'shared', group, filter: inner };
}

/** The levels of a topic or filter: 'a//b' → ['a', '', 'b'] (empty levels are levels, spec 4.7.1.1). */
export function topicLevels(topic: string): string[] {
  return topic.split('/');
}

/**
 * Reference matcher: does the (plain, valid) `filter` match the (valid)
 * topic name `topic`? Simple rather than fast; it is the oracle the topic
 * tree is tested against.
 *
 * - '+' matches exactly one level, including an empty one;
 * - '#' matches any number of levels, including the parent itself
 *   ('sport/#' matches 'sport') [MQTT-4.7.1-2];
 * - a wildcard in the first level does not match a topic starting with '$'
 *   [MQTT-4.7.2-1].
 */
export function topicMatchesFilter(filter: string, topic: string): boolean {
  const filterLevels = topicLevels(filter);
  const nameLevels = topicLevels(topic);
  if (topic.startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) return false;
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i];
    if (level === '#') return true;
    const name = nameLevels[i];
    if (name === undefined) return false;
    if (level !== '+' && level !== name) return false;
  }
  return filterLevels.length === nameLevels.length;
}
