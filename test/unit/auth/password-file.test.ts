/**
 * Password files as the real `mosquitto_passwd` writes them ($6$ and $7$),
 * independent vectors from node:crypto, and the errors for lines we refuse.
 */
import { execFileSync } from 'node:child_process';
import { createHash, pbkdf2Sync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../../edge/auth/config-error.ts';
import { parsePasswordFile, verifyPassword, type PasswordFile } from '../../../edge/auth/password-file.ts';
import { formatPasswordHash, parsePasswordHash } from '../../../edge/auth/password-hash.ts';
import { hasMosquittoPasswd } from './mosquitto-tools.ts';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** The ConfigError `parsePasswordFile(text)` throws. */
function parseError(text: string): ConfigError {
  try {
    parsePasswordFile(text);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const salt12 = Buffer.from('0123456789ab');
const sha512Line = (user: string, password: string): string =>
  `${user}:$6$${salt12.toString('base64')}$${createHash('sha512').update(Buffer.concat([Buffer.from(password), salt12])).digest('base64')}`;
const pbkdf2Line = (user: string, password: string, iterations = 101): string =>
  `${user}:$7$${iterations}$${salt12.toString('base64')}$${pbkdf2Sync(password, salt12, iterations, 64, 'sha512').toString('base64')}`;

describe.skipIf(!hasMosquittoPasswd())('files written by mosquitto_passwd', () => {
  let dir: string;
  let file: PasswordFile;
  const users: Array<{ name: string; password: string; options: string[] }> = [
    { name: 'default', password: 'secret', options: [] },
    { name: 'legacy', password: 'hunter2', options: ['-H', 'sha512'] },
    { name: 'pbkdf2', password: 'correct horse', options: ['-H', 'sha512-pbkdf2'] },
    { name: 'colon', password: 'pa:ss$word', options: [] },
    { name: 'émile', password: 'pässwörd ✓', options: [] },
    { name: 'legacy-utf8', password: 'ünïcode', options: ['-H', 'sha512'] },
    { name: 'empty', password: '', options: [] },
  ];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mqtt-passwd-'));
    const path = join(dir, 'passwd');
    users.forEach(({ name, password, options }, i) => {
      execFileSync('mosquitto_passwd', [...options, ...(i === 0 ? ['-c'] : []), '-b', path, name, password]);
    });
    file = parsePasswordFile(readFileSync(path, 'utf8'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every entry with the scheme mosquitto_passwd chose', () => {
    expect([...file.users.keys()]).toEqual(users.map((u) => u.name));
    expect(file.users.get('default')).toMatchObject({ kind: 'sha512-pbkdf2', iterations: 101 });
    expect(file.users.get('legacy')).toMatchObject({ kind: 'sha512' });
    expect(file.users.get('pbkdf2')).toMatchObject({ kind: 'sha512-pbkdf2', iterations: 101 });
  });

  it.each(users)('accepts the right password of $name', async ({ name, password }) => {
    expect(await verifyPassword(file, name, utf8(password))).toBe(true);
  });

  it.each(users)('refuses a wrong password for $name', async ({ name, password }) => {
    expect(await verifyPassword(file, name, utf8(`${password}x`))).toBe(false);
    expect(await verifyPassword(file, name, utf8(password.slice(0, -1) || 'x'))).toBe(false);
  });

  it("refuses another user's password and an unknown user", async () => {
    expect(await verifyPassword(file, 'legacy', utf8('secret'))).toBe(false);
    expect(await verifyPassword(file, 'nobody', utf8('secret'))).toBe(false);
    expect(await verifyPassword(file, 'Default', utf8('secret'))).toBe(false);
  });

  it('formats each parsed hash back to the text mosquitto_passwd wrote', () => {
    const lines = readFileSync(join(dir, 'passwd'), 'utf8').trim().split('\n');
    for (const line of lines) {
      const hashText = line.slice(line.indexOf(':') + 1);
      const parsed = parsePasswordHash(hashText);
      expect(parsed.ok).toBe(true);
      if (parsed.ok) expect(formatPasswordHash(parsed.hash)).toBe(hashText);
    }
  });
});

describe('hash schemes against node:crypto', () => {
  it('$6$ is SHA-512 over the password then the salt bytes', async () => {
    const file = parsePasswordFile(`${sha512Line('a', 'pw')}\n`);
    expect(await verifyPassword(file, 'a', utf8('pw'))).toBe(true);
    expect(await verifyPassword(file, 'a', utf8('pW'))).toBe(false);
  });

  it('$7$ is PBKDF2-HMAC-SHA512 with the stored iteration count', async () => {
    const file = parsePasswordFile(`${pbkdf2Line('a', 'pw', 7)}\n${pbkdf2Line('b', 'pw', 1000)}\n`);
    expect(await verifyPassword(file, 'a', utf8('pw'))).toBe(true);
    expect(await verifyPassword(file, 'b', utf8('pw'))).toBe(true);
    expect(await verifyPassword(file, 'a', utf8('other'))).toBe(false);
  });

  it('compares the password as raw bytes, not as text', async () => {
    const raw = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    const line = `bin:$7$101$${salt12.toString('base64')}$${pbkdf2Sync(raw, salt12, 101, 64, 'sha512').toString('base64')}`;
    const file = parsePasswordFile(line);
    expect(await verifyPassword(file, 'bin', new Uint8Array(raw))).toBe(true);
    expect(await verifyPassword(file, 'bin', utf8('\uFFFD\uFFFD\u0000A'))).toBe(false);
  });
});

describe('parsePasswordFile layout', () => {
  it('skips blank lines and # comments, accepts CRLF and blanks around the fields', async () => {
    const text = ['# users', '', `  ${pbkdf2Line('a', 'one')}  `, '   # indented comment', `${sha512Line('b', 'two')}\r`, ''].join('\n');
    const file = parsePasswordFile(text);
    expect([...file.users.keys()]).toEqual(['a', 'b']);
    expect(await verifyPassword(file, 'b', utf8('two'))).toBe(true);
  });

  it('accepts an empty file, where every login fails', async () => {
    const file = parsePasswordFile('');
    expect(file.users.size).toBe(0);
    expect(await verifyPassword(file, 'anyone', utf8(''))).toBe(false);
  });

  it('keeps usernames case-sensitive and allows spaces inside them', async () => {
    const file = parsePasswordFile(`${pbkdf2Line('Sp ace', 'x')}\n`);
    expect(await verifyPassword(file, 'Sp ace', utf8('x'))).toBe(true);
    expect(await verifyPassword(file, 'sp ace', utf8('x'))).toBe(false);
  });
});

describe('parsePasswordFile errors', () => {
  const good = pbkdf2Line('ok', 'x');
  const salt16 = Buffer.alloc(16).toString('base64');
  const digest64 = Buffer.alloc(64).toString('base64');
  const salt12b64 = salt12.toString('base64');

  it.each([
    { name: 'no colon', line: 'alice', message: /expected username:hash/ },
    { name: 'empty username', line: `:$6$${salt12b64}$${digest64}`, message: /empty username/ },
    { name: 'a plain-text password', line: 'alice:secret', message: /plain-text passwords are not supported/ },
    { name: 'an unknown hash type', line: `alice:$5$${salt12b64}$${digest64}`, message: /unknown hash type \$5\$/ },
    { name: 'a $6$ hash with an extra field', line: `alice:$6$1$${salt12b64}$${digest64}`, message: /\$6\$<salt>\$<digest>/ },
    { name: 'a $7$ hash without iterations', line: `alice:$7$${salt12b64}$${digest64}`, message: /\$7\$<iterations>/ },
    { name: 'zero iterations', line: `alice:$7$0$${salt12b64}$${digest64}`, message: /at least 1/ },
    { name: 'non-numeric iterations', line: `alice:$7$1e3$${salt12b64}$${digest64}`, message: /not a number/ },
    { name: 'more iterations than workerd allows', line: `alice:$7$100001$${salt12b64}$${digest64}`, message: /above 100000/ },
    { name: 'a salt that is not base64', line: `alice:$6$!!!!$${digest64}`, message: /salt is not valid base64/ },
    { name: 'unpadded base64', line: `alice:$6$${salt12b64}$${digest64.replace(/=+$/, '')}`, message: /digest is not valid base64/ },
    { name: 'a 16-byte salt', line: `alice:$6$${salt16}$${digest64}`, message: /salt is 16 bytes, mosquitto uses 12/ },
    { name: 'a short digest', line: `alice:$7$101$${salt12b64}$${Buffer.alloc(32).toString('base64')}`, message: /digest is 32 bytes, expected 64/ },
  ])('rejects $name, naming the line', ({ line, message }) => {
    const error = parseError(['# header', good, '', line, good.replace('ok:', 'later:')].join('\n'));
    expect(error.line).toBe(4);
    expect(error.message).toMatch(/^line 4: /);
    expect(error.message).toMatch(message);
  });

  it('never quotes a plain-text password that starts with $', () => {
    const error = parseError('alice:$Tr0ub4dor&3');
    expect(error.message).toMatch(/unknown hash type \(expected/);
    expect(error.message).not.toContain('Tr0ub4dor');
  });

  it('never quotes the hash in the message', () => {
    const digest = Buffer.alloc(63, 7).toString('base64');
    const error = parseError(`alice:$6$${salt12b64}$${digest}`);
    expect(error.message).not.toContain(digest);
    expect(error.message).not.toContain(salt12b64);
  });

  it('rejects a user listed twice, naming both lines', () => {
    const error = parseError([good, pbkdf2Line('b', 'y'), pbkdf2Line('ok', 'z')].join('\n'));
    expect(error.line).toBe(3);
    expect(error.message).toMatch(/user "ok" is already defined on line 1/);
  });
});

describe('unknown users cost the same as known ones', () => {
  afterEach(() => vi.restoreAllMocks());

  it('runs PBKDF2 with the iteration count most users have, then compares', async () => {
    const file = parsePasswordFile([pbkdf2Line('a', 'x', 101), pbkdf2Line('b', 'x', 101), pbkdf2Line('c', 'x', 5000)].join('\n'));
    expect(file.decoy).toMatchObject({ kind: 'sha512-pbkdf2', iterations: 101 });
    const deriveBits = vi.spyOn(crypto.subtle, 'deriveBits');
    expect(await verifyPassword(file, 'ghost', utf8('x'))).toBe(false);
    expect(await verifyPassword(file, 'a', utf8('wrong'))).toBe(false);
    expect(deriveBits).toHaveBeenCalledTimes(2);
    const iterations = deriveBits.mock.calls.map(([params]) => (params as Pbkdf2Params).iterations);
    expect(iterations).toEqual([101, 101]);
  });

  it('hashes with SHA-512 when the file holds $6$ hashes', async () => {
    const file = parsePasswordFile([sha512Line('a', 'x'), sha512Line('b', 'y')].join('\n'));
    expect(file.decoy.kind).toBe('sha512');
    const digest = vi.spyOn(crypto.subtle, 'digest');
    expect(await verifyPassword(file, 'ghost', utf8('x'))).toBe(false);
    expect(digest).toHaveBeenCalledTimes(1);
  });

  it('refuses an unknown user even with the decoy digest', async () => {
    const file = parsePasswordFile(pbkdf2Line('a', 'x'));
    // The decoy digest is all zeros; no password reaches it, but the answer must not depend on that.
    expect(await verifyPassword(file, 'ghost', new Uint8Array(0))).toBe(false);
  });
});
