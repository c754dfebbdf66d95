/**
 * The protocol core of one broker namespace: connections, sessions, routing
 * and QoS state machines. It knows nothing of WebSockets or Durable Objects:
 * it gets bytes from a `Transport`, writes bytes back, keeps durable state
 * in a `SessionStore`, and asks for an alarm when it has a deadline.
 */
import { PacketDecoder } from '../../shared/codec/decoder.ts';
import type { MqttPacket, ProtocolLevel, PublishPacket } from '../../shared/codec/types.ts';
import { BridgeCloseCode } from '../../shared/bridge-close-codes.ts';
import { MqttError, isMqttError } from '../../shared/errors.ts';
import { ConnackReturnCode, ReasonCode } from '../../shared/reason-codes.ts';
import { topicMatchesFilter } from '../../shared/topic.ts';
import { ClientLink, WsCloseCode, type ConnectionState, type SendCounter, type Transport } from './link.ts';
import type { BrokerLimits } from './limits.ts';
import { describeError, type Logger } from './log.ts';
import { toBase64, fromBase64, type BrokerMessage } from './message.ts';
import { OutboundState, SessionNeverExpires, SessionStore, type OutboundRecord } from './session-store.ts';
import { TopicTree, type SubscriptionEntry } from './topic-tree.ts';
import { MetricsFlushIntervalMs, type BrokerMetrics } from './metrics.ts';
import { handleConnect } from '../protocol/connect.ts';
import { handlePublish, handlePubrel } from '../protocol/publish.ts';
import { handlePuback, handlePubcomp, handlePubrec } from '../protocol/acks.ts';
import { handleSubscribe } from '../protocol/subscribe.ts';
import { handleUnsubscribe } from '../protocol/unsubscribe.ts';
import { handleDisconnect } from '../protocol/disconnect.ts';
import { handleAuth } from '../protocol/auth.ts';
import { callWithTimeout, type BrokerHooks, type ClientGrants, type ClientInfo, type HookName } from './hooks.ts';
import { filterCovers } from '../auth/filter-relations.ts';

/** Why a connection ended; hooks and logs see it. */
export type CloseCause =
  | 'client-disconnect'
  | 'keepalive-timeout'
  | 'protocol-error'
  | 'network-error'
  | 'takeover'
  | 'server-shutdown'
  | 'connect-timeout'
  | 'refused'
  | 'admin';

export interface BrokerDeps {
  namespace: string;
  store: SessionStore;
  metrics: BrokerMetrics;
  limits: BrokerLimits;
  log: Logger;
  hooks: BrokerHooks;
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
  /** Publishes the $SYS tree every `intervalMs` while someone subscribes to $SYS topics. */
  systemTopics?: SystemTopicsPublisher;
}

export interface SystemTopicsPublisher {
  intervalMs: number;
  publish(core: BrokerCore, now: number): void;
}

/** What the admin API and the dashboard show of one client. */
export interface ClientSummary {
  clientId: string;
  connected: boolean;
  protocolLevel?: ProtocolLevel;
  username?: string;
  remoteAddress?: string;
  keepAlive?: number;
  bridged?: boolean;
  connectedAt?: number;
  sessionExpiryInterval?: number;
  subscriptions: Array<{ filter: string; qos: number }>;
  /** QoS 1/2 messages waiting for room in the in-flight window (EMQX's `mqueue`). */
  queued: number;
  /** QoS 1/2 messages sent and not yet acknowledged: the window in use (EMQX's `inflight`). */
  inflight: number;
  /** Of those, the ones in storage (persistent sessions, QoS 2, shared subscriptions). */
  inflightStored: number;
  /** Of those, QoS 1 messages to sessions that end with their connection, kept in memory only. */
  inflightMemoryOnly: number;
  /** Inbound QoS 2 packet ids received and awaiting the client's PUBREL (EMQX's `awaiting_rel`). */
  awaitingRel: number;
  /** The window in force while connected: the client's Receive Maximum (5.0) or MQTT_MAX_INFLIGHT. */
  receiveMaximum?: number;
  /** Set while the client looks stalled: queued messages, room in its window, and nothing sent (ms since the epoch). */
  stalledSince?: number;
}

/** What the core keeps in memory per session with a live connection. */
interface SessionRuntime {
  /** Packet ids of QoS 1/2 messages in flight to the client: the window in use. */
  inflight: Set<number>;
  /**
   * Packet ids of messages sent on an earlier connection that wait for room
   * to be resent (DUP, same id): a client may come back with a smaller
   * Receive Maximum than the session has in flight. Their ids stay taken.
   */
  resendWaiting: Set<number>;
  nextPacketId: number;
  /**
   * In-flight QoS 1 messages kept in memory only: those of sessions that
   * end with their connection (expiry 0). Such a session cannot outlive a
   * crash or a restart of the object, so storing each of them would buy
   * nothing. But the window must survive hibernation, or after a wake the
   * broker would send more than Receive Maximum and reuse packet ids the
   * client still holds [MQTT-3.3.4-9, MQTT-2.2.1-3]: so ids still in flight
   * after VolatileSpillMs are written down (ids only: such a session never
   * resends), and until then a pending timer keeps the object awake.
   */
  volatile: Set<number>;
  /**
   * Queued (not yet sent) messages in storage, so a live delivery knows
   * without a query whether it must queue behind them. `pump` re-reads
   * the queue and resets this when it finds it empty.
   */
  queued: number;
}

/** Encoded PUBLISH packets of one routed message, by the form subscribers get it in. */
type EncodeCache = Map<string, Uint8Array>;

/** Largest partial packet kept inline in the attachment; larger ones go to SQLite. */
const InlinePartialLimit = 1024;
/** What the sidecar's close codes mean, for onDisconnect and the logs. */
const BridgeCloseCauses: ReadonlyMap<number, CloseCause> = new Map([
  [BridgeCloseCode.GoingAway, 'server-shutdown'],
  [BridgeCloseCode.KeepAliveTimeout, 'keepalive-timeout'],
  [BridgeCloseCode.DeviceProtocolError, 'protocol-error'],
]);

/**
 * The stall watchdog: a connected client with queued messages and room in
 * its window should never wait. Suspects are looked at this often, and one
 * still in that state after StallAfterMs is reported (issue 12).
 */
export const StallCheckMs = 2500;
export const StallAfterMs = 5000;
/** How long QoS 1 ids may stay in flight in memory only before they are stored (see SessionRuntime.volatile). */
export const VolatileSpillMs = 5000;
/** Alarms that only reschedule come at most this often (see scheduleNextAlarm). */
const AlarmSpacingMs = 1000;
/** Keep-alive grace: the server allows one and a half keep-alive periods [MQTT-3.1.2-24]. */
const KeepAliveGrace = 1.5;

export class BrokerCore {
  readonly tree = new TopicTree();
  private readonly links = new Map<string, ClientLink>();
  private readonly linksByClient = new Map<string, ClientLink>();
  private readonly runtimes = new Map<string, SessionRuntime>();
  private readonly dirty = new Set<ClientLink>();
  private readonly shareCursor = new Map<string, number>();
  private metricsFlushPending = false;
  private flushPending = false;
  /** What every link handed to its transport since the last count (links add to it directly). */
  private readonly sent: SendCounter = { packets: 0, bytes: 0 };
  /** Subscriptions whose filter can match a $SYS topic; $SYS is published only while there are some. */
  /** $SYS subscriptions per client; $SYS is published only while one of these clients is connected. */
  private readonly systemSubscribers = new Map<string, number>();
  private nextSystemPublish: number | undefined;
  /**
   * Retained $SYS messages live in memory only: they are rewritten every
   * interval, and writing them to SQLite each time would cost more than
   * they are worth; after a wake the next publish restores them.
   */
  private readonly systemRetained = new Map<string, BrokerMessage>();
  /** Retained messages in storage, counted once and then kept up to date. */
  private retainedCount: number | undefined;
  /**
   * Clients the stall watchdog looks at: those with queued messages whose
   * window opened (an acknowledgement came) or was open when a message was
   * queued, each with when it was first seen stalled. Nobody is watched
   * while every window is full or every queue empty, so the watchdog costs
   * no alarms then.
   */
  private readonly stallSuspects = new Map<string, { stalledSince?: number; reported?: boolean }>();
  private nextStallCheck: number | undefined;
  /** Clients with memory-only in-flight ids, and whether the timer that stores them is pending. */
  private readonly volatileClients = new Set<string>();
  private spillPending = false;

