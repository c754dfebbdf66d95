/**
 * Access control as the core applies it: who a client is (its identity),
 * and what that identity may read and write. Read access is decided for
 * every message delivered (live, retained, queued, resent, shared), as in
 * mosquitto, so a wildcard subscription is granted and delivers only what
 * the client may read. To keep that cheap, each subscription learns at
 * SUBSCRIBE time whether it can need a check at all: most never do.
 */
import { topicMatchesFilter } from '../../shared/topic.ts';
import { filterCovers, filtersOverlap } from '../auth/filter-relations.ts';
import type { ClientGrants } from './hooks.ts';

/** Who a client is, for access control. Plain data: kept with the session. */
export interface Identity {
  /** The name the ACL knows the client by: a JWT's `sub`, else the CONNECT's username. */
  username?: string;
  /** Topic filters the client's credentials limit it to (a JWT's `mqtt.publish` / `mqtt.subscribe`). */
  grants?: ClientGrants;
}

/**
 * What a subscription may deliver: everything its filter matches (no check
 * per message), only some of it (each message is checked), or nothing (the
 * SUBSCRIBE is refused).
 */
export type SubscriptionAccess = 'all' | 'some' | 'none';

/** What one client may do. */
export interface ClientAccess {
  mayRead(topic: string): boolean;
  mayWrite(topic: string): boolean;
  /** For a filter (a `$share/{group}/` prefix is judged on its filter). */
  subscription(filter: string): SubscriptionAccess;
}

/** A namespace's rules (an ACL, for example), resolved per client. */
export interface AccessPolicy {
  forClient(identity: Identity, clientId: string): ClientAccess;
}

/** No rules: everything is allowed. */
export const AllowEverything: ClientAccess = {
  mayRead: () => true,
  mayWrite: () => true,
  subscription: () => 'all',
};

/** The filter of a subscription, without a `$share/{group}/` prefix. */
function plainFilter(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? filter : rest.slice(slash + 1);
}

/** The limits of a client's credentials: absent lists limit nothing, an empty one allows nothing. */
export class GrantedAccess implements ClientAccess {
  constructor(private readonly grants: ClientGrants) {}

  mayRead(topic: string): boolean {
    const allowed = this.grants.subscribe;
    return allowed === undefined || allowed.some((filter) => topicMatchesFilter(filter, topic));
  }

  mayWrite(topic: string): boolean {
    const allowed = this.grants.publish;
    return allowed === undefined || allowed.some((filter) => topicMatchesFilter(filter, topic));
  }

  subscription(filter: string): SubscriptionAccess {
    const allowed = this.grants.subscribe;
    if (allowed === undefined) return 'all';
    const plain = plainFilter(filter);
    if (allowed.some((grant) => filterCovers(grant, plain))) return 'all';
    return allowed.some((grant) => filtersOverlap(grant, plain)) ? 'some' : 'none';
  }
}

/** Both must allow: the namespace's rules and the credentials' limits. */
export class BothAccess implements ClientAccess {
  constructor(
    private readonly first: ClientAccess,
    private readonly second: ClientAccess,
  ) {}

  mayRead(topic: string): boolean {
    return this.first.mayRead(topic) && this.second.mayRead(topic);
  }

  mayWrite(topic: string): boolean {
    return this.first.mayWrite(topic) && this.second.mayWrite(topic);
  }

  subscription(filter: string): SubscriptionAccess {
    const a = this.first.subscription(filter);
    if (a === 'none') return 'none';
    const b = this.second.subscription(filter);
    if (b === 'none') return 'none';
    return a === 'all' && b === 'all' ? 'all' : 'some';
  }
}

/** What `identity` may do in a namespace with `policy` (none: no rules). */
export function resolveAccess(policy: AccessPolicy | undefined, identity: Identity, clientId: string): ClientAccess {
  const rules = policy === undefined ? AllowEverything : policy.forClient(identity, clientId);
  return identity.grants === undefined ? rules : new BothAccess(rules, new GrantedAccess(identity.grants));
}

/**
 * Who an allowed client is: the name its authentication gave (`null`: none),
 * else the CONNECT's `username`; with the limits of its credentials.
 */
export function identityFrom(decision: { identity?: string | null; grants?: ClientGrants }, username: string | undefined): Identity {
  const name = decision.identity === undefined ? username : (decision.identity ?? undefined);
  return { ...(name === undefined ? {} : { username: name }), ...(decision.grants === undefined ? {} : { grants: decision.grants }) };
}

/** Whether two identities are the same for access control. */
export function sameIdentity(a: Identity | undefined, b: Identity | undefined): boolean {
  return (a?.username ?? null) === (b?.username ?? null) && JSON.stringify(a?.grants ?? null) === JSON.stringify(b?.grants ?? null);
}

/** Where bridges keep the state of their connections (connectionStateTopic). */
export const ConnectionStatePrefix = '$SYS/broker/connection/';

/**
 * Whether a topic, or a filter, is in the broker's own `$SYS` tree: `$SYS`
 * but the bridges' states, which are clients' messages.
 */
export function isBrokerSystemName(name: string): boolean {
  return (name === '$SYS' || name.startsWith('$SYS/')) && !name.startsWith(ConnectionStatePrefix);
}

/**
 * Where a bridge keeps the state of its connection, retained: `1` while it
 * is connected, `0` (its will) once it is not. mosquitto's bridge
 * notifications, at their default `notification_topic`, with the client id
 * the bridge has here.
 */
export function connectionStateTopic(clientId: string): string {
  return `${ConnectionStatePrefix}${clientId}/state`;
}

/**
 * Topic names `clientId` may not publish to, nor leave a will on:
 * `$share/...` (a filter prefix, not a topic), and the broker's `$SYS` tree
 * but for the client's own connection state topic. mosquitto lets any client
 * write every `$SYS/broker/connection/+/state`; here a client writes only
 * its own, whether or not it said it is a bridge (at 5.0 a bridge cannot say
 * so, and at 3.x anyone can). The ACL still decides, as for any publish.
 */
export function isReservedTopicName(topic: string, clientId: string): boolean {
  if (topic.startsWith('$share/')) return true;
  return topic.startsWith('$SYS') && topic !== connectionStateTopic(clientId);
}
