/**
 * scripts/mqtt-passwd.ts: its pieces, and the real command writing files
 * that our verifier accepts and that look exactly like mosquitto_passwd's.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePasswordFile, verifyPassword } from '../../../edge/auth/password-file.ts';
import { parsePasswdArguments, passwordFromInput, setUserLine, usernameProblem } from '../../../scripts/mqtt-passwd.ts';
import { hasMosquittoPasswd } from './mosquitto-tools.ts';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const script = join(repoRoot, 'scripts/mqtt-passwd.ts');
const tsx = join(repoRoot, 'node_modules/.bin/tsx');
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** The line shape `mosquitto_passwd` 2.0 writes by default: 12-byte salt, 64-byte digest, 101 iterations. */
const mosquittoDefaultLine = (username: string): RegExp =>
  new RegExp(`^${username}:\\$7\\$101\\$[A-Za-z0-9+/]{16}\\$[A-Za-z0-9+/]{86}==$`);

function runCli(args: string[], input?: string): { status: number | null; stderr: string } {
  const result = spawnSync(tsx, [script, ...args], { input: input ?? '', encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stderr: result.stderr };
}

describe('parsePasswdArguments', () => {
  it.each([
    [['passwd', 'alice'], { file: 'passwd', username: 'alice', password: undefined, create: false, iterations: 101 }],
    [['-c', '-b', 'passwd', 'alice', 'secret'], { file: 'passwd', username: 'alice', password: 'secret', create: true, iterations: 101 }],
    [['-b', '-I', '5000', 'passwd', 'bob', ''], { file: 'passwd', username: 'bob', password: '', create: false, iterations: 5000 }],
  ])('%j', (args, expected) => {
    expect(parsePasswdArguments(args)).toEqual(expected);
  });

  it.each([
    [['passwd'], /usage/],
    [['-b', 'passwd', 'alice'], /usage/],
    [['passwd', 'alice', 'extra'], /usage/],
    [['-x', 'passwd', 'alice'], /unknown option -x/],
    [['-I', '0', 'passwd', 'alice'], /1\.\.100000/],
    [['-I', '100001', 'passwd', 'alice'], /1\.\.100000/],
    [['-I'], /iteration count/],
    [['passwd', 'a:b'], /must not contain ':'/],
  ])('refuses %j', (args, message) => {
    const result = parsePasswdArguments(args);
    expect(result).toHaveProperty('error');
    if ('error' in result) expect(result.error).toMatch(message);
  });
});

describe('usernameProblem', () => {
  it.each(['alice', 'John Smith', 'émile', 'a/b'])('accepts %j', (name) => {
    expect(usernameProblem(name)).toBeUndefined();
  });
  it.each(['', 'a:b', 'a\nb', ' alice', 'alice ', '#alice'])('refuses %j', (name) => {
    expect(usernameProblem(name)).toBeTypeOf('string');
  });
});

describe('setUserLine', () => {
  it('appends to an empty file', () => {
    expect(setUserLine('', 'alice', '$7$h')).toBe('alice:$7$h\n');
  });

  it('replaces the user in place and keeps every other line', () => {
    const before = '# users\nalice:$7$old\n\nbob:$6$b\n';
    expect(setUserLine(before, 'alice', '$7$new')).toBe('# users\nalice:$7$new\n\nbob:$6$b\n');
  });

  it('appends a new user, adding the final newline a file may lack', () => {
    expect(setUserLine('alice:$7$a', 'bob', '$7$b')).toBe('alice:$7$a\nbob:$7$b\n');
  });

  it('does not take a comment or a longer name for the user', () => {
    expect(setUserLine('#alice:x\nalice2:y\n', 'alice', '$7$n')).toBe('#alice:x\nalice2:y\nalice:$7$n\n');
  });
});

describe('passwordFromInput', () => {
  it.each([
    ['secret\n', 'secret'],
    ['secret', 'secret'],
    ['secret\r\n', 'secret'],
    ['secret\nsecret\n', 'secret'],
    ['pass word with spaces\n', 'pass word with spaces'],
    ['\n', ''],
  ])('%j → %j', (input, expected) => {
    expect(passwordFromInput(input)).toBe(expected);
  });

  it('refuses a confirmation that differs, and no input at all', () => {
    expect(passwordFromInput('one\ntwo\n')).toEqual({ error: 'passwords do not match' });
    expect(passwordFromInput('')).toEqual({ error: 'no password on stdin' });
  });
});

describe('the command', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mqtt-passwd-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a file with -c -b, in mosquitto_passwd form, readable only by its owner', async () => {
    const path = join(dir, 'batch');
    expect(runCli(['-c', '-b', path, 'alice', 'secret'])).toMatchObject({ status: 0 });
    const text = readFileSync(path, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(text.trim()).toMatch(mosquittoDefaultLine('alice'));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const file = parsePasswordFile(text);
    expect(await verifyPassword(file, 'alice', utf8('secret'))).toBe(true);
    expect(await verifyPassword(file, 'alice', utf8('Secret'))).toBe(false);
  });

  it('reads the password from stdin and updates the user in place', async () => {
    const path = join(dir, 'stdin');
    expect(runCli(['-c', path, 'bob'], 'first\n')).toMatchObject({ status: 0 });
    expect(runCli([path, 'carol'], 'pässwörd\npässwörd\n')).toMatchObject({ status: 0 });
    expect(runCli([path, 'bob'], 'second\n')).toMatchObject({ status: 0 });
    const file = parsePasswordFile(readFileSync(path, 'utf8'));
    expect([...file.users.keys()]).toEqual(['bob', 'carol']);
    expect(await verifyPassword(file, 'bob', utf8('second'))).toBe(true);
    expect(await verifyPassword(file, 'bob', utf8('first'))).toBe(false);
    expect(await verifyPassword(file, 'carol', utf8('pässwörd'))).toBe(true);
  });

  it('honours -I', async () => {
    const path = join(dir, 'iterations');
    expect(runCli(['-c', '-I', '2000', '-b', path, 'dave', 'x'])).toMatchObject({ status: 0 });
    const file = parsePasswordFile(readFileSync(path, 'utf8'));
    expect(file.users.get('dave')).toMatchObject({ kind: 'sha512-pbkdf2', iterations: 2000 });
    expect(await verifyPassword(file, 'dave', utf8('x'))).toBe(true);
  });

  it('fails without touching anything when the file is missing and -c is not given', () => {
    const result = runCli(['-b', join(dir, 'missing'), 'alice', 'x']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/does not exist/);
  });

  it('fails on mismatched passwords from stdin', () => {
    const path = join(dir, 'mismatch');
    writeFileSync(path, '');
    const result = runCli([path, 'alice'], 'one\ntwo\n');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/do not match/);
    expect(readFileSync(path, 'utf8')).toBe('');
  });

  it.skipIf(!hasMosquittoPasswd())('writes the same shape as mosquitto_passwd, and shares a file with it', async () => {
    const path = join(dir, 'shared');
    execFileSync('mosquitto_passwd', ['-c', '-b', path, 'from-mosquitto', 'one']);
    expect(runCli(['-b', path, 'from-cli', 'two'])).toMatchObject({ status: 0 });
    execFileSync('mosquitto_passwd', ['-b', path, 'again-mosquitto', 'three']);

    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(mosquittoDefaultLine('from-mosquitto'));
    expect(lines[1]).toMatch(mosquittoDefaultLine('from-cli'));
    expect(lines[2]).toMatch(mosquittoDefaultLine('again-mosquitto'));

    const file = parsePasswordFile(lines.join('\n'));
    expect(await verifyPassword(file, 'from-mosquitto', utf8('one'))).toBe(true);
    expect(await verifyPassword(file, 'from-cli', utf8('two'))).toBe(true);
    expect(await verifyPassword(file, 'again-mosquitto', utf8('three'))).toBe(true);
  });
});