  constructor(readonly deps: BrokerDeps) {
    for (const entry of deps.store.allSubscriptions()) this.addToTree(entry);
  }

  get store(): SessionStore {
    return this.deps.store;
  }

  get limits(): BrokerLimits {
    return this.deps.limits;
  }

  get log(): Logger {
    return this.deps.log;
  }

  get metrics(): BrokerMetrics {
    return this.deps.metrics;
  }

  get connectedCount(): number {
    return this.linksByClient.size;
  }

  now(): number {
    return this.deps.now();
  }

  // ---- connection lifecycle (called by the host adapter) ---------------

  /** A new transport was accepted; it has `connectTimeoutMs` to send CONNECT. */
  accept(transport: Transport, meta: { remoteAddress?: string; bridged: boolean }): ConnectionState {
    const now = this.now();
    const state: ConnectionState = {
      v: 1,
      id: this.deps.newId(),
      phase: 'awaiting-connect',
      acceptedAt: now,
      lastSeen: now,
      bridged: meta.bridged,
      keepAlive: 0,
      clientReceiveMaximum: this.limits.maxInflight,
      clientMaxPacketSize: 0,
      requestProblemInformation: true,
    };
    if (meta.remoteAddress !== undefined) state.remoteAddress = meta.remoteAddress;
    const link = this.register(state, transport);
    link.persist();
    this.deps.requestAlarm(now + this.limits.connectTimeoutMs);
    return state;
  }

  /**
   * Rebuilds links after the object woke from hibernation or restarted.
   * Sessions still marked online whose connection did not survive are
   * ended as a network error (their wills fire).
   */
  restore(connections: Array<{ state: ConnectionState; transport: Transport }>): void {
    for (const { state, transport } of connections) {
      if (this.links.has(state.id)) continue;
      const link = this.register(state, transport);
      if (state.phase === 'connected' && state.clientId !== undefined) this.linksByClient.set(state.clientId, link);
    }
    for (const session of this.store.onlineSessions()) {
      if (!this.links.has(session.connectionId)) {
        this.endSession(session.clientId, session.connectionId, 'network-error');
      }
    }
    this.scheduleNextAlarm();
    this.flushAll();
  }

  private register(state: ConnectionState, transport: Transport): ClientLink {
    let leftover: Uint8Array | undefined;
    if (state.partialInline !== undefined) leftover = fromBase64(state.partialInline);
    else if (state.partialStored === true) leftover = this.store.loadPartialPacket(state.id);
    const decoder = new PacketDecoder({
      maxPacketSize: this.limits.maxPacketSize,
      ...(state.level === undefined ? {} : { protocolLevel: state.level }),
      ...(leftover === undefined ? {} : { leftover }),
    });
    const link = new ClientLink(state, transport, decoder, this.sent);
    this.links.set(state.id, link);
    return link;
  }

  /** Bytes arrived on a connection. Packets of one connection are handled strictly in order. */
  receive(connectionId: string, bytes: Uint8Array): Promise<void> {
    const link = this.links.get(connectionId);
    if (link === undefined || link.closed) return Promise.resolve();
    const run = link.chain.then(() => this.process(link, bytes));
    link.chain = run.catch(() => undefined);
    return run;
  }

  private async process(link: ClientLink, bytes: Uint8Array): Promise<void> {
    if (link.closed) return;
    const { packets, error } = link.decoder.push(bytes);
    this.touch(link);
    const metrics = this.deps.metrics;
    metrics.add('bytesReceived', bytes.byteLength);
    metrics.add('messagesReceived', packets.length);
    let publishes = 0;
    for (const packet of packets) if (packet.cmd === 'publish') publishes++;
    metrics.add('publishReceived', publishes);
    try {
      for (const packet of packets) {
        if (link.closed) break;
        if (packet.cmd === 'publish') this.takePublishToken(link);
        await this.dispatch(link, packet);
      }
      if (error !== undefined && !link.closed) this.failConnection(link, error);
      if (!link.closed) this.savePartial(link);
    } catch (thrown) {
      const failure = isMqttError(thrown)
        ? thrown
        : new MqttError('Protocol', ReasonCode.ImplementationSpecificError, `internal error: ${describeError(thrown)}`);
      if (!isMqttError(thrown)) this.log.log('error', 'handler_failed', { client: link.state.clientId, error: describeError(thrown) });
      if (!link.closed) this.failConnection(link, failure);
    } finally {
      this.flushSoon();
    }
  }

  /**
   * After an incoming message: flush now, or, when the host defers flushes,
   * once the messages already waiting have been handled too, so that what
   * they produce for one subscriber leaves as one WebSocket message (the
   * runtime's cost is per message, not per byte).
   */
  private flushSoon(): void {
    const defer = this.deps.deferFlush;
    if (defer === undefined) {
      this.flushAll();
      return;
    }
    if (this.flushPending) return;
    this.flushPending = true;
    defer(() => {
      this.flushPending = false;
      this.flushAll();
    });
  }

  /** The transport closed (client went away, network error). */
  async closed(connectionId: string, cause: CloseCause = 'network-error', closeCode?: number): Promise<void> {
    const link = this.links.get(connectionId);
    if (link === undefined) return;
    // A trusted sidecar says why its device went away.
    if (link.state.bridged && closeCode !== undefined) cause = BridgeCloseCauses.get(closeCode) ?? cause;
    // Let packets already received finish first, so a DISCONNECT followed by a close is clean.
    await link.chain;
    if (!this.links.has(connectionId)) return;
    link.closed = true;
    this.endConnection(link, cause);
    this.flushAll();
  }

  /** Deadlines: connect timeouts, keep-alive, delayed wills, session expiry. */
  alarm(): void {
    const now = this.now();
    this.deps.metrics.flush();
    this.metricsFlushPending = false;
    const system = this.deps.systemTopics;
    if (system !== undefined && this.nextSystemPublish !== undefined && this.nextSystemPublish <= now) {
      // Only for connected subscribers: offline sessions would drop the QoS 0 messages anyway,
      // and an alarm firing for nobody would keep an idle namespace awake.
      if (this.hasConnectedSystemSubscriber()) {
        system.publish(this, now);
        this.nextSystemPublish = now + system.intervalMs;
      } else {
        this.nextSystemPublish = undefined;
      }
    }
    for (const link of [...this.links.values()]) {
      const deadline = this.linkDeadline(link);
      if (deadline === undefined || deadline > now) continue;
      if (link.state.phase === 'awaiting-connect' || link.state.phase === 'authenticating') {
        this.log.log('info', 'connect_timeout', { connection: link.id, addr: link.state.remoteAddress });
        link.close(WsCloseCode.PolicyViolation, 'CONNECT not received in time');
        this.endConnection(link, 'connect-timeout');
      } else if (link.state.phase === 'connected') {
        this.log.log('info', 'keepalive_timeout', { client: link.state.clientId });
        this.disconnectWith(link, ReasonCode.KeepAliveTimeout, 'keep-alive timeout', 'keepalive-timeout');
      }
    }
    if (this.nextStallCheck !== undefined && this.nextStallCheck <= now) this.checkStalls(now);
    for (const clientId of this.store.dueWills(now)) {
      const session = this.store.getSession(clientId);
      this.store.clearWill(clientId);
      if (session?.will !== undefined) this.publishWill(session.will);
    }
    for (const clientId of this.store.expiredSessions(now)) {
      const session = this.store.getSession(clientId);
      if (session?.will !== undefined && session.willAt !== undefined) this.publishWill(session.will);
      this.deleteSession(clientId);
      this.log.log('info', 'session_expired', { client: clientId });
    }
    this.scheduleNextAlarm();
    this.flushAll();
  }

