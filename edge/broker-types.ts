/**
 * Types the Worker, the namespace's Durable Object and the admin endpoints
 * share: what a broker definition resolves to for one environment, and the
 * Durable Object's RPC surface.
 */
import type { LogEventName } from '../shared/log-events.ts';
import type { DurableObject } from 'cloudflare:workers';
import type { EdgeEnv } from './env.ts';
import type { AccessSettings } from './access.ts';
import type { AclEntryInput, AclEntryView } from './auth/runtime-users.ts';
import type { AccessPolicy } from './core/access.ts';
import type { UserHooks } from './core/hooks.ts';
import type { ApiRefusal, BrokerLimits } from './core/limits.ts';
import type { FlowControl } from './link/flow-control.ts';
import type { LogLevel } from './core/log.ts';
import type { QuotaOutcome, QuotaView } from './core/quotas.ts';
import type { ClientPage, ClientQuery, ClientSummary, ConnectionEventEntry, EventQuery, RetainedSummary, SidecarView, SubscriptionSummary, TopicSummary } from './core/readouts.ts';
import type { HistorySample } from './core/traffic-history.ts';
import type { ApiMessage } from './http-api.ts';
import type { AddAclOutcome, DeleteUserOutcome, PutUserOutcome, UserView } from './runtime-access.ts';
import type { NamespaceSet } from './namespaces.ts';
import type { NamespaceStats } from './observability/stats.ts';
import type { RulesConfig } from './rules/config.ts';
import type { DeadLetterView } from './rules/dead-letters.ts';
import type { DeadLetterOutcome, DeadLetterSelection } from './rules/rules.ts';

/** Everything a namespace needs, resolved from the options and the environment. */
export interface ResolvedBroker {
  limits: BrokerLimits;
  /** The user's hooks composed with configured access; the namespace adds the environment to their contexts. */
  hooks: UserHooks<EdgeEnv>;
  /** The same, deciding by `settingsOf` instead (a namespace's object: configuration plus its runtime users). */
  hooksFor(settingsOf: (namespace: string) => AccessSettings): UserHooks<EdgeEnv>;
  hookTimeoutMs: number;
  logLevel: LogLevel;
  /** MQTT_LOG_EVENTS: the client events logged. */
  logEvents: ReadonlySet<LogEventName>;
  /** $SYS publishing interval, ms; 0 = no $SYS tree. */
  sysIntervalMs: number;
  /** Gateway objects per namespace and region (MQTT_GATEWAYS); 1: the namespace's object holds its clients. */
  gateways: number;
  /** Windows of sidecar and gateway links, a gateway's bound on a client's unsent input. */
  flow: FlowControl;
  /** The namespaces that exist (MQTT_NAMESPACES). */
  namespaces: NamespaceSet;
  /** Whether CF-Connecting-IP names the client (MQTT_TRUST_CF_CONNECTING_IP). */
  trustConnectingIp: boolean;
  /** Who may take over a client id's session (MQTT_TAKEOVER). */
  takeover: 'any' | 'same-identity';
  /** MQTT_RULES and its outbox bounds, checked against the bindings. */
  rules: RulesConfig;
  /** A namespace's access rules and tokens (MQTT_ACL and friends, or its MQTT_NAMESPACE_ACCESS entry). */
  accessFor(namespace: string): NamespaceAccess;
}

export interface NamespaceAccess {
  /** The configured settings (passwords, ACL, JWT…) before runtime users and entries are added. */
  settings: AccessSettings;
  /** The ACL, as the core checks it; undefined: everything allowed. */
  policy?: AccessPolicy;
  /** Tokens that open the admin API / the publish API for this namespace, besides the global ones. */
  adminToken?: string;
  apiToken?: string;
}

/** Resolves a broker definition for one environment (memoized per environment object). */
export type BrokerResolver = (env: EdgeEnv) => ResolvedBroker;

/** The namespace Durable Object class of a broker definition: export it under wrangler.toml's `class_name`. */
export type BrokerNamespaceClass = new (ctx: DurableObjectState, env: EdgeEnv) => DurableObject<EdgeEnv> & BrokerNamespaceRpc;

