/**
 * One broker namespace: the composition root of its parts, and the entry
 * points its host (the Durable Object, or a test harness) calls: accept,
 * restore, receive, closed, alarm, publishFromApi and the admin reads.
 *
 * The parts, each in its own file: connections (decode loop, output,
 * connection deadlines), directory (client id → connection), router (topic
 * tree), retained (retained messages), outbound (window, queue, acks),
 * sessions (session ends, wills, expiry, share hand-over), stall-watchdog,
 * system-topics ($SYS schedule) and deadlines (the one alarm). Packets are
 * handled by protocol/, through the ProtocolContext this class implements.
 * The namespace knows nothing of WebSockets: it gets bytes from a
 * `Transport`, writes bytes back, keeps state in SQLite, and asks for an alarm.
 */
import type { MqttPacket } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { MqttError } from '../../shared/errors.ts';
import type { LogEventName } from '../../shared/log-events.ts';
import type { ProtocolContext } from '../protocol/context.ts';
import { dispatchPacket } from '../protocol/dispatch.ts';
import type { CloseCause } from './close-cause.ts';
import { Connections } from './connections.ts';
import { Deadlines, type DeadlineSource } from './deadlines.ts';
import { Directory } from './directory.ts';
import { isReservedTopicName, resolveAccess, sameIdentity, type AccessPolicy, type ClientAccess, type Identity } from './access.ts';
import { bindHookEnvironment, normalizePublishDecision, runHook, type AnyUserHooks, type BrokerHooks, type ClientInfo, type HookEnvironment, type HookName, type HookOutcome } from './hooks.ts';
import { apiMessageOverLimits, type ApiRefusal, type BrokerLimits, type ConnectTerms } from './limits.ts';
import { NamespaceQuotas, type QuotaChanges, type QuotaOutcome, type QuotaView } from './quotas.ts';
import type { AcceptMeta, ClientLink, ConnectionState, Transport } from './link.ts';
import { ConnectionEventLog } from './connection-events.ts';
import { ConnectionLog } from './connection-log.ts';
import { describeError, type Logger } from './log.ts';
import type { BrokerMessage } from './message.ts';
import { BrokerMetrics } from './metrics.ts';
import { Outbound } from './outbound.ts';
import type { EncodeCache } from './publish-encoding.ts';
import type { ClientPage, ClientQuery, ClientSummary, ConnectionEventEntry, CoreStats, EventQuery, RetainedSummary, SubscriptionSummary, TopicSummary } from './readouts.ts';
import { RetainedMessages, SqlRetainedStore } from './retained.ts';
import { Router, type Delivery } from './router.ts';
import { GatedSql } from './gated-sql.ts';
import { SessionStore, type SessionListing, type SqlExecutor } from './session-store.ts';
import { Sessions, type WillOwner } from './sessions.ts';
import { StallWatchdog } from './stall-watchdog.ts';
import { SystemTopicsSchedule, type SystemTopicsPublisher } from './system-topics.ts';
import type { SubscriptionEntry } from './topic-tree.ts';
import type { RulesConfig } from '../rules/config.ts';
import type { RuleOrigin } from '../rules/match.ts';
import { Rules, type DeadLetterOutcome, type DeadLetterSelection } from '../rules/rules.ts';
import type { DeadLetterView } from '../rules/dead-letters.ts';
import { estimateMemory } from './memory-estimate.ts';
import { TopicRates } from './topic-rates.ts';
import { HistoryMinutes, TrafficHistory, type HistorySample } from './traffic-history.ts';

export interface NamespaceDeps {
  namespace: string;
  /** The namespace's SQLite (Durable Object storage). */
  sql: SqlExecutor;
  /** Called once, when the namespace first writes to storage (its first accepted CONNECT). */
  onStorageCreated?: () => void;
  limits: BrokerLimits;
  log: Logger;
  hooks: AnyUserHooks;
  /** The host's bindings and `waitUntil`, added to every hook's context; none: `{}`, and background work just runs. */
  hookEnvironment?: HookEnvironment;
  /** Time limit for one hook call. */
  hookTimeoutMs: number;
  now(): number;
  /** Asks the host to call `alarm()` no later than `at` (ms). */
  requestAlarm(at: number): void;
  newId(): string;
  /** When set, output of incoming messages is flushed through this (e.g. a zero-delay timer). */
  deferFlush?: (flush: () => void) => void;
  /**
   * An in-memory timer (`setTimeout`). A pending one keeps a Durable Object
   * from hibernating, which is what the core uses it for: memory-only
   * in-flight state lives at most this long before it is written down.
   */
  setTimer?: (ms: number, callback: () => void) => void;
  /** Lets other events of the object run (between slices of one large message). */
  yieldToOthers?: () => Promise<void>;
  /** Publishes the $SYS tree every `intervalMs` while someone subscribes to $SYS topics. */
  systemTopics?: SystemTopicsPublisher;
  /** The namespace's access rules (an ACL); none: everything is allowed. */
  access?: AccessPolicy;
  /** Whether a client id may be taken over by another identity (default) or only by the same one. */
  takeover?: 'any' | 'same-identity';
  /** MQTT_RULES: accepted messages to webhooks, Queues, D1, R2 or other topics, through a durable outbox. */
  rules?: RulesConfig;
  /** MQTT_LOG_EVENTS: the client events logged (default: connections). */
  logEvents?: ReadonlySet<LogEventName>;
  /** What rule targets reach: the Worker's bindings and fetch (default: none, and the global fetch). */
  ruleServices?: { env: Record<string, unknown>; fetch?: (request: Request) => Promise<Response> };
}