  /** A message from outside MQTT (HTTP API, RPC): routed as the broker's own, with no publisher. */
  async publishFromApi(message: { topic: string; payload: Uint8Array; qos: 0 | 1 | 2; retain: boolean }): Promise<void> {
    try {
      await this.route({ topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain });
    } finally {
      this.flushAll();
    }
  }

  // ---- dispatch --------------------------------------------------------

  private async dispatch(link: ClientLink, packet: MqttPacket): Promise<void> {
    if (link.state.phase === 'awaiting-connect') {
      if (packet.cmd !== 'connect') {
        // [MQTT-3.1.0-1] the first packet must be CONNECT.
        throw new MqttError('Protocol', ReasonCode.ProtocolError, `expected CONNECT, got ${packet.cmd.toUpperCase()}`);
      }
      await handleConnect(this, link, packet);
      return;
    }
    if (link.state.phase === 'authenticating') {
      // [MQTT-4.12.0-?] only AUTH (or DISCONNECT) until the exchange completes.
      if (packet.cmd === 'auth') return handleAuth(this, link, packet);
      if (packet.cmd === 'disconnect') {
        link.close(WsCloseCode.Normal, 'client disconnected');
        this.endConnection(link, 'client-disconnect');
        return;
      }
      throw new MqttError('Protocol', ReasonCode.ProtocolError, `${packet.cmd.toUpperCase()} before authentication completed`);
    }
    switch (packet.cmd) {
      case 'connect':
        // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
        throw new MqttError('Protocol', ReasonCode.ProtocolError, 'second CONNECT on one connection');
      case 'publish':
        return handlePublish(this, link, packet);
      case 'puback':
        return handlePuback(this, link, packet);
      case 'pubrec':
        return handlePubrec(this, link, packet);
      case 'pubrel':
        return handlePubrel(this, link, packet);
      case 'pubcomp':
        return handlePubcomp(this, link, packet);
      case 'subscribe':
        return handleSubscribe(this, link, packet);
      case 'unsubscribe':
        return handleUnsubscribe(this, link, packet);
      case 'pingreq':
        link.write({ cmd: 'pingresp' });
        this.markDirty(link);
        return;
      case 'disconnect':
        return handleDisconnect(this, link, packet);
      case 'auth':
        return handleAuth(this, link, packet);
      default:
        // Server-to-client packets (CONNACK, SUBACK, ...) from a client are a protocol error.
        throw new MqttError('Protocol', ReasonCode.ProtocolError, `unexpected ${packet.cmd.toUpperCase()} from a client`);
    }
  }

  // ---- helpers for the packet handlers -----------------------------------

  markDirty(link: ClientLink): void {
    this.dirty.add(link);
  }

  flushAll(): void {
    for (const link of this.dirty) link.flush();
    this.dirty.clear();
    this.countSent();
  }

  /** Moves what links sent since the last count into the namespace metrics; schedules their flush to storage. */
  private countSent(): void {
    const metrics = this.deps.metrics;
    const sent = this.sent;
    if (sent.packets > 0) {
      metrics.add('messagesSent', sent.packets);
      metrics.add('bytesSent', sent.bytes);
      sent.packets = 0;
      sent.bytes = 0;
    }
    if (metrics.isDirty && !this.metricsFlushPending) {
      this.metricsFlushPending = true;
      this.deps.requestAlarm(this.now() + MetricsFlushIntervalMs);
    }
  }

  linkOf(clientId: string): ClientLink | undefined {
    return this.linksByClient.get(clientId);
  }

  /** Makes `link` the live connection of its client (after CONNACK). */
  bindClient(link: ClientLink, clientId: string): void {
    this.linksByClient.set(clientId, link);
    if (this.systemSubscribers.has(clientId)) this.startSystemTopics();
    this.runtimes.delete(clientId);
    this.deps.metrics.add('connectionsTotal');
    this.deps.metrics.raiseMaximum(this.linksByClient.size);
  }

