/**
 * mosquitto ACL files (the `acl_file` option; mosquitto.conf(5), mosquitto
 * 2.0 src/security_default.c) and the read/write decisions they give.
 *
 * File format, one directive per line:
 *   topic [read|write|readwrite|deny] <filter>   rule for the current block
 *   user <username>                              starts the block of that user
 *   pattern [read|write|readwrite|deny] <filter> rule for every client, %u → username, %c → client id
 * `topic` lines before the first `user` line form the anonymous block:
 * they apply to clients that connected without a username, and only to
 * them. A client with a username gets its own block (if any) plus the
 * patterns. `pattern` lines apply to every client wherever they appear,
 * even inside a user block. Without an access word the rule is readwrite.
 * Once an ACL is configured, nothing is allowed that no rule grants.
 *
 * Read access is mosquitto's (2.0): it is decided per message delivered,
 * so a subscription to `#` is granted and delivers only what the client may
 * read. Where we differ from mosquitto, on purpose (listed in docs/security.md and
 * checked by test/differential against a real mosquitto):
 * - A deny wins over every grant, from any block (mosquitto lets a grant in
 *   the user's block win over a pattern deny, as it checks the block first).
 * - A SUBSCRIBE whose filter can match nothing the client may read (a filter
 *   inside a deny, or outside every grant) is refused (mosquitto grants it,
 *   and it never delivers anything).
 * - A %u/%c value containing '+', '#' or '/', or empty, cannot be
 *   substituted safely ('+' and '#' would become wildcards, '/' would reach
 *   into another client's subtree). Such a pattern grants nothing to that
 *   client, and a deny pattern denies everything to it: when we cannot tell
 *   what a deny means, we assume the worst. (mosquitto 2.0 denies all pattern
 *   access to a username or client id containing '+' or '#'.)
 * - Lines we do not understand are errors (`ConfigError` with the line
 *   number), including `topic read` with no filter, which mosquitto would
 *   read as a readwrite rule for the topic "read".
 */
import { parseSharedSubscription, validateTopicFilter, validateTopicName } from '../../shared/topic.ts';
import { ConfigError } from './config-error.ts';
import { topicMatchesFilter } from '../../shared/topic.ts';
import { filterCovers, filtersOverlap } from './filter-relations.ts';

export type AclAccess = 'read' | 'write' | 'readwrite' | 'deny';

export interface AclRule {
  readonly access: AclAccess;
  /** A topic filter; for patterns, still holding its %u / %c. */
  readonly filter: string;
  /** Where it came from, to explain a decision. */
  readonly line: number;
}

export interface Acl {
  /** `topic` rules before the first `user` line: clients without a username. */
  readonly anonymous: readonly AclRule[];
  /** `topic` rules per username (repeated `user` blocks are merged). */
  readonly users: ReadonlyMap<string, readonly AclRule[]>;
  /** `pattern` rules, for every client. */
  readonly patterns: readonly AclRule[];
}

/** Who is asking: the CONNECT's username (absent for anonymous clients) and client id. */
export interface AclClient {
  readonly username?: string | undefined;
  readonly clientId: string;
}

const AccessWords: readonly string[] = ['read', 'write', 'readwrite', 'deny'] satisfies AclAccess[];

function isAccessWord(word: string): word is AclAccess {
  return AccessWords.includes(word);
}

/**
 * Parses the text of an ACL file. Blank lines and lines starting with `#`
 * are skipped.
 *
 * @throws {ConfigError} for the first line that is not a valid directive.
 *
 * @example
 * const acl = parseAclFile('topic read public/#\nuser alice\ntopic readwrite alice/#\npattern write devices/%c/status\n');
 */
export function parseAclFile(text: string): Acl {
  const anonymous: AclRule[] = [];
  const users = new Map<string, AclRule[]>();
  const patterns: AclRule[] = [];
  let block = anonymous;

  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const line = lines[index]!.trim();
    if (line === '' || line.startsWith('#')) continue;

    const [keyword, rest] = splitFirstWord(line);
    if (keyword === 'user') {
      if (rest === '') throw new ConfigError(lineNumber, 'user without a username');
      const existing = users.get(rest);
      if (existing) block = existing;
      else users.set(rest, (block = []));
    } else if (keyword === 'topic') {
      block.push(parseRule(rest, lineNumber));
    } else if (keyword === 'pattern') {
      patterns.push(parseRule(rest, lineNumber));
    } else {
      throw new ConfigError(lineNumber, `unknown directive "${keyword}" (expected topic, pattern or user)`);
    }
  }
  return { anonymous, users, patterns };
}

/** `[access] <filter>`; the filter may contain spaces when the access word is given. */
function parseRule(text: string, line: number): AclRule {
  if (text === '') throw new ConfigError(line, 'missing topic filter');
  const [first, rest] = splitFirstWord(text);
  let access: AclAccess = 'readwrite';
  let filter = first;
  if (rest !== '') {
    if (!isAccessWord(first)) throw new ConfigError(line, `unknown access "${first}" (expected read, write, readwrite or deny)`);
    access = first;
    filter = rest;
  } else if (isAccessWord(first)) {
    throw new ConfigError(line, `missing topic filter after "${first}"`);
  }
  if (!validateTopicFilter(filter)) throw new ConfigError(line, `invalid topic filter "${filter}"`);
  return { access, filter, line };
}