export class Namespace implements ProtocolContext {
  readonly namespace: string;
  readonly connectionLog: ConnectionLog;
  readonly store: SessionStore;
  readonly metrics: BrokerMetrics;
  readonly outbound: Outbound;
  private readonly sql: GatedSql;
  private readonly connections: Connections;
  private readonly directory = new Directory();
  private readonly router = new Router();
  private readonly retained: RetainedMessages;
  private readonly sessions: Sessions;
  /** What each client may do, resolved from its identity once (connected or not: queued messages are checked too). */
  private readonly accessByClient = new Map<string, ClientAccess>();
  private readonly watchdog: StallWatchdog;
  private readonly systemTopics: SystemTopicsSchedule;
  private readonly deadlines: Deadlines;
  /** The namespace's rules; undefined when MQTT_RULES has none. */
  private readonly rules: Rules | undefined;
  private readonly traffic: TrafficHistory;
  private readonly topicRates: TopicRates;
  /** The last refusals and disconnect causes, saved with the counters. */
  private readonly recentEvents: ConnectionEventLog;
  /** The user's hooks with the host's environment bound: what everything here calls. */
  private readonly boundHooks: BrokerHooks;
  /** The limits in force: the deployment's with the namespace's quotas over them. */
  private readonly ownLimits: BrokerLimits;
  private readonly quotas: NamespaceQuotas;

  constructor(private readonly deps: NamespaceDeps) {
    this.namespace = deps.namespace;
    this.boundHooks = bindHookEnvironment(deps.hooks, deps.log, deps.hookEnvironment);
    // Nothing is written before a CONNECT is accepted: see GatedSql.
    const sql = new GatedSql(deps.sql, 'sessions', deps.onStorageCreated);
    this.sql = sql;
    this.store = new SessionStore(sql);
    this.traffic = new TrafficHistory(sql);
    this.topicRates = new TopicRates(deps.now());
    // Both ride on the counter flush: every few seconds while there is traffic, never while idle.
    this.metrics = new BrokerMetrics(sql, deps.now(), (before) => {
      const now = deps.now();
      this.traffic.record(now, before, this.directory.size);
      this.topicRates.fold(now);
      this.recentEvents.save();
    });
    this.recentEvents = new ConnectionEventLog(sql, () => deps.now(), () => this.metrics.markDirty());
    this.connectionLog = new ConnectionLog(deps.log, deps.namespace, () => deps.now(), this.recentEvents, deps.logEvents);
    const now = (): number => deps.now();
    const requestAlarm = (at: number): void => deps.requestAlarm(at);
    const isConnected = (clientId: string): boolean => this.directory.isConnected(clientId);
    // The namespace's own limits: the deployment's, with its quotas over them (changed in place at run time).
    const limits: BrokerLimits = { ...deps.limits };
    this.ownLimits = limits;
    this.quotas = new NamespaceQuotas(sql, deps.limits, limits, deps.log);
    this.retained = new RetainedMessages(new SqlRetainedStore(sql, limits, deps.log));
    this.connections = new Connections({
      store: this.store,
      limits,
      metrics: this.metrics,
      log: deps.log,
      connectionLog: this.connectionLog,
      now,
      newId: () => deps.newId(),
      requestAlarm,
      // The output pumps may leave waiting is counted until it is flushed (Outbound's turns).
      deferFlush: deps.deferFlush === undefined ? undefined : (flush) => deps.deferFlush?.(() => {
        flush();
        this.outbound.flushed();
      }),
      setTimer: deps.setTimer,
      yieldToOthers: deps.yieldToOthers,
      dispatch: (link, packet) => dispatchPacket(this, link, packet),
      ended: (link, cause) => this.connectionEnded(link, cause),
      takeWork: () => this.router.takeMatched(),
    });
    this.watchdog = new StallWatchdog({
      now,
      requestAlarm,
      log: deps.log,
      metrics: this.metrics,
      inspect: (clientId) => this.outbound.windowOf(clientId),
      recover: (clientId) => this.outbound.recover(clientId),
    });
    this.outbound = new Outbound({
      store: this.store,
      retained: this.retained,
      mayRead: (clientId, topic) => this.accessOfClient(clientId).mayRead(topic),
      limits,
      metrics: this.metrics,
      log: deps.log,
      now,
      setTimer: deps.setTimer,
      linkOf: (clientId) => this.directory.linkOf(clientId),
      markDirty: (link) => this.connections.markDirty(link),
      suspectStall: (clientId) => this.watchdog.suspect(clientId),
      yieldToOthers: deps.yieldToOthers,
      flush: () => this.connections.flushAll(),
      delivered: this.connectionLog.wants('deliver')
        ? (link, message) => this.connectionLog.event('info', 'message.delivered', link.state, { topic: message.topic, qos: message.qos, retain: message.retain, bytes: message.payload.byteLength })
        : undefined,
    });
    this.sessions = new Sessions({
      store: this.store,
      router: this.router,
      outbound: this.outbound,
      log: deps.log,
      now,
      requestAlarm,
      isConnected,
      mayRead: (clientId, topic) => this.accessOfClient(clientId).mayRead(topic),
      publish: (message, owner) => this.publishWill(message, owner),
      deleted: (clientId) => this.accessByClient.delete(clientId),
    });
    this.systemTopics = new SystemTopicsSchedule(deps.systemTopics, this, () => this.router.hasOnlineSystemSubscriber(isConnected), now, requestAlarm);
    this.rules = deps.rules === undefined || deps.rules.rules.length === 0 ? undefined : this.createRules(deps.rules);
    // The order in which an alarm serves them: counters and connection deadlines first, sessions, then rules last.
    const sources: DeadlineSource[] = [this.connections, this.systemTopics, this.watchdog, this.sessions];
    if (this.rules !== undefined) sources.push(this.rules);
    this.deadlines = new Deadlines(sources, now, requestAlarm);
    for (const entry of this.store.allSubscriptions()) this.router.add(entry);
  }