  /**
   * Per-client publish rate limit: a token bucket refilled at
   * maxPublishRate per second, holding up to twice that. Kept in memory: a
   * wake from hibernation starts a full bucket, which only ever errs towards the client.
   */
  private takePublishToken(link: ClientLink): void {
    const rate = this.limits.maxPublishRate;
    if (rate <= 0) return;
    const now = this.now();
    const capacity = Math.max(10, rate * 2);
    const bucket = (link.rateBucket ??= { tokens: capacity, updatedAt: now });
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rate);
    bucket.updatedAt = now;
    if (bucket.tokens < 1) throw new MqttError('Limit', ReasonCode.MessageRateTooHigh, `publish rate above ${rate} messages/s`);
    bucket.tokens -= 1;
  }

  /** Updates lastSeen; persisted at most once a second to keep attachment writes rare. */
  private touch(link: ClientLink): void {
    const now = this.now();
    if (now - link.state.lastSeen >= 1000) {
      link.state.lastSeen = now;
      link.persist();
    } else {
      link.state.lastSeen = now;
    }
  }

  private savePartial(link: ClientLink): void {
    const partial = link.decoder.pendingBytes();
    const state = link.state;
    if (partial.byteLength === 0) {
      if (state.partialInline === undefined && state.partialStored !== true) return;
      if (state.partialStored === true) this.store.deletePartialPacket(link.id);
      delete state.partialInline;
      delete state.partialStored;
    } else if (partial.byteLength <= InlinePartialLimit) {
      if (state.partialStored === true) this.store.deletePartialPacket(link.id);
      delete state.partialStored;
      state.partialInline = toBase64(partial);
    } else {
      delete state.partialInline;
      state.partialStored = true;
      this.store.savePartialPacket(link.id, partial);
    }
    link.persist();
  }

  /**
   * Closes a connection because of an error: CONNACK (before CONNECT was
   * accepted) or DISCONNECT (5.0) with the reason code, then the socket.
   */
  failConnection(link: ClientLink, error: MqttError): void {
    this.log.log('warn', 'protocol_error', {
      kind: error.kind,
      client: link.state.clientId,
      connection: link.id,
      reason: error.reasonCode,
      error: error.message,
    });
    if (link.state.phase === 'awaiting-connect' || link.state.phase === 'authenticating') {
      const level = link.decoder.protocolLevel;
      // The CONNACK must be in the client's own form (a 5.0 CONNACK has properties).
      if (level !== undefined) link.state.level = level;
      if (error.reasonCode === ReasonCode.UnsupportedProtocolVersion && level !== 5) {
        // [MQTT-3.1.2-2] answer an unsupported level with CONNACK 0x01, then close.
        link.write({ cmd: 'connack', sessionPresent: false, returnCode: ConnackReturnCode.UnacceptableProtocolVersion });
      } else if (level === 5 || (error.reasonCode === ReasonCode.UnsupportedProtocolVersion && level === undefined)) {
        link.write({ cmd: 'connack', sessionPresent: false, reasonCode: error.reasonCode, ...this.reasonString(link, error.message) });
      }
      link.close(WsCloseCode.ProtocolError, truncateReason(error.message));
      this.endConnection(link, 'protocol-error');
      return;
    }
    this.disconnectWith(link, error.reasonCode, error.message, 'protocol-error');
  }

  /** Server-initiated close of a connected client (5.0: DISCONNECT with a reason first). */
  disconnectWith(link: ClientLink, reasonCode: number, message: string, cause: CloseCause): void {
    if (link.isV5 && link.state.phase === 'connected') {
      const reason = DisconnectReasonForConnackReason.get(reasonCode) ?? reasonCode;
      link.write({ cmd: 'disconnect', reasonCode: reason, ...this.reasonString(link, message) });
    }
    const wsCode = cause === 'protocol-error' ? WsCloseCode.ProtocolError : WsCloseCode.Normal;
    link.close(wsCode, truncateReason(message));
    this.endConnection(link, cause);
  }

  /** 5.0 Reason String property, only if the client did not opt out [MQTT-3.1.2-29]. */
  reasonString(link: ClientLink, text: string): { properties?: { reasonString: string } } {
    if (!link.isV5 || !link.state.requestProblemInformation) return {};
    return { properties: { reasonString: text.slice(0, 200) } };
  }

  /** Finishes a connection: will, session expiry, bookkeeping. Idempotent. */
  endConnection(link: ClientLink, cause: CloseCause): void {
    if (!this.links.delete(link.id)) return;
    link.closed = true;
    if (link.state.partialStored === true || link.state.hasTopicAliases === true || link.state.hasGrants === true) this.store.forgetConnection(link.id);
    const clientId = link.state.clientId;
    if (link.state.phase !== 'awaiting-connect' && clientId !== undefined && this.linksByClient.get(clientId) === link) {
      this.linksByClient.delete(clientId);
      if (cause !== 'takeover') this.redistributeShared(clientId);
      this.runtimes.delete(clientId);
      this.endSession(clientId, link.id, cause);
      const onDisconnect = this.deps.hooks.onDisconnect;
      if (onDisconnect !== undefined) {
        const info = { ...this.clientInfo(link), cause };
        // Nothing waits on it: the connection is gone either way.
        void this.runHook('onDisconnect', clientId, () => onDisconnect(info));
      }
    }
    // Removing a link only moves deadlines later; endSession asked for any new one itself.
  }

  /**
   * The connection `connectionId` of `clientId` is gone: fire or delay the
   * will (a clean DISCONNECT has already removed it), expire or keep the session.
   */
  private endSession(clientId: string, connectionId: string, cause: CloseCause): void {
    const session = this.store.getSession(clientId);
    if (session === undefined || session.connectionId !== connectionId) return;
    const now = this.now();
    let willAt: number | undefined;
    if (session.will !== undefined) {
      const delay = Math.min(session.will.delaySeconds, session.expiryInterval);
      if (delay > 0) willAt = now + delay * 1000;
      else this.publishWill(session.will);
    }
    if (session.expiryInterval === 0) {
      if (willAt !== undefined) this.publishWill(session.will!);
      this.deleteSession(clientId);
    } else {
      if (willAt === undefined && session.will !== undefined) this.store.clearWill(clientId);
      this.store.markDisconnected(clientId, now, willAt);
      if (willAt !== undefined) this.deps.requestAlarm(willAt);
      if (session.expiryInterval !== SessionNeverExpires) this.deps.requestAlarm(now + session.expiryInterval * 1000);
    }
    this.log.log('info', 'client_disconnected', { client: clientId, cause });
  }

  /** Deletes a session and its subscriptions from storage and the topic tree. */
  deleteSession(clientId: string): void {
    if (!this.linksByClient.has(clientId)) this.redistributeShared(clientId);
    for (const entry of this.store.subscriptionsOf(clientId)) this.removeFromTree(entry);
    this.store.deleteSession(clientId);
    this.runtimes.delete(clientId);
  }

  publishWill(will: BrokerMessage): void {
    const routed = this.route({ ...will });
    if (routed !== undefined) routed.catch((error: unknown) => this.log.log('error', 'will_failed', { topic: will.topic, error: describeError(error) }));
  }

  // ---- hooks -------------------------------------------------------------

  /** What hooks are told about the client of `link`. */
  clientInfo(link: ClientLink): ClientInfo {
    const state = link.state;
    const info: ClientInfo = { namespace: this.deps.namespace, clientId: state.clientId ?? '', protocolLevel: link.level };
    if (state.username !== undefined) info.username = state.username;
    if (state.remoteAddress !== undefined) info.remoteAddress = state.remoteAddress;
    return info;
  }

  /**
   * Calls a user hook within its time limit. A hook that throws or runs out
   * of time is logged and reported as failed; the caller refuses that one action.
   */
  async runHook<T>(name: HookName, clientId: string | undefined, call: () => T | Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    try {
      return { ok: true, value: await callWithTimeout(name, this.deps.hookTimeoutMs, call) };
    } catch (error) {
      const failure = new MqttError('Hook', ReasonCode.UnspecifiedError, `hook ${name} failed: ${describeError(error)}`, { cause: error });
      this.log.log('error', 'hook_failed', { kind: failure.kind, hook: name, client: clientId, error: failure.message });
      return { ok: false };
    }
  }

  // ---- subscriptions ------------------------------------------------------

  /** Adds a subscription to the topic tree (storage is the caller's). */
  addToTree(entry: SubscriptionEntry): void {
    const filter = matchFilterOf(entry);
    const before = this.tree.size;
    this.tree.add(filter, entry);
    if (this.tree.size > before && filter.startsWith('$SYS')) {
      this.systemSubscribers.set(entry.clientId, (this.systemSubscribers.get(entry.clientId) ?? 0) + 1);
      if (this.linksByClient.has(entry.clientId)) this.startSystemTopics();
    }
  }

  removeFromTree(entry: SubscriptionEntry): void {
    const filter = matchFilterOf(entry);
    if (!this.tree.remove(filter, entry.clientId, entry.filter) || !filter.startsWith('$SYS')) return;
    const remaining = (this.systemSubscribers.get(entry.clientId) ?? 1) - 1;
    if (remaining > 0) this.systemSubscribers.set(entry.clientId, remaining);
    else this.systemSubscribers.delete(entry.clientId);
  }

  /** A connected client subscribes to $SYS: publish now, then on the interval (unless already running). */
  private startSystemTopics(): void {
    if (this.deps.systemTopics === undefined || this.nextSystemPublish !== undefined) return;
    this.nextSystemPublish = this.now();
    this.deps.requestAlarm(this.nextSystemPublish);
  }

  private hasConnectedSystemSubscriber(): boolean {
    for (const clientId of this.systemSubscribers.keys()) if (this.linksByClient.has(clientId)) return true;
    return false;
  }

  // ---- admin and statistics -------------------------------------------------

  stats(): { connected: number; sessions: number; subscriptions: number; retained: number; stalled: number; createdAt: number; counters: BrokerMetrics['counters'] } {
    return {
      connected: this.linksByClient.size,
      stalled: this.stalledClients(),
      sessions: this.store.countSessions(),
      subscriptions: this.tree.size,
      retained: this.countRetained() + this.systemRetained.size,
      createdAt: this.deps.metrics.createdAt,
      counters: { ...this.deps.metrics.counters },
    };
  }

  listClients(limit = 1000): ClientSummary[] {
    return this.store.listSessions(limit).map((session) => {
      const link = this.linksByClient.get(session.clientId);
      const summary: ClientSummary = {
        clientId: session.clientId,
        connected: link !== undefined,
        protocolLevel: session.protocolLevel,
        sessionExpiryInterval: session.expiryInterval,
        subscriptions: this.store.subscriptionsOf(session.clientId).map((entry) => ({ filter: entry.filter, qos: entry.qos })),
        queued: this.store.countQueued(session.clientId) + this.store.countResendWaiting(session.clientId),
        inflight: 0,
        inflightStored: this.store.inflight(session.clientId).length - this.store.countResendWaiting(session.clientId),
        inflightMemoryOnly: 0,
        awaitingRel: this.store.countInboundQoS2(session.clientId),
      };
      summary.inflight = summary.inflightStored;
      if (link !== undefined) {
        const state = link.state;
        const runtime = this.runtime(session.clientId);
        summary.inflight = runtime.inflight.size;
        summary.inflightMemoryOnly = runtime.volatile.size;
        summary.receiveMaximum = state.clientReceiveMaximum;
        const stalledSince = this.stallSuspects.get(session.clientId)?.stalledSince;
        if (stalledSince !== undefined) summary.stalledSince = stalledSince;
        summary.keepAlive = state.keepAlive;
        summary.bridged = state.bridged;
        summary.connectedAt = state.acceptedAt;
        if (state.username !== undefined) summary.username = state.username;
        if (state.remoteAddress !== undefined) summary.remoteAddress = state.remoteAddress;
      }
      return summary;
    });
  }

  /** Admin: disconnects a client (5.0: DISCONNECT 0x98); false if it is not connected. */
  disconnectClient(clientId: string): boolean {
    const link = this.linksByClient.get(clientId);
    if (link === undefined) return false;
    this.disconnectWith(link, ReasonCode.AdministrativeAction, 'disconnected by an administrator', 'admin');
    this.flushAll();
    return true;
  }

  listRetained(limit = 1000): Array<{ topic: string; qos: number; payloadBytes: number; payloadPreview: string }> {
    const system = [...this.systemRetained.values()].sort((a, b) => (a.topic < b.topic ? -1 : 1));
    return [...this.store.listRetained(limit), ...system].slice(0, limit).map((message) => ({
      topic: message.topic,
      qos: message.qos,
      payloadBytes: message.payload.byteLength,
      payloadPreview: new TextDecoder().decode(message.payload.subarray(0, 200)),
    }));
  }

  deleteRetained(topic: string): boolean {
    if (this.systemRetained.delete(topic)) return true;
    const existed = this.store.hasRetained(topic);
    if (existed) {
      this.store.deleteRetained(topic);
      if (this.retainedCount !== undefined) this.retainedCount--;
    }
    return existed;
  }

  private countRetained(): number {
    this.retainedCount ??= this.store.countRetained();
    return this.retainedCount;
  }

  /** Publishes a broker-made message (the $SYS tree): retained, no publisher. */
  publishSystem(topic: string, payload: string): void {
    const routed = this.route({ topic, payload: new TextEncoder().encode(payload), qos: 0, retain: true });
    if (routed !== undefined) routed.catch((error: unknown) => this.log.log('error', 'sys_publish_failed', { topic, error: describeError(error) }));
  }

  // ---- grants ------------------------------------------------------------

  setGrants(link: ClientLink, grants: ClientGrants): void {
    link.grants = grants;
    link.state.hasGrants = true;
    this.store.saveGrants(link.id, grants);
  }

  private grantsOf(link: ClientLink): ClientGrants | undefined {
    if (link.state.hasGrants !== true) return undefined;
    link.grants ??= this.store.loadGrants(link.id) ?? {};
    return link.grants;
  }

  /** A grant list limits publishing to topics matching one of its filters. */
  mayPublish(link: ClientLink, topic: string): boolean {
    const allowed = this.grantsOf(link)?.publish;
    return allowed === undefined || allowed.some((filter) => topicMatchesFilter(filter, topic));
  }

  /** A grant list limits subscribing to filters that one of its filters covers entirely. */
  maySubscribe(link: ClientLink, filter: string): boolean {
    const allowed = this.grantsOf(link)?.subscribe;
    return allowed === undefined || allowed.some((grant) => filterCovers(grant, filter));
  }

  // ---- routing and delivery ------------------------------------------------

  /**
   * Routes a message to every matching subscription: one delivery per
   * client at the highest granted QoS of its matching subscriptions, one
   * member per share group; stores it if retained.
   */
  route(message: BrokerMessage): void | Promise<void> {
    if (message.retain) this.storeRetained(message);
    const targets = new Map<string, Delivery>();
    const groups = new Map<string, SubscriptionEntry[]>();
    this.tree.match(message.topic, (entry) => {
      if (entry.shareGroup !== undefined) {
        const key = `${entry.shareGroup}\u0000${matchFilterOf(entry)}`;
        const members = groups.get(key);
        if (members === undefined) groups.set(key, [entry]);
        else members.push(entry);
        return;
      }
      // [MQTT-3.8.3-3] No Local: not back to the publisher.
      if (entry.noLocal && entry.clientId === message.senderClientId) return;
      mergeDelivery(targets, entry);
    });
    const entries: Array<[string, Delivery]> = [...targets];
    // [MQTT-4.8.2] each share group gets its own copy, apart from the client's own subscriptions:
    // a client in a group that also subscribes by itself may get the message twice.
    for (const [key, members] of groups) {
      const member = this.pickShareMember(key, members);
      entries.push([member.clientId, deliveryOf(member)]);
    }
    const onDeliver = this.deps.hooks.onDeliver;
    if (onDeliver === undefined) {
      const cache: EncodeCache = new Map();
      for (const [clientId, delivery] of entries) this.deliver(clientId, message, delivery, false, cache);
      return;
    }
    return this.deliverWithHook(message, entries, onDeliver);
  }

  /** The per-subscriber hook: asked for every target at once, then delivered in order. */
  private async deliverWithHook(message: BrokerMessage, entries: Array<[string, Delivery]>, onDeliver: NonNullable<BrokerHooks['onDeliver']>): Promise<void> {
    const verdicts = await Promise.all(
      entries.map(([clientId, delivery]) => {
        const context = {
          namespace: this.deps.namespace,
          clientId,
          topic: message.topic,
          payload: message.payload,
          qos: Math.min(message.qos, delivery.qos) as 0 | 1 | 2,
          retain: message.retain,
          ...(message.senderClientId === undefined ? {} : { publisherClientId: message.senderClientId }),
        };
        return this.runHook('onDeliver', clientId, () => onDeliver(context));
      }),
    );
    const cache: EncodeCache = new Map();
    entries.forEach(([clientId, delivery], index) => {
      const verdict = verdicts[index];
      if (verdict?.ok === true && verdict.value) this.deliver(clientId, message, delivery, false, cache);
    });
    this.flushAll();
  }

  /** One member of a share group: round robin over connected members, else any (queued for later). */
  private pickShareMember(key: string, members: SubscriptionEntry[]): SubscriptionEntry {
    const online = members.filter((m) => this.linksByClient.has(m.clientId));
    const pool = online.length > 0 ? online : members;
    const cursor = ((this.shareCursor.get(key) ?? -1) + 1) % pool.length;
    this.shareCursor.set(key, cursor);
    return pool[cursor] as SubscriptionEntry;
  }

  private storeRetained(message: BrokerMessage): void {
    if (message.topic.startsWith('$SYS/')) {
      if (message.payload.byteLength === 0) this.systemRetained.delete(message.topic);
      else this.systemRetained.set(message.topic, { ...message, retain: true });
      return;
    }
    const exists = this.store.hasRetained(message.topic);
    if (message.payload.byteLength === 0) {
      // [MQTT-3.3.1-10] an empty retained message deletes the retained one.
      if (exists) this.deleteRetained(message.topic);
      return;
    }
    if (!exists && this.countRetained() >= this.limits.maxRetainedMessages) {
      this.log.log('warn', 'retained_limit', { topic: message.topic });
      return;
    }
    this.store.putRetained({ ...message, retain: true });
    if (!exists && this.retainedCount !== undefined) this.retainedCount++;
  }

  /** Retained messages matching a new subscription, sent with the retain flag set [MQTT-3.3.1-8]. */
  sendRetained(clientId: string, entry: SubscriptionEntry): void {
    const filter = matchFilterOf(entry);
    const wildcardAt = filter.search(/[+#]/);
    const now = this.now();
    // Only the topics under the filter's literal prefix are read, not the whole table.
    const candidates = wildcardAt < 0 ? this.store.retained(filter) : this.store.retainedWithPrefix(filter.slice(0, wildcardAt));
    // 'a/#' also matches 'a' itself, which sorts outside the prefix 'a/' [MQTT-4.7.1-2].
    if (wildcardAt > 0 && filter[wildcardAt] === '#') candidates.push(...this.store.retained(filter.slice(0, wildcardAt - 1)));
    // $SYS topics can only match filters that start with $SYS [MQTT-4.7.2-1].
    if (filter.startsWith('$SYS')) candidates.push(...this.systemRetained.values());
    for (const message of candidates) {
      if (wildcardAt >= 0 ? !topicMatchesFilter(filter, message.topic) : message.topic !== filter) continue;
      if (message.expiresAt !== undefined && message.expiresAt <= now) {
        this.deleteRetained(message.topic);
        continue;
      }
      const delivery: Delivery = { qos: entry.qos, retainAsPublished: true, subscriptionIds: entry.subscriptionId === undefined ? [] : [entry.subscriptionId] };
      this.deliver(clientId, message, delivery, true);
    }
  }

  /** Delivers one message to one client: now if online, queued if its session persists. */
  private deliver(clientId: string, message: BrokerMessage, delivery: Delivery, isRetainedReplay: boolean, cache?: EncodeCache): void {
    const now = this.now();
    if (message.expiresAt !== undefined && message.expiresAt <= now) return;
    const qos = Math.min(message.qos, delivery.qos) as 0 | 1 | 2;
    // [MQTT-3.3.1-9] live messages go out with retain cleared unless Retain As Published (5.0).
    const retain = isRetainedReplay || (message.retain && delivery.retainAsPublished);
    const outgoing: BrokerMessage = { ...message, qos, retain };
    const link = this.linksByClient.get(clientId);
    if (qos === 0) {
      if (link !== undefined && !link.closed) this.sendPublish(link, outgoing, delivery.subscriptionIds, undefined, false, cache);
      return;
    }
    if (link !== undefined && !link.closed) {
      const runtime = this.runtime(clientId);
      if (runtime.queued === 0 && runtime.resendWaiting.size === 0 && runtime.inflight.size < link.state.clientReceiveMaximum) {
        const packetId = this.allocatePacketId(runtime);
        if (!this.sendPublish(link, outgoing, delivery.subscriptionIds, packetId, false, cache)) {
          runtime.inflight.delete(packetId);
          return;
        }
        // Share group messages stay in storage: they may move to another member.
        if (qos === 1 && link.state.sessionExpiry === 0 && delivery.shareFilter === undefined) this.addVolatile(clientId, runtime, packetId);
        else this.store.enqueue(clientId, outgoing, delivery.subscriptionIds, packetId, delivery.shareFilter);
        return;
      }
      // Behind queued messages (order) or a full window: queue, then send what fits.
      this.enqueueLimited(clientId, outgoing, delivery.subscriptionIds, delivery.shareFilter);
      this.pump(link);
      return;
    }
    if (this.store.getSession(clientId) === undefined) return;
    this.enqueueLimited(clientId, outgoing, delivery.subscriptionIds, delivery.shareFilter);
  }

  /** Queues for later, dropping the oldest queued message when the session's queue is full. */
  private enqueueLimited(clientId: string, message: BrokerMessage, subscriptionIds: number[], shareFilter: string | undefined): void {
    const size = message.payload.byteLength + message.topic.length;
    if (size > this.limits.maxQueuedBytes) {
      this.deps.metrics.add('publishDropped');
      this.log.log('warn', 'queue_message_too_large', { client: clientId, size });
      return;
    }
    // Policy: QoS 0 is never queued; a full queue (messages or bytes) drops its oldest message.
    let { count, bytes } = this.store.queueUsage(clientId);
    while (count > 0 && (count >= this.limits.maxQueued || bytes + size > this.limits.maxQueuedBytes)) {
      const dropped = this.store.dropOldestQueued(clientId);
      count--;
      bytes -= dropped;
      this.deps.metrics.add('publishDropped');
      this.log.log('warn', 'queue_full_dropped_oldest', { client: clientId });
    }
    this.store.enqueue(clientId, message, subscriptionIds, undefined, shareFilter);
    const runtime = this.runtimes.get(clientId);
    if (runtime !== undefined) runtime.queued = count + 1;
    const link = this.linksByClient.get(clientId);
    if (runtime !== undefined && link !== undefined && runtime.inflight.size < link.state.clientReceiveMaximum) this.suspectStall(clientId);
  }

  /** Asks the watchdog to look at a client soon (see stallSuspects). */
  private suspectStall(clientId: string): void {
    if (!this.stallSuspects.has(clientId)) this.stallSuspects.set(clientId, {});
    if (this.nextStallCheck !== undefined) return;
    this.nextStallCheck = this.now() + StallCheckMs;
    this.deps.requestAlarm(this.nextStallCheck);
  }

  /**
   * The watchdog: a suspect with queued messages and room in its window
   * for StallAfterMs is a stall. Reported once (warning, counter, admin
   * view), then the queue is pumped, so a bug costs seconds, not a
   * silent subscriber.
   */
  private checkStalls(now: number): void {
    this.nextStallCheck = undefined;
    for (const [clientId, suspect] of this.stallSuspects) {
      const link = this.linksByClient.get(clientId);
      const runtime = this.runtimes.get(clientId);
      const queued = link === undefined || runtime === undefined ? 0 : this.store.countQueued(clientId) + runtime.resendWaiting.size;
      if (link === undefined || runtime === undefined || queued === 0) {
        this.stallSuspects.delete(clientId);
        continue;
      }
      const window = link.state.clientReceiveMaximum;
      if (runtime.inflight.size >= window) {
        // Waiting for acknowledgements is no stall; the next one brings the client back here.
        this.stallSuspects.delete(clientId);
        continue;
      }
      suspect.stalledSince ??= now;
      if (now - suspect.stalledSince < StallAfterMs || suspect.reported === true) continue;
      suspect.reported = true;
      this.deps.metrics.add('stallsDetected');
      this.log.log('warn', 'stall_detected', { client: clientId, queued, inflight: runtime.inflight.size, receive_maximum: window, stalled_ms: now - suspect.stalledSince });
      runtime.queued = Math.max(runtime.queued, queued);
      this.pump(link);
      this.markDirty(link);
    }
    if (this.stallSuspects.size > 0) this.nextStallCheck = now + StallCheckMs;
  }

  /** Connected clients the watchdog has seen stalled (for the admin view and metrics). */
  stalledClients(): number {
    let count = 0;
    for (const suspect of this.stallSuspects.values()) if (suspect.stalledSince !== undefined) count++;
    return count;
  }

  /**
   * A share group member left: its queued messages of the group, and QoS 1
   * ones it has not acknowledged, go to a connected member instead
   * [MQTT-4.8.2-?]. QoS 2 messages in flight stay with the session, which
   * must complete them.
   */
  private redistributeShared(clientId: string): void {
    for (const record of this.store.shareMovable(clientId)) {
      const shareFilter = record.shareFilter as string;
      const members = this.store
        .subscribersOf(shareFilter)
        .filter((entry) => entry.clientId !== clientId && this.linksByClient.has(entry.clientId));
      if (members.length === 0) continue;
      const member = this.pickShareMember(`move\u0000${shareFilter}`, members);
      this.store.deleteOutbound(record.id);
      if (record.packetId !== undefined) this.runtimes.get(clientId)?.inflight.delete(record.packetId);
      const delivery: Delivery = {
        qos: member.qos,
        retainAsPublished: member.retainAsPublished,
        subscriptionIds: member.subscriptionId === undefined ? [] : [member.subscriptionId],
        shareFilter,
      };
      this.deliver(member.clientId, record.message, delivery, false);
    }
  }

  /**
   * Encodes and queues one PUBLISH on a link. Returns false when the packet
   * is larger than the client's Maximum Packet Size: then it is dropped for
   * that client only [MQTT-3.1.2-25].
   */
  sendPublish(link: ClientLink, message: BrokerMessage, subscriptionIds: number[], packetId: number | undefined, dup: boolean, cache?: EncodeCache): boolean {
    // Subscribers that get the same bytes (same level, QoS, retain, and no
    // per-subscriber properties) share one encoding; QoS 1/2 patch their packet id in.
    const shareable = cache !== undefined && !dup && (!link.isV5 || (subscriptionIds.length === 0 && message.expiresAt === undefined && (link.state.clientTopicAliasMaximum ?? 0) === 0));
    const cacheKey = shareable ? `${link.level}:${message.qos}:${message.retain ? 1 : 0}` : undefined;
    const cached = cacheKey === undefined ? undefined : cache?.get(cacheKey);
    let bytes: Uint8Array;
    let alias: number | undefined;
    if (cached !== undefined) {
      bytes = packetId === undefined ? cached : withPacketId(cached, packetId);
    } else {
      const packet: PublishPacket = {
        cmd: 'publish',
        topic: message.topic,
        payload: Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength),
        qos: message.qos,
        retain: message.retain,
        dup,
      };
      if (packetId !== undefined) packet.messageId = packetId;
      if (link.isV5) {
        const { correlationData, ...passOn } = message.properties ?? {};
        const properties: NonNullable<PublishPacket['properties']> = passOn;
        if (correlationData !== undefined) properties.correlationData = Buffer.from(correlationData);
        if (message.expiresAt !== undefined) {
          // [MQTT-3.3.2-6] forward the remaining lifetime, not the original one.
          properties.messageExpiryInterval = Math.max(1, Math.ceil((message.expiresAt - this.now()) / 1000));
        }
        if (subscriptionIds.length === 1) properties.subscriptionIdentifier = subscriptionIds[0] as number;
        else if (subscriptionIds.length > 1) properties.subscriptionIdentifier = subscriptionIds;
        const aliasChoice = link.outboundAliasFor(message.topic);
        if (aliasChoice !== undefined) {
          alias = aliasChoice.alias;
          properties.topicAlias = aliasChoice.alias;
          // Once the client knows the alias, the topic can be left out [MQTT-3.3.2-12].
          if (aliasChoice.known) packet.topic = '';
        }
        if (Object.keys(properties).length > 0) packet.properties = properties;
      }
      bytes = link.encode(packet);
      if (cacheKey !== undefined) cache?.set(cacheKey, bytes);
    }
    if (link.state.clientMaxPacketSize > 0 && bytes.byteLength > link.state.clientMaxPacketSize) {
      this.log.log('info', 'dropped_too_large_for_client', { client: link.state.clientId, size: bytes.byteLength });
      this.deps.metrics.add('publishDropped');
      return false;
    }
    // Only a PUBLISH that really goes out teaches the client an alias.
    if (alias !== undefined) link.confirmOutboundAlias(message.topic, alias);
    this.deps.metrics.add('publishSent');
    link.writeBytes(bytes);
    this.markDirty(link);
    return true;
  }

  runtime(clientId: string): SessionRuntime {
    let runtime = this.runtimes.get(clientId);
    if (runtime === undefined) {
      const inflight = new Set<number>();
      const resendWaiting = new Set<number>();
      let highest = 0;
      for (const record of this.store.inflight(clientId)) {
        if (record.packetId === undefined) continue;
        (record.state === OutboundState.ResendWaiting ? resendWaiting : inflight).add(record.packetId);
        highest = Math.max(highest, record.packetId);
      }
      runtime = { inflight, resendWaiting, volatile: new Set(), nextPacketId: (highest % 0xffff) + 1, queued: this.store.countQueued(clientId) };
      this.runtimes.set(clientId, runtime);
    }
    return runtime;
  }

  private allocatePacketId(runtime: SessionRuntime): number {
    // Packet ids are 1..65535 and must not collide with one still in flight [MQTT-2.2.1-3].
    for (;;) {
      const id = runtime.nextPacketId;
      runtime.nextPacketId = id >= 0xffff ? 1 : id + 1;
      if (!runtime.inflight.has(id) && !runtime.resendWaiting.has(id)) {
        runtime.inflight.add(id);
        return id;
      }
    }
  }

  /** An outbound QoS 1/2 message was acknowledged: free its id and send what is queued. */
  releasePacketId(clientId: string, packetId: number): void {
    const runtime = this.runtime(clientId);
    runtime.inflight.delete(packetId);
    runtime.resendWaiting.delete(packetId);
    if (runtime.queued > 0 || runtime.resendWaiting.size > 0) this.suspectStall(clientId);
  }

  /** A PUBLISH waiting to be resent was answered with PUBREC after all: its PUBREL is in flight now. */
  pubrelInFlight(clientId: string, packetId: number): void {
    const runtime = this.runtime(clientId);
    if (runtime.resendWaiting.delete(packetId)) runtime.inflight.add(packetId);
  }

  private addVolatile(clientId: string, runtime: SessionRuntime, packetId: number): void {
    runtime.volatile.add(packetId);
    this.volatileClients.add(clientId);
    const setTimer = this.deps.setTimer;
    if (this.spillPending || setTimer === undefined) return;
    this.spillPending = true;
    setTimer(VolatileSpillMs, () => {
      this.spillPending = false;
      this.spillVolatile();
    });
  }

  /** Writes down the ids still in flight in memory only, so the object may hibernate without losing its windows. */
  spillVolatile(): void {
    for (const clientId of this.volatileClients) {
      const runtime = this.runtimes.get(clientId);
      if (runtime === undefined || runtime.volatile.size === 0 || !this.linksByClient.has(clientId)) continue;
      this.store.recordInflightIds(clientId, [...runtime.volatile]);
      runtime.volatile.clear();
    }
    this.volatileClients.clear();
  }

  /** PUBACK of a QoS 1 message kept in memory only; false if it was not one. */
  completeVolatile(clientId: string, packetId: number): boolean {
    const runtime = this.runtimes.get(clientId);
    if (runtime === undefined || !runtime.volatile.delete(packetId)) return false;
    runtime.inflight.delete(packetId);
    if (runtime.queued > 0) this.suspectStall(clientId);
    return true;
  }

  /**
   * Sends while the client's in-flight window has room: first messages
   * waiting to be resent, then queued ones, each in the order they came.
   */
  pump(link: ClientLink): void {
    const clientId = link.state.clientId;
    if (clientId === undefined || link.closed) return;
    const runtime = this.runtime(clientId);
    let room = link.state.clientReceiveMaximum - runtime.inflight.size;
    if (runtime.resendWaiting.size > 0 && room > 0) {
      for (const record of this.store.resendWaiting(clientId, room)) {
        const packetId = record.packetId as number;
        runtime.resendWaiting.delete(packetId);
        if (!this.sendPublish(link, record.message, record.subscriptionIds, packetId, true)) {
          this.store.deleteOutbound(record.id);
          continue;
        }
        runtime.inflight.add(packetId);
        this.store.setState(record.id, OutboundState.PublishSent);
        room--;
      }
      if (runtime.resendWaiting.size > 0) return;
    }
    const now = this.now();
    if (runtime.queued === 0) return;
    while (room > 0) {
      const batch = this.store.queued(clientId, Math.min(room, 100));
      if (batch.length === 0) {
        runtime.queued = 0;
        return;
      }
      for (const record of batch) {
        runtime.queued = Math.max(0, runtime.queued - 1);
        if (record.message.expiresAt !== undefined && record.message.expiresAt <= now) {
          this.store.deleteOutbound(record.id);
          continue;
        }
        const packetId = this.allocatePacketId(runtime);
        if (!this.sendPublish(link, record.message, record.subscriptionIds, packetId, false)) {
          runtime.inflight.delete(packetId);
          this.store.deleteOutbound(record.id);
          continue;
        }
        this.store.markSent(record.id, packetId);
        room--;
      }
    }
    // The window is full; an exact count is re-read when it opens.
    runtime.queued = Math.max(runtime.queued, 1);
  }

  /**
   * On reconnect with a session present: resend unacknowledged PUBREL and
   * PUBLISH (DUP, original ids) in their order [MQTT-4.4.0-1, MQTT-4.6.0-1],
   * but never more PUBLISH than the new connection's Receive Maximum
   * [MQTT-3.3.4-9]: the rest wait for room, ahead of anything queued.
   */
  resendInflight(link: ClientLink, records: OutboundRecord[]): void {
    const clientId = link.state.clientId as string;
    const runtime = this.runtime(clientId);
    let inFlight = 0;
    for (const record of records) {
      if (record.packetId === undefined || record.state !== OutboundState.PubrelSent) continue;
      link.write({ cmd: 'pubrel', messageId: record.packetId });
      inFlight++;
    }
    for (const record of records) {
      const packetId = record.packetId;
      if (packetId === undefined || record.state === OutboundState.PubrelSent) continue;
      if (inFlight >= link.state.clientReceiveMaximum) {
        runtime.inflight.delete(packetId);
        runtime.resendWaiting.add(packetId);
        if (record.state !== OutboundState.ResendWaiting) this.store.setState(record.id, OutboundState.ResendWaiting);
        continue;
      }
      if (!this.sendPublish(link, record.message, record.subscriptionIds, packetId, true)) {
        runtime.inflight.delete(packetId);
        runtime.resendWaiting.delete(packetId);
        this.store.deleteOutbound(record.id);
        continue;
      }
      runtime.resendWaiting.delete(packetId);
      runtime.inflight.add(packetId);
      if (record.state !== OutboundState.PublishSent) this.store.setState(record.id, OutboundState.PublishSent);
      inFlight++;
    }
    this.markDirty(link);
  }

  // ---- alarms -----------------------------------------------------------

  private linkDeadline(link: ClientLink): number | undefined {
    const state = link.state;
    // The connect timeout covers an enhanced authentication exchange too.
    if (state.phase === 'awaiting-connect' || state.phase === 'authenticating') return state.acceptedAt + this.limits.connectTimeoutMs;
    if (state.phase === 'connected' && !state.bridged && state.keepAlive > 0) return state.lastSeen + state.keepAlive * 1000 * KeepAliveGrace;
    return undefined;
  }

  /**
   * The next alarm: the earliest deadline of any kind. This scans every
   * link, so it runs only when the alarm fires or the object wakes; in
   * between, whoever creates a deadline asks for it directly. Alarms are at
   * least AlarmSpacingMs apart, so thousands of keep-alive deadlines cost
   * one scan a second, not one each.
   */
  scheduleNextAlarm(): void {
    let next = this.store.nextSessionDeadline();
    if (this.nextSystemPublish !== undefined && (next === undefined || this.nextSystemPublish < next)) next = this.nextSystemPublish;
    if (this.nextStallCheck !== undefined && (next === undefined || this.nextStallCheck < next)) next = this.nextStallCheck;
    for (const link of this.links.values()) {
      const deadline = this.linkDeadline(link);
      if (deadline !== undefined && (next === undefined || deadline < next)) next = deadline;
    }
    if (next !== undefined) this.deps.requestAlarm(Math.max(next, this.now() + AlarmSpacingMs));
  }

  /** Asks for an alarm at this link's next deadline (connect timeout or keep-alive). */
  requestLinkAlarm(link: ClientLink): void {
    const deadline = this.linkDeadline(link);
    if (deadline !== undefined) this.deps.requestAlarm(deadline);
  }
}

