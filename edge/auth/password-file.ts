/**
 * mosquitto password files: `username:hash` lines as `mosquitto_passwd`
 * writes them (hash formats in password-hash.ts), checked against the
 * username and password of a CONNECT.
 *
 * Where mosquitto 2.0 logs and drops a line it cannot use, we refuse the
 * whole file with a `ConfigError` naming the line: a user silently missing
 * from the policy is a worse surprise than a broker that will not start.
 */
import { ConfigError } from './config-error.ts';
import { constantTimeEqual } from './constant-time.ts';
import {
  DefaultIterations,
  DigestBytes,
  SaltBytes,
  digestPassword,
  parsePasswordHash,
  type HashParameters,
  type PasswordHash,
} from './password-hash.ts';

export interface PasswordFile {
  /** Users by exact (case-sensitive) username. */
  readonly users: ReadonlyMap<string, PasswordHash>;
  /**
   * What an unknown username is hashed with, so that it costs as much as a
   * wrong password and response times do not reveal which usernames exist:
   * the scheme and iteration count most users of this file have.
   */
  readonly decoy: PasswordHash;
}

/**
 * Parses the text of a password file. Blank lines and lines starting with
 * `#` are skipped; every other line must be `username:$6$…` or
 * `username:$7$…`. Blanks around the username and the hash are trimmed, as
 * mosquitto does.
 *
 * @throws {ConfigError} for the first line that is not a valid entry, or a
 *   username listed twice (mosquitto_passwd never writes one; which entry
 *   would win is not obvious).
 *
 * @example
 * const file = parsePasswordFile('alice:$7$101$CJ336wL5IUyhT34o$FHnG…VQ==\n');
 * await verifyPassword(file, 'alice', new TextEncoder().encode('secret')); // true
 */
export function parsePasswordFile(text: string): PasswordFile {
  const users = new Map<string, PasswordHash>();
  const firstLine = new Map<string, number>();
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const line = lines[index]!.trim();
    if (line === '' || line.startsWith('#')) continue;

    const colon = line.indexOf(':');
    if (colon === -1) throw new ConfigError(lineNumber, 'expected username:hash');
    const username = line.slice(0, colon).trim();
    if (username === '') throw new ConfigError(lineNumber, 'empty username');
    const parsed = parsePasswordHash(line.slice(colon + 1).trim());
    if (!parsed.ok) throw new ConfigError(lineNumber, `user "${username}": ${parsed.problem}`);

    const earlier = firstLine.get(username);
    if (earlier !== undefined) throw new ConfigError(lineNumber, `user "${username}" is already defined on line ${earlier}`);
    firstLine.set(username, lineNumber);
    users.set(username, parsed.hash);
  }
  return passwordFileFrom(users);
}

/** A password file of these users (the configured ones with runtime users added, for example), with its decoy. */
export function passwordFileFrom(users: ReadonlyMap<string, PasswordHash>): PasswordFile {
  return { users, decoy: decoyFor(users.values()) };
}

/**
 * Does `password` (the CONNECT password bytes, as sent) match `username`'s
 * hash? Unknown users take the same path as known ones, a full hash of the
 * decoy and a full-length comparison, and get false. A client that sent no
 * password at all should be refused before calling this: an empty array is
 * a real (empty) password to mosquitto_passwd.
 */
export async function verifyPassword(file: PasswordFile, username: string, password: Uint8Array): Promise<boolean> {
  const known = file.users.get(username);
  const hash = known ?? file.decoy;
  const digest = await digestPassword(password, hash);
  const matches = constantTimeEqual(digest, hash.digest);
  return known !== undefined && matches;
}

/** The most common scheme among `hashes` (ties: the first seen), with a zero salt and digest. */
function decoyFor(hashes: Iterable<PasswordHash>): PasswordHash {
  const counts = new Map<string, { parameters: HashParameters; count: number }>();
  for (const hash of hashes) {
    const key = hash.kind === 'sha512' ? 'sha512' : `pbkdf2:${hash.iterations}`;
    const seen = counts.get(key);
    if (seen) seen.count++;
    else counts.set(key, { parameters: hash, count: 1 });
  }
  let best: HashParameters = { kind: 'sha512-pbkdf2', iterations: DefaultIterations, salt: new Uint8Array(0) };
  let bestCount = 0;
  for (const { parameters, count } of counts.values()) {
    if (count > bestCount) {
      best = parameters;
      bestCount = count;
    }
  }
  const salt = new Uint8Array(SaltBytes);
  const digest = new Uint8Array(DigestBytes);
  return best.kind === 'sha512'
    ? { kind: 'sha512', salt, digest }
    : { kind: 'sha512-pbkdf2', iterations: best.iterations, salt, digest };
}