  get limits(): BrokerLimits {
    return this.ownLimits;
  }

  termsOf(link: ClientLink): ConnectTerms {
    return link.state.terms ?? this.ownLimits;
  }

  admitPublish(link: ClientLink, qos: number): boolean | Promise<boolean> {
    return this.connections.admitPublish(link, qos);
  }

  /** The namespace's limits and which of them it set for itself (GET /admin/<ns>/quotas). */
  quotaView(): QuotaView[] {
    return this.quotas.view();
  }

  /** Sets or clears quotas (PATCH /admin/<ns>/quotas): all or none; effective from the next packet or connection. */
  setQuotas(changes: QuotaChanges): QuotaOutcome {
    const outcome = this.quotas.set(changes, this.deps.now());
    if (outcome.ok && outcome.changed.some((name) => name === 'maxPublishRate' || name === 'namespacePublishRate')) this.connections.publishRatesChanged();
    return outcome;
  }

  get hooks(): BrokerHooks {
    return this.boundHooks;
  }

  get log(): Logger {
    return this.deps.log;
  }

  get connectedCount(): number {
    return this.directory.size;
  }

  get subscriptionCount(): number {
    return this.router.size;
  }

  /** Whether the namespace has written anything to storage (it accepted a CONNECT at some point). */
  get hasStorage(): boolean {
    return this.sql.isMaterialized;
  }

  now(): number {
    return this.deps.now();
  }

  newId(): string {
    return this.deps.newId();
  }

  // ---- entry points for the host -------------------------------------------------

  /** A new transport was accepted; it has `connectTimeoutMs` to send CONNECT. */
  accept(transport: Transport, meta: AcceptMeta): ConnectionState {
    return this.connections.accept(transport, meta);
  }

  /**
   * Rebuilds connections after the object woke from hibernation or restarted.
   * Sessions still marked online whose connection did not survive are ended
   * as a network error (their wills fire).
   */
  restore(connections: Array<{ state: ConnectionState; transport: Transport }>): void {
    const survivors = new Set<string>();
    for (const { state, transport } of connections) {
      survivors.add(state.id);
      const link = this.connections.restore(state, transport);
      if (link !== undefined && state.phase === 'connected' && state.clientId !== undefined) this.directory.bind(link, state.clientId);
    }
    for (const session of this.store.onlineSessions()) {
      if (this.connections.get(session.connectionId) !== undefined) continue;
      this.sessions.connectionEnded(session.clientId, session.connectionId);
      // Its connection went while the object was away: only its ids are known.
      this.connectionLog.event('info', 'connection.closed', undefined, { connection: session.connectionId, client: session.clientId, reason: 'network-error' });
    }
    this.deadlines.schedule();
    this.connections.flushAll();
    this.rules?.resume();
  }

  /** Bytes arrived on a connection. Packets of one connection are handled strictly in order. */
  receive(connectionId: string, bytes: Uint8Array): Promise<void> {
    return this.connections.receive(connectionId, bytes);
  }

