/**
 * A namespace's runtime users and ACL entries on real SQLite (sql.js): what
 * the admin API's RPC calls do, that the merged view follows every change,
 * and that a new instance on the same database (a wake from hibernation)
 * sees the same.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { authenticateByConfig, type AccessSettings } from '../../../edge/access.ts';
import { parseAclFile } from '../../../edge/auth/acl.ts';
import { parsePasswordFile } from '../../../edge/auth/password-file.ts';
import { createPbkdf2Hash, formatPasswordHash } from '../../../edge/auth/password-hash.ts';
import { RuntimeAccess } from '../../../edge/runtime-access.ts';
import type { AuthenticateContext } from '../../../edge/core/hooks.ts';
import { openTestDatabase, type TestDatabase } from '../../core/sql.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const hashOf = async (password: string): Promise<string> => formatPasswordHash(await createPbkdf2Hash(bytes(password)));

let db: TestDatabase;
let configured: AccessSettings;
let aclChanges: number;

beforeEach(async () => {
  db = await openTestDatabase();
  configured = {
    allowAnonymous: true,
    passwords: parsePasswordFile(`admin:${await hashOf('admin-pw')}\n`),
    acl: parseAclFile('user admin\ntopic readwrite #\n'),
  };
  aclChanges = 0;
});
afterEach(() => db.close());

const open = (): RuntimeAccess => new RuntimeAccess(db, configured, () => Date.UTC(2026, 11, 1), () => aclChanges++);

async function login(access: RuntimeAccess, username: string | undefined, password?: string): Promise<boolean> {
  const ctx = { namespace: 'ns', clientId: 'c', ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password: bytes(password) }) } as AuthenticateContext;
  return (await authenticateByConfig(access.settings(), ctx)).allow;
}

describe('RuntimeAccess', () => {
  it('creates, updates and deletes users, and CONNECT follows each change at once', async () => {
    const access = open();
    expect(await login(access, 'bob', 'one')).toBe(false);
    expect(access.putUser('bob', await hashOf('one'))).toBe('created');
    expect(await login(access, 'bob', 'one')).toBe(true);
    expect(access.putUser('bob', await hashOf('two'))).toBe('updated');
    expect(await login(access, 'bob', 'one')).toBe(false);
    expect(await login(access, 'bob', 'two')).toBe(true);
    expect(access.deleteUser('bob')).toBe('deleted');
    expect(access.deleteUser('bob')).toBe('missing');
    expect(await login(access, 'bob', 'two')).toBe(false);
  });

  it('never opens a namespace again by deleting its last runtime user: unknown usernames stay refused', async () => {
    const open1 = new RuntimeAccess(db, { allowAnonymous: true }, () => 0, () => undefined);
    expect(await login(open1, 'anyone', 'pw')).toBe(true);
    open1.putUser('bob', await hashOf('pw'));
    open1.deleteUser('bob');
    expect(await login(open1, 'anyone', 'pw')).toBe(false);
    expect(await login(open1, undefined)).toBe(true);
    expect(await login(new RuntimeAccess(db, { allowAnonymous: true }, () => 0, () => undefined), 'anyone', 'pw')).toBe(false);
  });

  it('refuses a configured name: the configuration wins', async () => {
    const access = open();
    expect(access.putUser('admin', await hashOf('other'))).toBe('configured');
    expect(access.deleteUser('admin')).toBe('configured');
    expect(await login(access, 'admin', 'admin-pw')).toBe(true);
    expect(await login(access, 'admin', 'other')).toBe(false);
  });

  it('refuses what the Worker never sends: a bad username or a hash that does not parse', async () => {
    const access = open();
    expect(() => access.putUser('bob', 'plain-text')).toThrow(TypeError);
    expect(() => access.putUser('a:b', 'x')).toThrow(TypeError);
    expect(access.listUsers()).toEqual([{ username: 'admin', source: 'config' }]);
  });

  it('lists users without hashes, configured ones first', async () => {
    const access = open();
    access.putUser('bob', await hashOf('pw'));
    const users = access.listUsers();
    expect(users).toEqual([
      { username: 'admin', source: 'config' },
      { username: 'bob', source: 'runtime', createdAt: '2026-12-01T00:00:00.000Z', updatedAt: '2026-12-01T00:00:00.000Z' },
    ]);
    expect(JSON.stringify(users)).not.toContain('$7$');
  });

  it('keeps everything in SQLite: a new instance (after hibernation) sees the same', async () => {
    const first = open();
    first.putUser('bob', await hashOf('pw'));
    const entry = first.addAcl({ username: 'bob', pattern: false, access: 'read', topic: 'bob/#' });
    const second = open();
    expect(await login(second, 'bob', 'pw')).toBe(true);
    expect(second.listAcl().filter((e) => e.source === 'runtime')).toEqual([{ id: entry.kind === 'full' ? 0 : entry.entry.id, username: 'bob', pattern: false, access: 'read', topic: 'bob/#', source: 'runtime' }]);
  });

  it('adds and removes ACL entries, telling the core each time; the same entry twice is one', () => {
    const access = open();
    const bob = { username: 'bob', clientId: 'c' };
    expect(access.policy.forClient(bob, 'c').mayRead('bob/x')).toBe(false);
    const added = access.addAcl({ username: 'bob', pattern: false, access: 'read', topic: 'bob/#' });
    expect(added.kind).toBe('created');
    expect(aclChanges).toBe(1);
    expect(access.policy.forClient(bob, 'c').mayRead('bob/x')).toBe(true);
    const again = access.addAcl({ username: 'bob', pattern: false, access: 'read', topic: 'bob/#' });
    expect(again).toEqual({ kind: 'exists', entry: added.kind === 'full' ? undefined : added.entry });
    expect(aclChanges).toBe(1);
    expect(access.deleteAcl(added.kind === 'full' ? 0 : added.entry.id)).toBe(true);
    expect(access.deleteAcl(999)).toBe(false);
    expect(aclChanges).toBe(2);
    expect(access.policy.forClient(bob, 'c').mayRead('bob/x')).toBe(false);
  });

  it('never reuses an id of a deleted entry', () => {
    const access = open();
    const a = access.addAcl({ username: null, pattern: false, access: 'read', topic: 'a' });
    if (a.kind === 'full') throw new Error('full');
    access.deleteAcl(a.entry.id);
    const b = access.addAcl({ username: null, pattern: false, access: 'read', topic: 'b' });
    if (b.kind === 'full') throw new Error('full');
    expect(b.entry.id).toBeGreaterThan(a.entry.id);
  });

  it('writes nothing to a namespace that has no runtime users (a CONNECT must not create storage)', async () => {
    const access = open();
    expect(await login(access, 'bob', 'pw')).toBe(false);
    access.listUsers();
    access.listAcl();
    expect(access.deleteUser('nobody')).toBe('missing');
    expect(access.deleteAcl(1)).toBe(false);
    expect(db.exec(`SELECT name FROM sqlite_master WHERE type = 'table'`).toArray()).toEqual([]);
  });
});
