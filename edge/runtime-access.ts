/**
 * One namespace's access settings with its runtime users and ACL entries
 * merged in (auth/runtime-users.ts says how), kept in memory for the
 * CONNECT path and rebuilt only when the admin API changes something.
 * Lives in the namespace's Durable Object: authentication already runs
 * there (the composed authenticate hook, during CONNECT), so a runtime user
 * costs no extra round trip; the Worker only routes.
 *
 * Memory is only a cache: after hibernation or a restart the object is
 * built again and the merged view is read back from SQLite on first use.
 */
import type { AccessSettings } from './access.ts';
import { ClientAcl } from './auth/acl.ts';
import { RuntimeAccessStore } from './auth/runtime-access-store.ts';
import { parsePasswordHash } from './auth/password-hash.ts';
import {
  checkUsername,
  configuredAclEntries,
  mergeAcl,
  mergePasswords,
  MaxRuntimeAclEntries,
  MaxRuntimeUsers,
  type AclEntryInput,
  type AclEntryView,
  type RuntimeAclEntry,
} from './auth/runtime-users.ts';
import { AllowEverything, type AccessPolicy } from './core/access.ts';
import type { SqlExecutor } from './core/session-store.ts';

/** A user as the admin API lists it: never a hash. */
export interface UserView {
  username: string;
  source: 'config' | 'runtime';
  createdAt?: string;
  updatedAt?: string;
  /** A runtime user whose name the configuration also has: the configured one is the one that counts. */
  shadowedByConfig?: true;
}

export type PutUserOutcome = 'created' | 'updated' | 'configured' | 'full';
export type DeleteUserOutcome = 'deleted' | 'missing' | 'configured';
export type AddAclOutcome = { kind: 'created' | 'exists'; entry: RuntimeAclEntry } | { kind: 'full' };

export class RuntimeAccess {
  private readonly store: RuntimeAccessStore;
  private merged: AccessSettings | undefined;

  /**
   * @param configured the namespace's settings from configuration
   * @param aclChanged called after an ACL entry is added or removed (the core re-resolves every client's access)
   */
  constructor(
    sql: SqlExecutor,
    private readonly configured: AccessSettings,
    private readonly now: () => number,
    private readonly aclChanged: () => void,
  ) {
    this.store = new RuntimeAccessStore(sql);
  }

  /** The settings CONNECT is decided by: configuration plus runtime users and entries. */
  settings(): AccessSettings {
    if (this.merged !== undefined) return this.merged;
    const passwords = mergePasswords(this.configured.passwords, this.store.users());
    const acl = mergeAcl(this.configured.acl, this.store.aclEntries());
    const merged: AccessSettings = { ...this.configured };
    if (passwords !== undefined) merged.passwords = passwords;
    if (acl !== undefined) merged.acl = acl;
    this.merged = merged;
    return merged;
  }

  /** The core's access policy: always the current merged ACL (none: everything allowed). */
  readonly policy: AccessPolicy = {
    forClient: (identity, clientId) => {
      const acl = this.settings().acl;
      return acl === undefined ? AllowEverything : new ClientAcl(acl, { username: identity.username, clientId });
    },
  };

  listUsers(): UserView[] {
    const configured = this.configured.passwords?.users ?? new Map();
    const fromConfig: UserView[] = [...configured.keys()].sort().map((username) => ({ username, source: 'config' }));
    const fromRuntime: UserView[] = (this.store.users() ?? []).map((user) => ({
      username: user.username,
      source: 'runtime',
      createdAt: new Date(user.createdAt).toISOString(),
      updatedAt: new Date(user.updatedAt).toISOString(),
      ...(configured.has(user.username) ? { shadowedByConfig: true as const } : {}),
    }));
    return [...fromConfig, ...fromRuntime];
  }

  /** `hash`: a mosquitto hash (`$7$…`) made by the caller; a configured name is refused. */
  putUser(username: string, hash: string): PutUserOutcome {
    // The Worker made it; a hash that does not parse would be a user nobody can ever log in as.
    if (checkUsername(username) !== undefined || !parsePasswordHash(hash).ok) throw new TypeError('putUser needs a valid username and a mosquitto password hash');
    if (this.configured.passwords?.users.has(username) === true) return 'configured';
    const exists = (this.store.users() ?? []).some((user) => user.username === username);
    if (!exists && this.store.countUsers() >= MaxRuntimeUsers) return 'full';
    const created = this.store.putUser(username, hash, this.now());
    this.merged = undefined;
    return created ? 'created' : 'updated';
  }

  deleteUser(username: string): DeleteUserOutcome {
    if (this.store.deleteUser(username)) {
      this.merged = undefined;
      return 'deleted';
    }
    return this.configured.passwords?.users.has(username) === true ? 'configured' : 'missing';
  }

  listAcl(): AclEntryView[] {
    const runtime: AclEntryView[] = (this.store.aclEntries() ?? []).map((entry) => ({ ...entry, source: 'runtime' }));
    return [...configuredAclEntries(this.configured.acl), ...runtime];
  }

  /** Adds an entry; the same entry twice is one entry (answered with the existing one). */
  addAcl(input: AclEntryInput): AddAclOutcome {
    const entries = this.store.aclEntries() ?? [];
    const same = entries.find((e) => e.username === input.username && e.pattern === input.pattern && e.access === input.access && e.topic === input.topic);
    if (same !== undefined) return { kind: 'exists', entry: same };
    if (entries.length >= MaxRuntimeAclEntries) return { kind: 'full' };
    const entry = this.store.addAclEntry(input);
    this.merged = undefined;
    this.aclChanged();
    return { kind: 'created', entry };
  }

  deleteAcl(id: number): boolean {
    if (!this.store.deleteAclEntry(id)) return false;
    this.merged = undefined;
    this.aclChanged();
    return true;
  }
}