  /** The transport closed (client went away, network error, or the sidecar said why). */
  closed(connectionId: string, cause: CloseCause = 'network-error'): Promise<void> {
    return this.connections.closed(connectionId, cause);
  }

  /**
   * The connection's carrier (a gateway) holds far more of its input than
   * its share: it ends as a client of this object past MQTT_MAX_PENDING_BYTES
   * does, DISCONNECT 0x96 (5.0) and a close, whatever shape the namespace has.
   */
  refuseInput(connectionId: string, reason: string): void {
    const link = this.connections.get(connectionId);
    if (link === undefined || link.closed) return;
    this.connections.fail(link, new MqttError('Limit', ReasonCode.MessageRateTooHigh, reason));
    this.connections.flushAll();
  }

  /** Deadlines: connect timeouts, keep-alive, delayed wills, session expiry, $SYS, stalls. */
  alarm(): void {
    this.deadlines.alarm();
    this.connections.flushAll();
  }

  /**
   * A message from outside MQTT (HTTP API, RPC): held to the namespace's
   * limits in force, as a client's PUBLISH is (else why it was refused),
   * then routed as the broker's own, with no publisher.
   */
  async publishFromApi(message: { topic: string; payload: Uint8Array; qos: 0 | 1 | 2; retain: boolean }): Promise<ApiRefusal | undefined> {
    // The Worker checked it against the deployment's limits; the namespace's own (its quotas) may be lower.
    const refusal = apiMessageOverLimits(message, this.limits);
    if (refusal !== undefined) return refusal;
    try {
      await this.publish({ topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain });
    } finally {
      this.connections.flushAll();
    }
    return undefined;
  }

  /** Writes down memory-only in-flight ids now (before the host lets the object go). */
  spillVolatile(): void {
    this.outbound.spillVolatile();
  }

  // ---- admin reads -----------------------------------------------------------------

  stats(): CoreStats {
    const flow = this.connections.flowStats();
    const subscriptions = this.router.size;
    return {
      connected: this.directory.size,
      sessions: this.store.countSessions(),
      subscriptions,
      retained: this.retained.count(),
      stalled: this.watchdog.stalledCount(),
      createdAt: this.metrics.createdAt,
      counters: { ...this.metrics.counters },
      rules: this.rules?.report() ?? [],
      flow,
      memory: estimateMemory({
        // Every accepted connection, CONNECT or not: what it holds is the same.
        connected: this.connections.count,
        subscriptions,
        pendingInputBytes: flow.pendingBytes,
        partialBytes: flow.partialBytes,
        heldAcks: flow.heldAcks,
        unflushedBytes: this.connections.unflushedBytes(),
      }),
    };
  }

  /** Traffic per minute over the last `minutes` (at most a day), oldest first. */
  history(minutes: number): HistorySample[] {
    return this.traffic.samples(this.now(), this.metrics.counters, this.directory.size, Math.min(minutes, HistoryMinutes));
  }

  /** The busiest recent topics (clients' and the API's; not $SYS), with whether each holds a retained message. */
  topics(limit: number): { topics: TopicSummary[]; untracked: number } {
    const { topics, untracked } = this.topicRates.list(this.now(), limit);
    return { topics: topics.map((t) => ({ topic: t.topic, rate: t.rate, messages: t.messages, retained: this.retained.has(t.topic) })), untracked };
  }

  listSubscriptions(limit: number): SubscriptionSummary[] {
    return this.store.listSubscriptions(limit).map((entry) => {
      const summary: SubscriptionSummary = { clientId: entry.clientId, filter: entry.filter, qos: entry.qos, online: this.directory.isConnected(entry.clientId) };
      if (entry.shareGroup !== undefined) summary.shareGroup = entry.shareGroup;
      return summary;
    });
  }

  listClients(limit = 1000): ClientSummary[] {
    return this.summarizeSessions(this.store.listSessions(limit));
  }

  /**
   * A page of the clients (online first, then by client id) and how many
   * there are in all, or of those whose client id, username or address
   * contains `search`. Bounded by the page: the sessions are selected and
   * counted in SQLite; only connected clients' addresses, which are in
   * memory anyway, are matched here.
   */
  findClients(query: ClientQuery): ClientPage {
    const match = query.search === undefined || query.search === '' ? undefined : { text: query.search, clientIds: this.clientsAt(query.search) };
    return { clients: this.summarizeSessions(this.store.listSessions(query.limit, query.offset, match)), total: this.store.countSessions(match) };
  }

  /** Connected clients whose address contains `text` (ignoring case, as the SQL match does). */
  private clientsAt(text: string): string[] {
    const needle = text.toLowerCase();
    const found: string[] = [];
    for (const link of this.directory.links()) {
      const { clientId, remoteAddress } = link.state;
      if (clientId !== undefined && remoteAddress?.toLowerCase().includes(needle) === true) found.push(clientId);
    }
    return found;
  }