interface Delivery {
  qos: 0 | 1 | 2;
  retainAsPublished: boolean;
  subscriptionIds: number[];
  /** Set when the client gets the message only as a member of this share group (`$share/g/f`). */
  shareFilter?: string;
}

/** How a message goes to the client of one subscription. */
function deliveryOf(entry: SubscriptionEntry): Delivery {
  const delivery: Delivery = {
    qos: entry.qos,
    retainAsPublished: entry.retainAsPublished,
    subscriptionIds: entry.subscriptionId === undefined ? [] : [entry.subscriptionId],
  };
  if (entry.shareGroup !== undefined) delivery.shareFilter = entry.filter;
  return delivery;
}

/** Overlapping (non-shared) subscriptions of one client: one delivery at the highest QoS, all identifiers [MQTT-3.3.4-2]. */
function mergeDelivery(targets: Map<string, Delivery>, entry: SubscriptionEntry): void {
  const existing = targets.get(entry.clientId);
  if (existing === undefined) {
    targets.set(entry.clientId, deliveryOf(entry));
    return;
  }
  if (entry.qos > existing.qos) existing.qos = entry.qos;
  existing.retainAsPublished ||= entry.retainAsPublished;
  if (entry.subscriptionId !== undefined && !existing.subscriptionIds.includes(entry.subscriptionId)) existing.subscriptionIds.push(entry.subscriptionId);
}

