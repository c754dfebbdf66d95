/**
 * Topic grants of one connection (for example from a JWT's claims): lists
 * of filters that limit what it may publish and subscribe to. Kept in
 * SQLite, loaded lazily after a wake.
 */
import { topicMatchesFilter } from '../../shared/topic.ts';
import { filterCovers } from '../auth/filter-relations.ts';
import type { ClientGrants } from './hooks.ts';
import type { ClientLink } from './link.ts';
import type { SessionStore } from './session-store.ts';

export class ConnectionGrants {
  constructor(private readonly store: SessionStore) {}

  set(link: ClientLink, grants: ClientGrants): void {
    link.grants = grants;
    link.state.hasGrants = true;
    this.store.saveGrants(link.id, grants);
  }

  private of(link: ClientLink): ClientGrants | undefined {
    if (link.state.hasGrants !== true) return undefined;
    link.grants ??= this.store.loadGrants(link.id) ?? {};
    return link.grants;
  }

  /** A grant list limits publishing to topics matching one of its filters. */
  mayPublish(link: ClientLink, topic: string): boolean {
    const allowed = this.of(link)?.publish;
    return allowed === undefined || allowed.some((filter) => topicMatchesFilter(filter, topic));
  }

  /** A grant list limits subscribing to filters that one of its filters covers entirely. */
  maySubscribe(link: ClientLink, filter: string): boolean {
    const allowed = this.of(link)?.subscribe;
    return allowed === undefined || allowed.some((grant) => filterCovers(grant, filter));
  }
}