  private summarizeSessions(sessions: SessionListing[]): ClientSummary[] {
    return sessions.map((session) => {
      const link = this.directory.linkOf(session.clientId);
      const summary: ClientSummary = {
        clientId: session.clientId,
        connected: link !== undefined,
        protocolLevel: session.protocolLevel,
        sessionExpiryInterval: session.expiryInterval,
        ...(session.willTopic === undefined ? {} : { willTopic: session.willTopic }),
        ...(session.username === undefined ? {} : { username: session.username }),
        ...(session.disconnectedAt === undefined ? {} : { lastSeen: session.disconnectedAt }),
        subscriptions: this.store.subscriptionsOf(session.clientId).map((entry) => ({ filter: entry.filter, qos: entry.qos })),
        ...this.outbound.summary(session.clientId),
        awaitingRel: this.store.countInboundQoS2(session.clientId),
      };
      if (link !== undefined) {
        const state = link.state;
        summary.keepAlive = state.keepAlive;
        summary.bridged = state.bridged;
        if (state.brokerBridge === true) summary.brokerBridge = true;
        summary.connectedAt = state.acceptedAt;
        summary.lastSeen = state.lastSeen;
        if (state.username !== undefined) summary.username = state.username;
        if (state.remoteAddress !== undefined) summary.remoteAddress = state.remoteAddress;
        const stalledSince = this.watchdog.stalledSince(session.clientId);
        if (stalledSince !== undefined) summary.stalledSince = stalledSince;
        summary.flow = this.connections.clientFlow(link);
      }
      return summary;
    });
  }

  /** The newest refusals and disconnect causes first; `unsaved`: how many are not in storage yet (they are with the next counter flush). */
  connectionEvents(query: EventQuery): { events: ConnectionEventEntry[]; unsaved: number } {
    return { events: this.recentEvents.list(query), unsaved: this.recentEvents.unsavedCount };
  }

  /** Admin: disconnects a client (5.0: DISCONNECT 0x98); false if it is not connected. */
  disconnectClient(clientId: string): boolean {
    const link = this.directory.linkOf(clientId);
    if (link === undefined) return false;
    this.connections.disconnect(link, ReasonCode.AdministrativeAction, 'disconnected by an administrator', 'admin');
    this.connections.flushAll();
    return true;
  }

  /**
   * A clean stop of the broker, as mosquitto stops: first every will goes
   * out, of connected clients and of offline sessions still waiting out a
   * Will Delay Interval alike (nothing would be left to time them), while
   * every subscriber is still connected to receive them; then every
   * connection is closed, 5.0 clients with DISCONNECT 0x8B (Server shutting
   * down), 3.x clients with a plain close. Sessions are kept as on any
   * disconnect: persistent ones with their subscriptions and queues, clean
   * ones end.
   */
  async shutdown(): Promise<{ disconnected: number; wills: number }> {
    const connected = [...this.connections.all()].filter((link) => link.state.phase === 'connected' && link.state.clientId !== undefined);
    const wills = this.sessions.takeWills(connected.map((link) => link.state.clientId as string));
    await Promise.all(wills.map(({ will, owner }) => this.publishWill(will, owner)));
    this.connections.flushAll();
    let disconnected = 0;
    for (const link of [...this.connections.all()]) {
      this.connections.disconnect(link, ReasonCode.ServerShuttingDown, 'server shutting down', 'server-shutdown');
      disconnected++;
    }
    this.connections.flushAll();
    this.deps.log.log('info', 'namespace_shutdown', { disconnected, wills: wills.length });
    return { disconnected, wills: wills.length };
  }

  listRetained(limit = 1000): RetainedSummary[] {
    return this.retained.list(limit).map((listing) => ({
      topic: listing.topic,
      qos: listing.qos,
      payloadBytes: listing.payloadBytes,
      payloadPreview: new TextDecoder().decode(listing.preview),
    }));
  }

  deleteRetained(topic: string): boolean {
    return this.retained.delete(topic);
  }

  // Admin: the rules' dead letters. Without rules there are none, and every rule name is unknown (undefined).

  listDeadLetters(rule: string | undefined, limit: number): { deadLetters: DeadLetterView[]; truncated: boolean } | undefined {
    if (this.rules !== undefined) return this.rules.listDeadLetters(rule, limit);
    return rule === undefined ? { deadLetters: [], truncated: false } : undefined;
  }

  retryDeadLetters(selection: DeadLetterSelection): DeadLetterOutcome | undefined {
    if (this.rules !== undefined) return this.rules.retryDeadLetters(selection);
    return 'rule' in selection ? undefined : { selected: 0, done: 0 };
  }

  deleteDeadLetters(selection: DeadLetterSelection): DeadLetterOutcome | undefined {
    if (this.rules !== undefined) return this.rules.deleteDeadLetters(selection);
    return 'rule' in selection ? undefined : { selected: 0, done: 0 };
  }

