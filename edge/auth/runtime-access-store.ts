/**
 * Runtime users and ACL entries in the namespace's SQLite (its Durable
 * Object's storage, so they are the namespace's alone: another namespace
 * is another object with another database).
 *
 * Reading never creates anything: a CONNECT to a namespace that has no
 * runtime users must not write storage (see core/gated-sql.ts). Each table
 * is created by the first write to it, which only the admin API makes, and
 * then stays: a table that exists, even empty, is a password file (or ACL
 * file) that exists, and an empty one refuses, as in mosquitto. So deleting
 * the last runtime user never opens a namespace to any username.
 */
import type { SqlExecutor } from '../core/session-store.ts';
import type { AclAccess } from './acl.ts';
import type { AclEntryInput, RuntimeAclEntry, RuntimeUser } from './runtime-users.ts';

const UsersSchema = `CREATE TABLE IF NOT EXISTS runtime_users (
     username TEXT PRIMARY KEY,
     hash TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   )`;
// AUTOINCREMENT: a deleted entry's id is never given to another one.
const AclSchema = `CREATE TABLE IF NOT EXISTS runtime_acl (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     username TEXT,
     pattern INTEGER NOT NULL,
     access TEXT NOT NULL,
     topic TEXT NOT NULL
   )`;

export class RuntimeAccessStore {
  /** Which tables exist; looked up on first use, so an object that never sees a CONNECT or an admin call asks nothing. */
  private tables: { users: boolean; acl: boolean } | undefined;

  constructor(private readonly sql: SqlExecutor) {}

  private get hasUsers(): boolean {
    return this.existing().users;
  }

  private get hasAcl(): boolean {
    return this.existing().acl;
  }

  private existing(): { users: boolean; acl: boolean } {
    if (this.tables !== undefined) return this.tables;
    const names = new Set(this.sql.exec(`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('runtime_users', 'runtime_acl')`).toArray().map((row) => String(row['name'])));
    this.tables = { users: names.has('runtime_users'), acl: names.has('runtime_acl') };
    return this.tables;
  }

  /** The runtime users; undefined when the namespace never had one (no runtime password file). */
  users(): RuntimeUser[] | undefined {
    if (!this.hasUsers) return undefined;
    return this.sql.exec('SELECT username, hash, created_at, updated_at FROM runtime_users ORDER BY username').toArray().map((row) => ({
      username: String(row['username']),
      hash: String(row['hash']),
      createdAt: Number(row['created_at']),
      updatedAt: Number(row['updated_at']),
    }));
  }

  countUsers(): number {
    if (!this.hasUsers) return 0;
    return Number(this.sql.exec('SELECT COUNT(*) AS n FROM runtime_users').toArray()[0]?.['n'] ?? 0);
  }

  /** Creates or replaces a user's hash; whether it was created. */
  putUser(username: string, hash: string, now: number): boolean {
    if (!this.hasUsers) this.sql.exec(UsersSchema);
    this.existing().users = true;
    const existed = this.sql.exec('SELECT 1 FROM runtime_users WHERE username = ?', username).toArray().length > 0;
    if (existed) this.sql.exec('UPDATE runtime_users SET hash = ?, updated_at = ? WHERE username = ?', hash, now, username);
    else this.sql.exec('INSERT INTO runtime_users (username, hash, created_at, updated_at) VALUES (?, ?, ?, ?)', username, hash, now, now);
    return !existed;
  }

  deleteUser(username: string): boolean {
    if (!this.hasUsers) return false;
    return this.sql.exec('DELETE FROM runtime_users WHERE username = ?', username).rowsWritten > 0;
  }

  /** The runtime ACL entries; undefined when the namespace never had one (no runtime ACL). */
  aclEntries(): RuntimeAclEntry[] | undefined {
    if (!this.hasAcl) return undefined;
    return this.sql.exec('SELECT id, username, pattern, access, topic FROM runtime_acl ORDER BY id').toArray().map((row) => ({
      id: Number(row['id']),
      username: row['username'] === null ? null : String(row['username']),
      pattern: Number(row['pattern']) === 1,
      access: String(row['access']) as AclAccess,
      topic: String(row['topic']),
    }));
  }

  countAclEntries(): number {
    if (!this.hasAcl) return 0;
    return Number(this.sql.exec('SELECT COUNT(*) AS n FROM runtime_acl').toArray()[0]?.['n'] ?? 0);
  }

  addAclEntry(entry: AclEntryInput): RuntimeAclEntry {
    if (!this.hasAcl) this.sql.exec(AclSchema);
    this.existing().acl = true;
    const row = this.sql
      .exec('INSERT INTO runtime_acl (username, pattern, access, topic) VALUES (?, ?, ?, ?) RETURNING id', entry.username, entry.pattern ? 1 : 0, entry.access, entry.topic)
      .toArray()[0];
    return { id: Number(row?.['id']), ...entry };
  }

  deleteAclEntry(id: number): boolean {
    if (!this.hasAcl) return false;
    return this.sql.exec('DELETE FROM runtime_acl WHERE id = ?', id).rowsWritten > 0;
  }

}