function splitFirstWord(text: string): [string, string] {
  const match = /^(\S+)\s*(.*)$/.exec(text);
  return match ? [match[1]!, match[2]!] : ['', ''];
}

/**
 * What a subscription may deliver: everything its filter matches (no check
 * per message needed), only some of it (each message is checked), or
 * nothing (the SUBSCRIBE is refused).
 */
export type SubscriptionAccess = 'all' | 'some' | 'none';

/** The rules of one ACL as they apply to one client: asked per message delivered, so resolved once. */
export class ClientAcl {
  private readonly denies: Array<string | undefined>;
  private readonly reads: string[];
  private readonly writes: string[];

  constructor(acl: Acl, client: AclClient) {
    const rules = rulesFor(acl, client);
    this.denies = rules.filter((rule) => rule.access === 'deny').map((rule) => rule.filter);
    const grantsOf = (want: 'read' | 'write'): string[] =>
      rules.flatMap((rule) => (rule.access !== 'deny' && rule.filter !== undefined && grants(rule.access, want) ? [rule.filter] : []));
    this.reads = grantsOf('read');
    this.writes = grantsOf('write');
  }

  /** May the client receive a message on `topic`? */
  mayRead(topic: string): boolean {
    return this.allows(this.reads, topic);
  }

  /** May the client publish (or leave a will) on `topic`? A name with wildcards never. */
  mayWrite(topic: string): boolean {
    return validateTopicName(topic) && this.allows(this.writes, topic);
  }

  private allows(granted: readonly string[], topic: string): boolean {
    // An unsafe deny (undefined) denies everything.
    if (this.denies.some((deny) => deny === undefined || topicMatchesFilter(deny, topic))) return false;
    return granted.some((grant) => topicMatchesFilter(grant, topic));
  }

  /** What a subscription to `filter` (a `$share/{group}/` prefix is judged on its filter) may deliver. */
  subscription(filterOrShared: string): SubscriptionAccess {
    const parsed = parseSharedSubscription(filterOrShared);
    if (parsed.kind === 'invalid') return 'none';
    const filter = parsed.filter;
    if (this.denies.some((deny) => deny === undefined || filterCovers(deny, filter))) return 'none';
    if (!this.reads.some((grant) => filtersOverlap(grant, filter))) return 'none';
    const denied = this.denies.some((deny) => deny !== undefined && filtersOverlap(deny, filter));
    return !denied && this.reads.some((grant) => filterCovers(grant, filter)) ? 'all' : 'some';
  }
}

/**
 * May `client` subscribe to `filterOrTopic` at all, i.e. can it match
 * something the client may read? (Which messages it then gets is decided
 * per message: `ClientAcl.mayRead`.)
 *
 * @example
 * canRead(acl, { clientId: 'c1' }, 'public/+/news'); // with `topic read public/#`: true
 */
export function canRead(acl: Acl, client: AclClient, filterOrTopic: string): boolean {
  return new ClientAcl(acl, client).subscription(filterOrTopic) !== 'none';
}

/**
 * May `client` publish to `topic`? A name with wildcards is never allowed.
 *
 * @example
 * canWrite(acl, { username: 'alice', clientId: 'c1' }, 'alice/status');
 */
export function canWrite(acl: Acl, client: AclClient, topic: string): boolean {
  return new ClientAcl(acl, client).mayWrite(topic);
}

/** A rule as it applies to one client: `filter` undefined when its substitution was unsafe. */
interface ResolvedRule {
  readonly access: AclAccess;
  readonly filter: string | undefined;
}

function grants(access: Exclude<AclAccess, 'deny'>, want: 'read' | 'write'): boolean {
  return access === 'readwrite' || access === want;
}

function rulesFor(acl: Acl, client: AclClient): ResolvedRule[] {
  const own = client.username === undefined ? acl.anonymous : (acl.users.get(client.username) ?? []);
  const rules: ResolvedRule[] = [...own];
  for (const pattern of acl.patterns) {
    const filter = substitute(pattern.filter, client);
    if (filter === NotApplicable) continue;
    rules.push({ access: pattern.access, filter: filter === Unsafe ? undefined : filter });
  }
  return rules;
}

const NotApplicable = Symbol('not applicable');
const Unsafe = Symbol('unsafe');

/**
 * Replaces %c and %u in a pattern, left to right like mosquitto (any other
 * '%' stays as it is). A pattern with %u does not apply to an anonymous
 * client.
 */
function substitute(pattern: string, client: AclClient): string | typeof NotApplicable | typeof Unsafe {
  let result = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    const next = pattern[i + 1];
    if (char === '%' && (next === 'c' || next === 'u')) {
      const value = next === 'c' ? client.clientId : client.username;
      if (value === undefined) return NotApplicable;
      if (!isSafeSubstitution(value)) return Unsafe;
      result += value;
      i++;
    } else {
      result += char;
    }
  }
  return result;
}

/** A value that fills part of one level and cannot act as a wildcard or separator. */
function isSafeSubstitution(value: string): boolean {
  return value !== '' && !/[+#/]/.test(value);
}