  /** Publishes a broker-made message (the $SYS tree): retained, no publisher. */
  publishSystem(topic: string, payload: string): void {
    // Not counted as a busy topic: the $SYS tree would crowd out the clients' own.
    void this.publishAsBroker({ topic, payload: new TextEncoder().encode(payload), qos: 0, retain: true }, 'sys_publish_failed', false);
  }

  // ---- ProtocolContext ---------------------------------------------------------------

  clientInfo(link: ClientLink): ClientInfo {
    const state = link.state;
    const info: ClientInfo = { namespace: this.namespace, clientId: state.clientId ?? '', protocolLevel: link.level };
    if (state.username !== undefined) info.username = state.username;
    if (state.remoteAddress !== undefined) info.remoteAddress = state.remoteAddress;
    return info;
  }

  runHook<T>(name: HookName, clientId: string | undefined, call: () => T | Promise<T>): Promise<HookOutcome<T>> {
    return runHook(name, this.deps.hookTimeoutMs, this.deps.log, clientId, call);
  }

  markDirty(link: ClientLink): void {
    this.connections.markDirty(link);
  }

  flush(): void {
    this.connections.flushAll();
  }

  async pace(): Promise<void> {
    this.connections.flushAll();
    await this.deps.yieldToOthers?.();
  }

  refuseConnect(link: ClientLink, reasonCode: number, message: string, who?: { client?: string; username?: string | undefined }): void {
    this.connections.refuse(link, reasonCode, message, who);
  }

  disconnect(link: ClientLink, reasonCode: number, message: string, cause: CloseCause): void {
    this.connections.disconnect(link, reasonCode, message, cause);
  }

  acknowledge(link: ClientLink, ack: MqttPacket): void {
    this.connections.acknowledge(link, ack);
  }

  slows(link: ClientLink): boolean {
    return this.connections.slows(link);
  }

  dropSlowed(link: ClientLink): void {
    this.connections.dropSlowed(link);
  }

  closeByClient(link: ClientLink): void {
    link.close('normal', 'client disconnected');
    this.connections.end(link, 'client-disconnect');
  }

  watchKeepAlive(link: ClientLink): void {
    this.connections.watch(link);
  }

  linkOf(clientId: string): ClientLink | undefined {
    return this.directory.linkOf(clientId);
  }

  bindClient(link: ClientLink, clientId: string): void {
    if (link.access !== undefined) this.accessByClient.set(clientId, link.access);
    this.directory.bind(link, clientId);
    this.connections.connected(link);
    if (this.router.hasSystemSubscription(clientId)) this.systemTopics.start();
    this.outbound.forget(clientId);
    this.metrics.add('connectionsTotal');
    this.metrics.raiseMaximum(this.directory.size);
  }

  discardSession(clientId: string): void {
    this.sessions.discard(clientId);
  }

  expireSessionIfDue(clientId: string): void {
    this.sessions.expireIfDue(clientId);
  }

  addSubscription(entry: SubscriptionEntry): void {
    this.store.putSubscription(entry);
    if (this.router.add(entry) && this.directory.isConnected(entry.clientId)) this.systemTopics.start();
  }

  removeSubscription(entry: SubscriptionEntry): boolean {
    if (!this.store.deleteSubscription(entry.clientId, entry.filter)) return false;
    this.router.remove(entry);
    this.outbound.endReplay(entry.clientId, entry.filter);
    return true;
  }

  sendRetained(link: ClientLink, entries: readonly SubscriptionEntry[]): void {
    if (entries.length > 0) this.outbound.replay(link, entries);
  }

  get takeoverPolicy(): 'any' | 'same-identity' {
    return this.deps.takeover ?? 'any';
  }

  /**
   * Who the client of `link` is, from now on (after authentication). A
   * connected client's re-authentication is written to its session too:
   * its will goes out as who it is then, and a wake reads it back.
   */
  setIdentity(link: ClientLink, identity: Identity, clientId: string): void {
    link.identity = identity;
    link.access = resolveAccess(this.deps.access, identity, clientId);
    this.accessByClient.set(clientId, link.access);
    if (link.state.phase === 'connected') this.store.setIdentity(clientId, identity);
  }

  /** What the client of `link` may do (after a wake: from its session's identity). */
  accessOf(link: ClientLink): ClientAccess {
    if (link.access !== undefined) return link.access;
    const clientId = link.state.clientId ?? '';
    link.access = this.accessOfClient(clientId);
    return link.access;
  }

  private accessOfClient(clientId: string): ClientAccess {
    let access = this.accessByClient.get(clientId);
    if (access === undefined) {
      const identity = this.store.getSession(clientId)?.identity ?? {};
      access = resolveAccess(this.deps.access, identity, clientId);
      this.accessByClient.set(clientId, access);
    }
    return access;
  }