/**
 * Reason codes only a CONNACK may carry, as the nearest DISCONNECT reason
 * (table 3.14.2.1): a second CONNECT with a bad protocol name (0x84) is a
 * Protocol Error; a failed re-authentication (0x86, 0x8A, 0x8C) is Not authorized.
 */
const DisconnectReasonForConnackReason: ReadonlyMap<number, number> = new Map([
  [ReasonCode.UnsupportedProtocolVersion, ReasonCode.ProtocolError],
  [ReasonCode.ClientIdentifierNotValid, ReasonCode.ProtocolError],
  [ReasonCode.BadUserNameOrPassword, ReasonCode.NotAuthorized],
  [ReasonCode.Banned, ReasonCode.NotAuthorized],
  [ReasonCode.BadAuthenticationMethod, ReasonCode.NotAuthorized],
  [ReasonCode.ServerUnavailable, ReasonCode.ServerBusy],
]);

/**
 * A copy of an encoded QoS 1/2 PUBLISH with another packet id: it sits
 * right after the topic name, behind the fixed header [MQTT-3.3.2].
 *
 * The copy must be a real one. The encoder hands back Node `Buffer`s, and
 * `Buffer#slice` is a view: patching it rewrote the shared encoding and,
 * through it, every earlier subscriber's not yet flushed PUBLISH. Those
 * clients then acknowledged ids they had not been sent and their in-flight
 * windows never emptied (issue 12: a stall after Receive Maximum messages).
 */
export function withPacketId(encoded: Uint8Array, packetId: number): Uint8Array {
  let offset = 1;
  while (((encoded[offset] as number) & 0x80) !== 0) offset++;
  offset++;
  const topicLength = ((encoded[offset] as number) << 8) | (encoded[offset + 1] as number);
  const at = offset + 2 + topicLength;
  const copy = new Uint8Array(encoded);
  copy[at] = packetId >> 8;
  copy[at + 1] = packetId & 0xff;
  return copy;
}

/** The filter used for matching: without the `$share/{group}/` prefix. */
export function matchFilterOf(entry: SubscriptionEntry): string {
  if (entry.shareGroup === undefined) return entry.filter;
  return entry.filter.slice('$share/'.length + entry.shareGroup.length + 1);
}

function truncateReason(text: string): string {
  // WebSocket close reasons are limited to 123 bytes.
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}