/** What a namespace's Durable Object offers other code (Durable Object RPC). */
export interface BrokerNamespaceRpc {
  /** Publishes as the broker; a message over the namespace's limits (its quotas too) is refused, with why. */
  publish(message: ApiMessage): Promise<ApiRefusal | undefined>;
  /** Live numbers and counters of the namespace (admin API, /metrics, dashboard). */
  stats(): Promise<NamespaceStats>;
  /** Sessions (online first) with their subscriptions, at most `limit`. */
  listClients(limit: number): Promise<ClientSummary[]>;
  /** A page of the sessions (online first), all or those whose client id, username or address contains `query.search`, and their total. */
  findClients(query: ClientQuery): Promise<ClientPage>;
  /** Disconnects a connected client (5.0: DISCONNECT 0x98); false if it is not connected. */
  disconnectClient(clientId: string): Promise<boolean>;
  /** Disconnects every client as a clean broker stop does: wills first, then 5.0 clients DISCONNECT 0x8B; sessions kept. */
  drain(): Promise<{ disconnected: number; wills: number }>;
  listRetained(limit: number): Promise<RetainedSummary[]>;
  /** Deletes the retained message of one topic; false if there was none. */
  deleteRetained(topic: string): Promise<boolean>;
  /** Traffic per minute over the last `minutes` (at most 1440), oldest first. */
  history(minutes: number): Promise<HistorySample[]>;
  /** The busiest recent topics, at most `limit`; `untracked`: messages on topics the bounded list had no room for. */
  topics(limit: number): Promise<{ topics: TopicSummary[]; untracked: number }>;
  /** The last refusals and disconnect causes, newest first; `unsaved`: how many are not in storage yet. */
  connectionEvents(query: EventQuery): Promise<{ events: ConnectionEventEntry[]; unsaved: number }>;
  /** Subscriptions across clients, at most `limit`. */
  listSubscriptions(limit: number): Promise<SubscriptionSummary[]>;
  /** The rules' dead letters, oldest message first, of one rule or all, at most `limit`; undefined: no such rule. */
  listDeadLetters(rule: string | undefined, limit: number): Promise<{ deadLetters: DeadLetterView[]; truncated: boolean } | undefined>;
  /** Moves dead letters back into the outbox (as many as it has room for); undefined: no such rule. */
  retryDeadLetters(selection: DeadLetterSelection): Promise<DeadLetterOutcome | undefined>;
  /** Deletes dead letters; undefined: no such rule. */
  deleteDeadLetters(selection: DeadLetterSelection): Promise<DeadLetterOutcome | undefined>;
  /** The sidecars' links open now, with what each last reported of its broker bridges. */
  sidecars(): Promise<SidecarView[]>;
  /** The namespace's limits: in force, default, its own (core/quotas.ts). */
  quotas(): Promise<QuotaView[]>;
  /** Sets (or with null clears) quotas, all or none; effective without a restart. */
  setQuotas(changes: Record<string, unknown>): Promise<QuotaOutcome>;
  /** Whether the namespace has storage (a client connected to it at some point). Writes nothing. */
  hasStorage(): Promise<boolean>;
  // Users and ACL entries at runtime (runtime-access.ts); the admin API has validated the input.
  listUsers(): Promise<UserView[]>;
  /** `hash`: a mosquitto hash of the password, made by the Worker (the password never reaches the object). */
  putUser(username: string, hash: string): Promise<PutUserOutcome>;
  deleteUser(username: string): Promise<DeleteUserOutcome>;
  listAcl(): Promise<AclEntryView[]>;
  addAcl(entry: AclEntryInput): Promise<AddAclOutcome>;
  deleteAcl(id: number): Promise<boolean>;
  /** Resets this object (memory lost, its WebSockets closed), as a restart by the platform would; `name` is its own. */
  restartObject(name: string): Promise<void>;
  // Between a namespace's objects (docs/scale.md); never reachable from outside the Worker.
  /** To the core: one link message of a gateway's clients; `live` (first call after the gateway started) names the channels it still has. */
  gatewayFrames(gateway: string, message: Uint8Array, live?: number[]): Promise<void>;
  /** To a gateway: one link message from the core; answers the channels it named that have no client there. */
  gatewayDeliver(gateway: string, message: Uint8Array): Promise<number[]>;
  /** To a gateway: the channels that have a client now (the core asks after a wake). */
  gatewayProbe(gateway: string): Promise<number[]>;
  /** To a gateway: close every client (the core lost its link). */
  gatewayReset(gateway: string, reason: string): Promise<void>;
}

export type { RetainedSummary };