  /**
   * A session resumed by another identity keeps only what that identity may
   * read: subscriptions it may read nothing through go, the others are
   * checked anew, and queued or unacknowledged messages it may not read are
   * dropped.
   */
  reviewSession(link: ClientLink, previous: Identity | undefined): void {
    const clientId = link.state.clientId as string;
    if (sameIdentity(previous, link.identity)) return;
    const access = this.accessOf(link);
    for (const entry of this.store.subscriptionsOf(clientId)) {
      if (access.subscription(entry.filter) === 'none') this.removeSubscription(entry);
      else this.recheckSubscription(entry, access);
    }
    const dropped = this.store.dropOutboundWhere(clientId, (topic) => !access.mayRead(topic));
    if (dropped > 0) this.deps.log.log('info', 'session_review_dropped', { client: clientId, messages: dropped });
    this.outbound.forget(clientId);
  }

  /**
   * The namespace's rules changed (runtime ACL entries): every client's
   * access is resolved anew, connected or not, and every subscription
   * learns again whether it needs a check per message, so the new rules
   * hold from the next message on (as mosquitto applies a reloaded ACL to
   * connected clients). A subscription that may now read nothing is kept,
   * checked per message: it delivers nothing until a grant comes back.
   * Messages already queued stay. Costs one pass over the subscriptions.
   */
  accessChanged(): void {
    this.accessByClient.clear();
    for (const link of this.directory.links()) {
      const clientId = link.state.clientId;
      // Without its identity in memory (after a wake), accessOf reads it from the session.
      link.access = clientId === undefined || link.identity === undefined ? undefined : resolveAccess(this.deps.access, link.identity, clientId);
      if (clientId !== undefined && link.access !== undefined) this.accessByClient.set(clientId, link.access);
    }
    for (const entry of this.store.allSubscriptions()) this.recheckSubscription(entry, this.accessOfClient(entry.clientId));
  }

  /** Keeps a subscription's per-message check in step with `access` ('none' counts as needing the check). */
  private recheckSubscription(entry: SubscriptionEntry, access: ClientAccess): void {
    const readCheck = access.subscription(entry.filter) !== 'all';
    if (readCheck === (entry.readCheck === true)) return;
    const updated: SubscriptionEntry = { ...entry };
    if (readCheck) updated.readCheck = true;
    else delete updated.readCheck;
    this.addSubscription(updated);
  }

  /**
   * Routes a message to every matching subscription (see Router.route),
   * after storing it if retained and appending it to the rules' outbox
   * (`origin`: the rule that republished it); the onDeliver hook, if any,
   * is asked for every subscriber first.
   */
  publish(message: BrokerMessage, origin?: RuleOrigin): boolean | Promise<boolean> {
    this.topicRates.note(message.topic);
    return this.route(message, origin);
  }

  /** Routes a message; true when a subscriber matched or a rule took it (else 5.0's 0x10 No matching subscribers). */
  private route(message: BrokerMessage, origin?: RuleOrigin): boolean | Promise<boolean> {
    if (message.retain) this.retained.put(message);
    // In this turn: the outbox rows commit with the message (see rules/outbox.ts); nothing is awaited.
    const ruled = this.rules?.accepted(message, origin) ?? false;
    const matched = this.router.route(message, {
      isOnline: (clientId) => this.directory.isConnected(clientId),
      mayRead: (clientId, topic) => this.accessOfClient(clientId).mayRead(topic),
    });
    // Read access is checked per message, only for subscriptions that can need it [mosquitto's ACL semantics].
    const deliveries = matched.filter((delivery) => delivery.readCheck !== true || this.accessOfClient(delivery.clientId).mayRead(message.topic));
    // A subscriber is a matching subscription, whether or not it may read this message (as mosquitto counts them).
    const reached = ruled || matched.length > 0;
    const onDeliver = this.hooks.onDeliver;
    if (onDeliver === undefined) {
      const cache: EncodeCache = new Map();
      for (const delivery of deliveries) this.outbound.deliver(message, delivery, cache);
      return reached;
    }
    return this.deliverWithHook(message, deliveries, onDeliver).then(() => reached);
  }

  /** The per-subscriber hook: asked for every target at once, then delivered in order. */
  private async deliverWithHook(message: BrokerMessage, deliveries: Delivery[], onDeliver: NonNullable<BrokerHooks['onDeliver']>): Promise<void> {
    const verdicts = await Promise.all(
      deliveries.map((delivery) => {
        const context = {
          namespace: this.namespace,
          clientId: delivery.clientId,
          topic: message.topic,
          payload: message.payload,
          qos: Math.min(message.qos, delivery.qos) as 0 | 1 | 2,
          retain: message.retain,
          ...(message.senderClientId === undefined ? {} : { publisherClientId: message.senderClientId }),
        };
        return this.runHook('onDeliver', delivery.clientId, () => onDeliver(context));
      }),
    );
    const cache: EncodeCache = new Map();
    deliveries.forEach((delivery, index) => {
      const verdict = verdicts[index];
      if (verdict?.ok === true && verdict.value) this.outbound.deliver(message, delivery, cache);
    });
    this.connections.flushAll();
  }

