/**
 * Runtime users and ACL entries, the pure parts: what is valid, and how
 * they join the configured files. The merge is checked against the
 * configuration's own semantics: the merged ACL decides exactly as the
 * ACL file with the entries written into it as lines (runtimeAclText).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientAcl, parseAclFile, type AclAccess, type AclClient } from '../../../edge/auth/acl.ts';
import { parsePasswordFile, verifyPassword } from '../../../edge/auth/password-file.ts';
import { createPbkdf2Hash, formatPasswordHash } from '../../../edge/auth/password-hash.ts';
import {
  checkAclEntryBody,
  checkPasswordBody,
  checkUsername,
  configuredAclEntries,
  mergeAcl,
  mergePasswords,
  runtimeAclText,
  type RuntimeAclEntry,
} from '../../../edge/auth/runtime-users.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('checkUsername', () => {
  it('accepts what a password file and an ACL user line can hold', () => {
    for (const name of ['alice', 'sensor-01', 'a b', 'ünï', 'x'.repeat(128)]) expect(checkUsername(name)).toBeUndefined();
  });
  it('refuses empty, ":" , control characters, blanks at the ends and long names', () => {
    expect(checkUsername('')).toMatch(/empty/);
    expect(checkUsername('a:b')).toMatch(/":"/);
    expect(checkUsername('a\nb')).toMatch(/control/);
    expect(checkUsername('a\u0000')).toMatch(/control/);
    expect(checkUsername(' alice')).toMatch(/blank/);
    expect(checkUsername('x'.repeat(129))).toMatch(/longer/);
  });
});

describe('checkPasswordBody', () => {
  it('takes { password } as UTF-8 bytes', () => {
    expect(checkPasswordBody({ password: 'pä' })).toEqual({ ok: true, value: bytes('pä') });
  });
  it('refuses other shapes with a message saying what is expected', () => {
    expect(checkPasswordBody('pw')).toMatchObject({ ok: false, error: expect.stringMatching(/JSON object/) });
    expect(checkPasswordBody(null)).toMatchObject({ ok: false });
    expect(checkPasswordBody({ password: 5 })).toMatchObject({ ok: false, error: '"password" must be a string' });
    expect(checkPasswordBody({ password: '' })).toMatchObject({ ok: false, error: expect.stringMatching(/1\.\.1024 bytes/) });
    expect(checkPasswordBody({ password: 'é'.repeat(513) })).toMatchObject({ ok: false });
    expect(checkPasswordBody({ password: 'pw', hash: '$7$' })).toMatchObject({ ok: false, error: expect.stringMatching(/unknown field "hash"/) });
  });
});

describe('checkAclEntryBody', () => {
  it('fills in the defaults: no username (anonymous clients), not a pattern', () => {
    expect(checkAclEntryBody({ access: 'read', topic: 'a/#' })).toEqual({ ok: true, value: { username: null, pattern: false, access: 'read', topic: 'a/#' } });
    expect(checkAclEntryBody({ username: 'alice', access: 'deny', topic: 'a/+/b' })).toMatchObject({ ok: true, value: { username: 'alice' } });
    expect(checkAclEntryBody({ pattern: true, access: 'readwrite', topic: 'devices/%c/#' })).toMatchObject({ ok: true, value: { pattern: true } });
  });
  it('validates the topic filter as parseAclFile does', () => {
    for (const topic of ['a/#/b', 'a+', '', 'a#', ' a/b', 'a/b ', 'x\u0000']) {
      expect(checkAclEntryBody({ access: 'read', topic }), topic).toMatchObject({ ok: false });
    }
    expect(checkAclEntryBody({ access: 'read', topic: 'x'.repeat(1025) })).toMatchObject({ ok: false, error: expect.stringMatching(/longer/) });
  });
  it('refuses unknown access words and fields, bad usernames, and a pattern with a username', () => {
    expect(checkAclEntryBody({ access: 'all', topic: 'a' })).toMatchObject({ ok: false, error: expect.stringMatching(/"access" must be one of/) });
    expect(checkAclEntryBody({ topic: 'a' })).toMatchObject({ ok: false });
    expect(checkAclEntryBody({ access: 'read', topic: 'a', user: 'x' })).toMatchObject({ ok: false, error: expect.stringMatching(/unknown field "user"/) });
    expect(checkAclEntryBody({ username: 'a:b', access: 'read', topic: 'a' })).toMatchObject({ ok: false, error: expect.stringMatching(/username/) });
    expect(checkAclEntryBody({ username: 'alice', pattern: true, access: 'read', topic: 'a' })).toMatchObject({ ok: false, error: expect.stringMatching(/pattern applies to every client/) });
    expect(checkAclEntryBody({ pattern: 'yes', access: 'read', topic: 'a' })).toMatchObject({ ok: false });
    expect(checkAclEntryBody([])).toMatchObject({ ok: false });
  });
});

describe('mergePasswords', () => {
  it('adds runtime users to the configured file, the configured hash winning for a shared name', async () => {
    const configured = parsePasswordFile(`alice:${formatPasswordHash(await createPbkdf2Hash(bytes('config-pw')))}\n`);
    const runtime = [
      { username: 'alice', hash: formatPasswordHash(await createPbkdf2Hash(bytes('runtime-pw'))), createdAt: 1, updatedAt: 1 },
      { username: 'bob', hash: formatPasswordHash(await createPbkdf2Hash(bytes('bob-pw'))), createdAt: 1, updatedAt: 1 },
    ];
    const merged = mergePasswords(configured, runtime)!;
    expect(await verifyPassword(merged, 'alice', bytes('config-pw'))).toBe(true);
    expect(await verifyPassword(merged, 'alice', bytes('runtime-pw'))).toBe(false);
    expect(await verifyPassword(merged, 'bob', bytes('bob-pw'))).toBe(true);
    expect(await verifyPassword(merged, 'carol', bytes('bob-pw'))).toBe(false);
  });
  it('is the configured file (or nothing) while the namespace never had a runtime user', () => {
    expect(mergePasswords(undefined, undefined)).toBeUndefined();
    const configured = parsePasswordFile('');
    expect(mergePasswords(configured, undefined)).toBe(configured);
  });
  it('is an empty password file once the last runtime user is gone: it refuses every username', async () => {
    const empty = mergePasswords(undefined, [])!;
    expect(empty.users.size).toBe(0);
    expect(await verifyPassword(empty, 'anyone', bytes('pw'))).toBe(false);
  });
  it('gives a runtime-only namespace a password file, so unknown users are refused', async () => {
    const merged = mergePasswords(undefined, [{ username: 'bob', hash: formatPasswordHash(await createPbkdf2Hash(bytes('pw'))), createdAt: 1, updatedAt: 1 }]);
    expect([...merged!.users.keys()]).toEqual(['bob']);
  });
});

const configText = `
topic read public/#
user alice
topic readwrite alice/#
topic deny alice/secret
pattern write devices/%c/status
user bob
topic read public/news
`;

describe('mergeAcl', () => {
  const entry = (id: number, username: string | null, access: AclAccess, topic: string, pattern = false): RuntimeAclEntry => ({ id, username, pattern, access, topic });

  it('puts entries where their lines would go: anonymous block, user blocks (appended), patterns', () => {
    const merged = mergeAcl(parseAclFile(configText), [entry(1, null, 'write', 'public/in'), entry(2, 'alice', 'read', 'shared/#'), entry(3, 'carol', 'read', 'c/#'), entry(4, null, 'deny', 'devices/%u/secret', true)])!;
    expect(merged.anonymous.map((r) => r.filter)).toEqual(['public/#', 'public/in']);
    expect(merged.users.get('alice')!.map((r) => r.filter)).toEqual(['alice/#', 'alice/secret', 'shared/#']);
    expect(merged.users.get('carol')!.map((r) => r.filter)).toEqual(['c/#']);
    expect(merged.patterns.map((r) => r.filter)).toEqual(['devices/%c/status', 'devices/%u/secret']);
  });

  it('leaves the configured ACL alone: a runtime entry never changes it', () => {
    const configured = parseAclFile(configText);
    mergeAcl(configured, [entry(1, 'alice', 'read', 'x')]);
    expect(configured.users.get('alice')).toHaveLength(2);
  });

  it('is an empty ACL, allowing nothing, once the last runtime entry is gone; the configured one while there never was one', () => {
    expect(mergeAcl(undefined, undefined)).toBeUndefined();
    const configured = parseAclFile(configText);
    expect(mergeAcl(configured, undefined)).toBe(configured);
    expect(new ClientAcl(mergeAcl(undefined, [])!, { clientId: 'c' }).mayRead('a')).toBe(false);
  });

  it('turns an ACL on where none was configured (then nothing is allowed that no rule grants)', () => {
    const merged = mergeAcl(undefined, [entry(1, 'alice', 'readwrite', 'alice/#')])!;
    expect(new ClientAcl(merged, { username: 'alice', clientId: 'c' }).mayWrite('alice/x')).toBe(true);
    expect(new ClientAcl(merged, { username: 'bob', clientId: 'c' }).mayWrite('alice/x')).toBe(false);
    expect(new ClientAcl(merged, { clientId: 'c' }).mayRead('alice/x')).toBe(false);
  });

  it('decides exactly as the ACL file with the entries written in as lines', () => {
    const users = ['alice', 'bob', 'carol'];
    const level = fc.constantFrom('public', 'alice', 'devices', 'secret', 'c1', 'news', 'x');
    const topic = fc.array(level, { minLength: 1, maxLength: 3 }).map((levels) => levels.join('/'));
    const filterLevel = fc.oneof(level, fc.constant('+'), fc.constant('%c'), fc.constant('%u'));
    const filter = fc
      .tuple(fc.array(filterLevel, { minLength: 1, maxLength: 3 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'));
    const access = fc.constantFrom<AclAccess>('read', 'write', 'readwrite', 'deny');
    const runtimeEntry = fc.record({
      username: fc.option(fc.constantFrom(...users), { nil: null }),
      pattern: fc.boolean(),
      access,
      topic: filter,
    }).map((e) => ({ ...e, username: e.pattern ? null : e.username }));
    const client = fc.record({ username: fc.option(fc.constantFrom(...users), { nil: undefined }), clientId: fc.constantFrom('c1', 'c2') });

    fc.assert(
      fc.property(fc.array(runtimeEntry, { maxLength: 6 }), fc.array(fc.tuple(client, topic), { minLength: 1, maxLength: 8 }), (raw, probes) => {
        const entries = raw.map((e, i) => ({ ...e, id: i + 1 }));
        const merged = mergeAcl(parseAclFile(configText), entries)!;
        const text = runtimeAclText(entries);
        const asFile = parseAclFile(`${text.before}${configText}${text.after}`);
        for (const [who, name] of probes) {
          const aclClient: AclClient = who.username === undefined ? { clientId: who.clientId } : { username: who.username, clientId: who.clientId };
          const a = new ClientAcl(merged, aclClient);
          const b = new ClientAcl(asFile, aclClient);
          expect(a.mayRead(name)).toBe(b.mayRead(name));
          expect(a.mayWrite(name)).toBe(b.mayWrite(name));
          expect(a.subscription(`${name}/#`)).toBe(b.subscription(`${name}/#`));
        }
      }),
      { numRuns: 300, seed: 42 },
    );
  });
});

describe('configuredAclEntries', () => {
  it('lists the configured ACL as read-only entries without ids', () => {
    expect(configuredAclEntries(parseAclFile(configText))).toEqual([
      { username: null, pattern: false, access: 'read', topic: 'public/#', source: 'config' },
      { username: 'alice', pattern: false, access: 'readwrite', topic: 'alice/#', source: 'config' },
      { username: 'alice', pattern: false, access: 'deny', topic: 'alice/secret', source: 'config' },
      { username: 'bob', pattern: false, access: 'read', topic: 'public/news', source: 'config' },
      { username: null, pattern: true, access: 'write', topic: 'devices/%c/status', source: 'config' },
    ]);
    expect(configuredAclEntries(undefined)).toEqual([]);
  });
});
