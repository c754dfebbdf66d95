/**
 * Users and ACL entries added at runtime (the admin API), as plain data:
 * what a valid one looks like, and how they join the configured password
 * file and ACL. No storage and no I/O here (runtime-access-store.ts keeps
 * them in the namespace's SQLite).
 *
 * How they join the configuration, as if they were lines of its files:
 * - A runtime user is a line of the password file, except that a configured
 *   user of the same name always wins: the admin API refuses to create one
 *   (409), and one created before the configuration named it is ignored.
 * - A runtime ACL entry is a line of the ACL file: with a username, a
 *   `topic` line in that user's block (appended to the configured block, as
 *   mosquitto merges repeated `user` blocks); without one, a `topic` line
 *   before the first `user` line, i.e. for clients WITHOUT a username; with
 *   `pattern: true`, a `pattern` line, for every client (so a pattern takes
 *   no username: mosquitto applies patterns to everyone wherever they stand).
 *   The decisions are then acl.ts's, unchanged: a deny wins over any grant,
 *   and once any ACL exists, nothing is allowed that no rule grants.
 */
import { validateTopicFilter } from '../../shared/topic.ts';
import type { Acl, AclAccess, AclRule } from './acl.ts';
import { passwordFileFrom, type PasswordFile } from './password-file.ts';
import { parsePasswordHash, type PasswordHash } from './password-hash.ts';

/** Longest runtime username, in UTF-16 units (a password file line must stay sane). */
export const MaxUsernameLength = 128;
/** Password bytes (UTF-8) a runtime user may have. */
export const MinPasswordBytes = 1;
export const MaxPasswordBytes = 1024;
/** Topic filter length of a runtime ACL entry, in UTF-16 units. */
export const MaxAclTopicLength = 1024;
/** Per namespace: bounded resources, and the merged view stays small enough to rebuild on every change. */
export const MaxRuntimeUsers = 10_000;
export const MaxRuntimeAclEntries = 10_000;

/** A runtime user as stored: the hash text is mosquitto's (`$7$…`), never the password. */
export interface RuntimeUser {
  readonly username: string;
  readonly hash: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** An ACL entry as the API takes it. */
export interface AclEntryInput {
  readonly username: string | null;
  readonly pattern: boolean;
  readonly access: AclAccess;
  readonly topic: string;
}

/** A stored runtime ACL entry. */
export interface RuntimeAclEntry extends AclEntryInput {
  readonly id: number;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

const AccessWords: readonly AclAccess[] = ['read', 'write', 'readwrite', 'deny'];

/**
 * A username the password file and the ACL can both hold: not empty, no
 * `:` (the password file's separator), no control characters (a line
 * break would start another line), no blanks at either end (mosquitto
 * trims them when it reads the files).
 */
export function checkUsername(username: string): string | undefined {
  if (username === '') return 'the username is empty';
  if (username.length > MaxUsernameLength) return `the username is longer than ${MaxUsernameLength} characters`;
  if (username.includes(':')) return 'the username contains ":"';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(username)) return 'the username contains a control character';
  if (username.trim() !== username) return 'the username starts or ends with a blank';
  return undefined;
}

/** `{ "password": "..." }`: the password's bytes as a CONNECT carries them (UTF-8). */
export function checkPasswordBody(body: unknown): Checked<Uint8Array> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, error: 'the body must be a JSON object: { "password": "..." }' };
  const unknown = Object.keys(body).find((key) => key !== 'password');
  if (unknown !== undefined) return { ok: false, error: `unknown field "${unknown}" (only "password")` };
  const password = (body as { password?: unknown }).password;
  if (typeof password !== 'string') return { ok: false, error: '"password" must be a string' };
  const bytes = new TextEncoder().encode(password);
  if (bytes.length < MinPasswordBytes || bytes.length > MaxPasswordBytes) return { ok: false, error: `"password" must be ${MinPasswordBytes}..${MaxPasswordBytes} bytes (UTF-8)` };
  return { ok: true, value: bytes };
}