  /**
   * A will goes out: a publish of the client that left, so it is checked as
   * one, now. Its topic passed the rules at CONNECT, but they may have
   * changed since (runtime ACL entries), and a delayed will goes out long
   * after: so the owner's access is resolved afresh from the identity its
   * session keeps (not from what is cached for the client id, which a new
   * connection of another identity may hold by now), the grants of its
   * credentials included; then the onPublish hook decides, seeing what it
   * sees of that client's publishes.
   */
  private publishWill(will: BrokerMessage, owner: WillOwner): Promise<void> {
    const { clientId } = owner;
    const identity = owner.identity ?? {};
    if (isReservedTopicName(will.topic, clientId) || !resolveAccess(this.deps.access, identity, clientId).mayWrite(will.topic)) {
      this.metrics.add('publishDropped');
      this.deps.log.log('info', 'will_refused', { client: clientId, topic: will.topic, by: 'access' });
      return Promise.resolve();
    }
    const onPublish = this.hooks.onPublish;
    if (onPublish === undefined) return this.publishAsBroker(will, 'will_failed');
    const username = identity.username;
    const expiresIn = will.expiresAt === undefined ? undefined : Math.max(0, Math.ceil((will.expiresAt - this.now()) / 1000));
    const context = {
      namespace: this.namespace,
      clientId,
      protocolLevel: owner.protocolLevel,
      ...(username === undefined ? {} : { username }),
      topic: will.topic,
      payload: will.payload,
      qos: will.qos,
      retain: will.retain,
      // As for a publish: 5.0 clients' properties, with the expiry that is left.
      ...(owner.protocolLevel === 5 ? { properties: { ...will.properties, ...(expiresIn === undefined ? {} : { messageExpiryInterval: expiresIn }) } } : {}),
    };
    return this.runHook('onPublish', clientId, () => onPublish(context)).then(async (outcome) => {
      if (!outcome.ok || !normalizePublishDecision(outcome.value).allow) {
        this.metrics.add('publishDropped');
        this.deps.log.log('info', 'will_refused', { client: clientId, topic: will.topic });
        return;
      }
      await this.publishAsBroker(will, 'will_failed');
      this.connections.flushAll();
    });
  }

  /**
   * Routes a message the broker makes itself (wills, $SYS), logging a
   * failure instead of throwing it. The promise settles once it is routed
   * (nobody has to wait for it but a shutdown) and never rejects.
   */
  private publishAsBroker(message: BrokerMessage, failure: string, counted = true): Promise<void> {
    const routed = counted ? this.publish(message) : this.route(message);
    if (typeof routed === 'boolean') return Promise.resolve();
    return routed.then(
      () => undefined,
      (error: unknown) => this.deps.log.log('error', failure, { topic: message.topic, error: describeError(error) }),
    );
  }

  private createRules(config: RulesConfig): Rules {
    const deps = this.deps;
    const services = deps.ruleServices;
    return new Rules({
      namespace: deps.namespace,
      config,
      sql: this.sql,
      ...(services === undefined ? {} : { env: services.env }),
      ...(services?.fetch === undefined ? {} : { fetch: services.fetch }),
      log: deps.log,
      now: () => deps.now(),
      requestAlarm: (at) => deps.requestAlarm(at),
      ...(deps.setTimer === undefined ? {} : { setTimer: deps.setTimer }),
      republish: async (message, origin) => {
        try {
          await this.publish(message, origin);
        } finally {
          this.connections.flushAll();
        }
      },
    });
  }

  // ---- a connection ended ---------------------------------------------------------------

  /** Its client's connection ends: share hand-over, session end or expiry, the will, the hook. */
  private connectionEnded(link: ClientLink, cause: CloseCause): void {
    const clientId = link.state.clientId;
    if (link.state.phase === 'awaiting-connect' || link.state.phase === 'authenticating' || clientId === undefined) return;
    if (!this.directory.unbind(link)) {
      // Taken over: the new connection has the client id (and the session) already.
      this.connectionLog.closed(link.state, cause);
      return;
    }
    if (cause !== 'takeover') this.sessions.handOverShared(clientId);
    this.outbound.forget(clientId);
    this.sessions.connectionEnded(clientId, link.id);
    // After the will went out: a reader of the logs may take this line as "its will is routed" (test/differential does).
    this.connectionLog.closed(link.state, cause);
    const onDisconnect = this.hooks.onDisconnect;
    if (onDisconnect !== undefined) {
      const info = { ...this.clientInfo(link), cause };
      // Nothing waits on it: the connection is gone either way.
      void this.runHook('onDisconnect', clientId, () => onDisconnect(info));
    }
  }
}