/** `{ username?, pattern?, access, topic }`, checked as parseAclFile checks a line. */
export function checkAclEntryBody(body: unknown): Checked<AclEntryInput> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, error: 'the body must be a JSON object: { "username"?, "pattern"?, "access", "topic" }' };
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !['username', 'pattern', 'access', 'topic'].includes(key));
  if (unknown !== undefined) return { ok: false, error: `unknown field "${unknown}" (expected username, pattern, access, topic)` };
  const { username = null, pattern = false, access, topic } = fields;
  if (username !== null && typeof username !== 'string') return { ok: false, error: '"username" must be a string or null' };
  if (typeof username === 'string') {
    const problem = checkUsername(username);
    if (problem !== undefined) return { ok: false, error: `"username": ${problem}` };
  }
  if (typeof pattern !== 'boolean') return { ok: false, error: '"pattern" must be true or false' };
  if (pattern && username !== null) return { ok: false, error: 'a pattern applies to every client (use %u / %c in its topic): leave out "username"' };
  if (typeof access !== 'string' || !(AccessWords as readonly string[]).includes(access)) return { ok: false, error: `"access" must be one of ${AccessWords.join(', ')}` };
  if (typeof topic !== 'string') return { ok: false, error: '"topic" must be a string' };
  if (topic.length > MaxAclTopicLength) return { ok: false, error: `"topic" is longer than ${MaxAclTopicLength} characters` };
  // The ACL file's own rule: a filter is one word after the access word, and valid as a SUBSCRIBE filter.
  if (!validateTopicFilter(topic) || /\s/.test(topic.charAt(0)) || /\s/.test(topic.charAt(topic.length - 1))) {
    return { ok: false, error: `"topic" is not a valid topic filter: "${topic}"` };
  }
  return { ok: true, value: { username, pattern, access: access as AclAccess, topic } };
}

/**
 * The configured password file with the runtime users added; a configured
 * name keeps its configured hash. `runtime` undefined: the namespace never
 * had a runtime user (the configured file, or none, is used); an empty list
 * is a runtime password file with nobody in it, which refuses every
 * username, as an empty mosquitto password file does. A runtime hash that
 * does not parse (never written by this code) is skipped.
 */
export function mergePasswords(configured: PasswordFile | undefined, runtime: readonly RuntimeUser[] | undefined): PasswordFile | undefined {
  if (runtime === undefined) return configured;
  const users = new Map<string, PasswordHash>(configured?.users ?? []);
  for (const user of runtime) {
    if (users.has(user.username)) continue;
    const parsed = parsePasswordHash(user.hash);
    if (parsed.ok) users.set(user.username, parsed.hash);
  }
  return passwordFileFrom(users);
}

/**
 * The configured ACL with the runtime entries added where their lines would
 * go (see the top of this file). `entries` undefined: the namespace never
 * had a runtime entry; an empty list is an empty runtime ACL, which (like
 * an empty mosquitto acl_file) allows nothing.
 */
export function mergeAcl(configured: Acl | undefined, entries: readonly RuntimeAclEntry[] | undefined): Acl | undefined {
  if (entries === undefined) return configured;
  const anonymous: AclRule[] = [...(configured?.anonymous ?? [])];
  const users = new Map<string, AclRule[]>([...(configured?.users ?? new Map<string, readonly AclRule[]>())].map(([name, rules]) => [name, [...rules]]));
  const patterns: AclRule[] = [...(configured?.patterns ?? [])];
  for (const entry of entries) {
    // Line 0: not from a file (AclRule.line only explains a decision).
    const rule: AclRule = { access: entry.access, filter: entry.topic, line: 0 };
    if (entry.pattern) patterns.push(rule);
    else if (entry.username === null) anonymous.push(rule);
    else {
      const block = users.get(entry.username);
      if (block === undefined) users.set(entry.username, [rule]);
      else block.push(rule);
    }
  }
  return { anonymous, users, patterns };
}

/** An ACL entry as the API lists it. */
export interface AclEntryView extends AclEntryInput {
  id?: number;
  source: 'config' | 'runtime';
}

/** The configured ACL as entries (read-only, no ids): anonymous block, user blocks, patterns. */
export function configuredAclEntries(acl: Acl | undefined): AclEntryView[] {
  if (acl === undefined) return [];
  const view = (username: string | null, pattern: boolean) => (rule: AclRule): AclEntryView => ({ username, pattern, access: rule.access, topic: rule.filter, source: 'config' });
  return [
    ...acl.anonymous.map(view(null, false)),
    ...[...acl.users].flatMap(([name, rules]) => rules.map(view(name, false))),
    ...acl.patterns.map(view(null, true)),
  ];
}

/**
 * The runtime entries as mosquitto ACL file text, placed where their
 * meaning is the same when appended around a configured file: anonymous
 * `topic` lines first (before any `user` line), then `user` blocks, then
 * patterns. `configured + runtime` in one file is what a real mosquitto
 * would load to decide as we do (the differential tests do just that).
 */
export function runtimeAclText(entries: readonly RuntimeAclEntry[]): { before: string; after: string } {
  const line = (keyword: 'topic' | 'pattern', entry: AclEntryInput): string => `${keyword} ${entry.access} ${entry.topic}\n`;
  const before = entries.filter((e) => !e.pattern && e.username === null).map((e) => line('topic', e)).join('');
  const byUser = new Map<string, string>();
  for (const entry of entries) {
    if (entry.pattern || entry.username === null) continue;
    byUser.set(entry.username, (byUser.get(entry.username) ?? '') + line('topic', entry));
  }
  const blocks = [...byUser].map(([name, lines]) => `user ${name}\n${lines}`).join('');
  const patterns = entries.filter((e) => e.pattern).map((e) => line('pattern', e)).join('');
  return { before, after: blocks + patterns };
}
