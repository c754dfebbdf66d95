/**
 * The connections of a namespace: each one's decode loop (packets of one
 * connection strictly in order), its partial packet across messages and
 * hibernation, the per-client publish rate, output batching (everything for
 * one connection in one event leaves as one transport message), failing a
 * connection with the right CONNACK or DISCONNECT, and the connection's own
 * deadlines (connect timeout, keep-alive).
 */
import { PacketDecoder } from '../../shared/codec/decoder.ts';
import type { MqttPacket } from '../../shared/codec/types.ts';
import { decodeBase64 } from '../../shared/base64.ts';
import { MqttError, isMqttError } from '../../shared/errors.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { connackRefusal, refusalForFailedConnect, serverDisconnect } from '../../shared/refusals.ts';
import { closeKindOf, type CloseCause } from './close-cause.ts';
import type { DeadlineSource } from './deadlines.ts';
import type { BrokerLimits } from './limits.ts';
import { connackReasonName } from '../../shared/connection-log.ts';
import type { ConnectionLog } from './connection-log.ts';
import { ClientLink, type AcceptMeta, type ConnectionState, type SendCounter, type Transport } from './link.ts';
import { describeError, type Logger } from './log.ts';
import { MetricsFlushIntervalMs, type BrokerMetrics } from './metrics.ts';
import { FairShare } from './fair-share.ts';
import { clientBurst, namespaceBurst, RateGate } from './publish-rate.ts';
import type { ClientFlow, FlowStats } from './readouts.ts';
import type { SessionStore } from './session-store.ts';

/** Keep-alive grace: the server allows one and a half keep-alive periods [MQTT-3.1.2-24]. */
const KeepAliveGrace = 1.5;
/**
 * One transport message is decoded in slices of this size, and the event
 * yields to other connections after this many packets: a 4 MiB message of
 * two million PINGREQs neither allocates two million packets at once nor
 * keeps everyone else waiting.
 */
const SliceBytes = 4 * 1024;
/**
 * Work a connection may do in one turn before the others get theirs: a
 * packet is one unit, and each subscription a PUBLISH matched (or a filter
 * a SUBSCRIBE named) one more, so a client whose every message matches a
 * thousand of its own overlapping subscriptions takes a short turn.
 */
const WorkPerTurn = 256;
/** While acknowledgements are held, how often the namespace looks whether to send them. */
const HeldCheckMs = 50;
/** An incomplete packet is written down (appended) at most this long after its bytes arrived. */
export const PartialSpillMs = 5000;

export interface ConnectionsDeps {
  store: SessionStore;
  limits: BrokerLimits;
  metrics: BrokerMetrics;
  log: Logger;
  connectionLog: ConnectionLog;
  now(): number;
  newId(): string;
  requestAlarm(at: number): void;
  /** When set, output of incoming messages is flushed through this (e.g. a zero-delay timer). */
  deferFlush?: ((flush: () => void) => void) | undefined;
  /**
   * An in-memory timer. Used for connect timeouts (a connection that has not
   * sent CONNECT must not make the object write an alarm) and to write down
   * partial packets; a pending one keeps the object from hibernating.
   */
  setTimer?: ((ms: number, callback: () => void) => void) | undefined;
  /** Lets other events run (between slices of a large message); none: go on at once. */
  yieldToOthers?: (() => Promise<void>) | undefined;
  /** Handles one packet of a connection (protocol/dispatch.ts). */
  dispatch(link: ClientLink, packet: MqttPacket): Promise<void>;
  /** A connection is gone: its client's connection ends (directory, session, hook). */
  ended(link: ClientLink, cause: CloseCause): void;
  /** Work done since last asked beyond one unit per packet (subscriptions matched, filters handled); see WorkPerTurn. */
  takeWork?: (() => number) | undefined;
}

export class Connections implements DeadlineSource {
  private readonly links = new Map<string, ClientLink>();
  private readonly dirty = new Set<ClientLink>();
  /** What every link handed to its transport since the last count (links add to it directly). */
  private readonly sent: SendCounter = { packets: 0, bytes: 0 };
  private flushPending = false;
  private metricsFlushAt: number | undefined;
  /** Connections with an incomplete packet not yet (fully) written down, and whether the timer for it is pending. */
  private readonly partialsToSpill = new Set<ClientLink>();
  private spillPending = false;
  /**
   * Connections still to send (or finish) their CONNECT, oldest first: the
   * timeout is the same for all, so one timer for the oldest serves them
   * all. (A timer each would hit the runtime's cap on active timeouts,
   * 10,000 per isolate, at 1,000 connects a second.) Entries that connected
   * meanwhile are dropped when the timer passes them.
   */
  private readonly awaitingConnect = new Map<string, ClientLink>();
  private connectTimerAt: number | undefined;
  /** Who has sent what the namespace has not handled yet; who is slowed (fair-share.ts). */
  readonly fairShare: FairShare;
  /** Connections with acknowledgements held, and whether the check for them is pending. */
  private readonly holding = new Set<ClientLink>();
  private heldCheckPending = false;
  /** MQTT_NAMESPACE_PUBLISH_RATE: the namespace's publish rate, shared by its clients in turns. */
  private readonly namespaceGate: RateGate;
  private readonly timer: (ms: number, callback: () => void) => void;

  constructor(private readonly deps: ConnectionsDeps) {
    // Never below two of the largest packets: a client must be able to send one while another is handled.
    this.fairShare = new FairShare(
      () => deps.now(),
      () => Math.max(deps.limits.maxPendingBytes, 2 * deps.limits.maxPacketSize),
      () => deps.limits.maxNamespacePendingBytes,
    );
    this.timer = deps.setTimer ?? ((ms, callback) => void setTimeout(callback, ms));
    this.namespaceGate = new RateGate(() => deps.limits.namespacePublishRate, namespaceBurst, () => deps.now(), this.timer);
  }

  get(connectionId: string): ClientLink | undefined {
    return this.links.get(connectionId);
  }

  all(): IterableIterator<ClientLink> {
    return this.links.values();
  }

  /** A new transport was accepted; it has `connectTimeoutMs` to send CONNECT. */
  accept(transport: Transport, meta: AcceptMeta): ConnectionState {
    const now = this.deps.now();
    const state: ConnectionState = {
      v: 1,
      id: this.deps.newId(),
      phase: 'awaiting-connect',
      acceptedAt: now,
      lastSeen: now,
      bridged: meta.bridged,
      keepAlive: 0,
      clientReceiveMaximum: this.deps.limits.maxInflight,
      clientMaxPacketSize: 0,
      requestProblemInformation: true,
    };
    if (meta.remoteAddress !== undefined) state.remoteAddress = meta.remoteAddress;
    if (meta.transport !== undefined) state.transport = meta.transport;
    const link = this.register(state, transport);
    link.persist();
    this.startConnectTimer(link);
    return state;
  }

  /**
   * The connect timeout, as an in-memory timer rather than the alarm: a
   * connection that never sends CONNECT costs no storage write. The timer
   * keeps the object in memory until it fires, so it cannot be lost to
   * hibernation; it also covers an enhanced authentication exchange.
   */
  private startConnectTimer(link: ClientLink): void {
    const { setTimer, limits } = this.deps;
    if (setTimer === undefined) {
      this.deps.requestAlarm(link.state.acceptedAt + limits.connectTimeoutMs);
      return;
    }
    this.awaitingConnect.set(link.id, link);
    this.scheduleConnectTimer();
  }

  /** One timer, for the oldest connection still waiting for its CONNECT. */
  private scheduleConnectTimer(): void {
    const setTimer = this.deps.setTimer;
    if (setTimer === undefined || this.connectTimerAt !== undefined) return;
    const oldest = this.awaitingConnect.values().next();
    if (oldest.done === true) return;
    const at = oldest.value.state.acceptedAt + this.deps.limits.connectTimeoutMs;
    this.connectTimerAt = at;
    setTimer(Math.max(0, at - this.deps.now()), () => {
      this.connectTimerAt = undefined;
      this.timeOutConnects();
    });
  }

  private timeOutConnects(): void {
    const now = this.deps.now();
    for (const [id, link] of this.awaitingConnect) {
      const waiting = this.links.has(id) && (link.state.phase === 'awaiting-connect' || link.state.phase === 'authenticating');
      if (waiting && link.state.acceptedAt + this.deps.limits.connectTimeoutMs > now) break;
      this.awaitingConnect.delete(id);
      if (waiting) this.timeOutConnect(link);
    }
    this.flushAll();
    this.scheduleConnectTimer();
  }

  private timeOutConnect(link: ClientLink): void {
    this.deps.connectionLog.event('info', 'connection.refused', link.state, { reason: 'connect-timeout', error: 'CONNECT not received in time' });
    link.close('policy', 'CONNECT not received in time');
    this.end(link, 'connect-timeout');
  }

  /** Rebuilds the link of a connection that survived hibernation or a restart; undefined if it is known already. */
  restore(state: ConnectionState, transport: Transport): ClientLink | undefined {
    if (this.links.has(state.id)) return undefined;
    const link = this.register(state, transport);
    // Cannot normally happen (a pending connect timer keeps the object awake), but must not be left without one.
    if (state.phase === 'awaiting-connect' || state.phase === 'authenticating') this.startConnectTimer(link);
    return link;
  }

  private register(state: ConnectionState, transport: Transport): ClientLink {
    let leftover: Uint8Array | undefined;
    if (state.partialInline !== undefined) leftover = decodeBase64(state.partialInline);
    else if (state.partialStored === true || state.partialStoredBytes !== undefined) leftover = this.deps.store.loadPartialPacket(state.id);
    const connected = state.phase === 'connected';
    const limits = this.deps.limits;
    const decoder = new PacketDecoder({
      // [bounded work] until its CONNECT is accepted, a connection may send only a CONNECT-sized packet.
      maxPacketSize: connected ? (state.terms?.maxPacketSize ?? limits.maxPacketSize) : Math.min(limits.maxPacketSize, limits.maxConnectBytes),
      ...(state.level === undefined ? {} : { protocolLevel: state.level }),
      ...(leftover === undefined ? {} : { leftover }),
    });
    const link = new ClientLink(state, transport, decoder, this.sent);
    if (leftover !== undefined) link.storedPartial = { id: decoder.pendingPartialId, bytes: leftover.byteLength };
    this.links.set(state.id, link);
    if (leftover !== undefined) this.fairShare.holdsPartial(link, decoder.bufferedBytes);
    return link;
  }

  /** The CONNECT was accepted: from now on the connection's packets may be as large as the namespace allows. */
  connected(link: ClientLink): void {
    link.decoder.setMaxPacketSize(link.state.terms?.maxPacketSize ?? this.deps.limits.maxPacketSize);
  }

  /** Bytes arrived on a connection. Packets of one connection are handled strictly in order. */
  receive(connectionId: string, bytes: Uint8Array): Promise<void> {
    const link = this.links.get(connectionId);
    if (link === undefined || link.closed) return Promise.resolve();
    const size = bytes.byteLength;
    if (!this.fairShare.arrived(link, size)) {
      // Its input keeps coming faster than it is handled, past what any client that waits for its answers sends.
      this.fail(link, new MqttError('Limit', ReasonCode.MessageRateTooHigh, 'input arrives faster than it can be handled: too much sent and not yet handled'));
      this.flushAll();
      return Promise.resolve();
    }
    this.enforceNamespaceBound();
    if (link.closed) return Promise.resolve();
    const run = link.chain.then(async () => {
      try {
        await this.process(link, bytes);
      } finally {
        this.fairShare.handled(link, size);
        this.releaseHeld(link);
      }
    });
    link.chain = run.catch(() => undefined);
    return run;
  }

  private async process(link: ClientLink, bytes: Uint8Array): Promise<void> {
    if (link.closed) return;
    this.touch(link);
    const metrics = this.deps.metrics;
    metrics.add('bytesReceived', bytes.byteLength);
    let workThisTurn = 0;
    try {
      for (let offset = 0; offset < bytes.byteLength && !link.closed; offset += SliceBytes) {
        const { packets, error } = link.decoder.push(bytes.subarray(offset, offset + SliceBytes));
        metrics.add('messagesReceived', packets.length);
        for (const packet of packets) {
          if (link.closed) break;
          this.takePacketToken(link);
          if (packet.cmd === 'publish') metrics.add('publishReceived');
          await this.deps.dispatch(link, packet);
          workThisTurn += 1 + (this.deps.takeWork?.() ?? 0);
          if (workThisTurn >= WorkPerTurn && this.deps.yieldToOthers !== undefined) {
            workThisTurn = 0;
            this.flushAll();
            await this.deps.yieldToOthers();
          }
        }
        if (error !== undefined && !link.closed) this.fail(link, error);
      }
      if (!link.closed) this.notePartial(link);
    } catch (thrown) {
      const failure = isMqttError(thrown)
        ? thrown
        : new MqttError('Protocol', ReasonCode.ImplementationSpecificError, `internal error: ${describeError(thrown)}`);
      if (!isMqttError(thrown)) this.deps.log.log('error', 'handler_failed', { client: link.state.clientId, error: describeError(thrown) });
      if (!link.closed) this.fail(link, failure);
    } finally {
      this.flushSoon();
    }
  }

  /**
   * What all connections hold (waiting input, incomplete packets) past the
   * namespace's bound: the connection holding the most is ended, until the
   * rest fits (usually one: the bound is far above what well-behaved
   * clients hold together).
   */
  private enforceNamespaceBound(): void {
    for (let heaviest = this.fairShare.overNamespaceBound(); heaviest !== undefined; heaviest = this.fairShare.overNamespaceBound()) {
      const link = heaviest as ClientLink;
      const held = link.input.pendingBytes + link.input.partialBytes;
      this.fail(link, new MqttError('Limit', ReasonCode.QuotaExceeded, `the namespace holds too much input not yet handled (MQTT_MAX_NAMESPACE_PENDING_BYTES), this client the most (${held} bytes)`));
      // fail() ends the connection, which forgets what it held; should it not have, stop rather than spin.
      this.flushAll();
      if (link.input.pendingBytes + link.input.partialBytes > 0) break;
    }
  }

  /** The transport closed (client went away, network error). */
  async closed(connectionId: string, cause: CloseCause): Promise<void> {
    const link = this.links.get(connectionId);
    if (link === undefined) return;
    // Let packets already received finish first, so a DISCONNECT followed by a close is clean.
    await link.chain;
    if (!this.links.has(connectionId)) return;
    link.closed = true;
    this.end(link, cause);
    this.flushAll();
  }

  /** Finishes a connection: forgets what it kept, then its client's connection ends. Idempotent. */
  end(link: ClientLink, cause: CloseCause): void {
    if (!this.links.delete(link.id)) return;
    link.closed = true;
    this.partialsToSpill.delete(link);
    this.fairShare.forget(link);
    this.holding.delete(link);
    const state = link.state;
    const stored = state.partialStored === true || state.partialStoredBytes !== undefined || state.hasTopicAliases === true;
    if (stored) this.deps.store.forgetConnection(link.id);
    this.deps.ended(link, cause);
  }

  /**
   * Closes a connection because of an error: CONNACK (before CONNECT was
   * accepted) or DISCONNECT (5.0) with the reason code, then the socket.
   */
  fail(link: ClientLink, error: MqttError): void {
    this.deps.connectionLog.event('warn', 'connection.protocol-error', link.state, {
      protocol: link.state.level ?? link.decoder.protocolLevel,
      reason: connackReasonName(5, error.reasonCode),
      code: error.reasonCode,
      error: error.message,
    });
    if (link.state.phase === 'awaiting-connect' || link.state.phase === 'authenticating') {
      const level = link.decoder.protocolLevel;
      // The CONNACK must be in the client's own form (a 5.0 CONNACK has properties).
      if (level !== undefined) link.state.level = level;
      const refusal = refusalForFailedConnect(level, error.reasonCode, this.reasonString(link, error.message));
      if (refusal !== undefined) link.write(refusal);
      link.close('protocol-error', error.message);
      this.end(link, 'protocol-error');
      return;
    }
    this.disconnect(link, error.reasonCode, error.message, 'protocol-error');
  }

  /** Refuses a CONNECT: CONNACK with the reason for the client's level, then close [MQTT-3.2.2-5]. */
  refuse(link: ClientLink, reason: number, message: string, who: { client?: string; username?: string | undefined } = {}): void {
    this.deps.connectionLog.refused(link.state, link.level, reason, message, who);
    link.write(connackRefusal(link.level, reason, this.reasonString(link, message)));
    link.close('normal', message);
    this.end(link, 'refused');
  }

  /** Server-initiated close of a connected client (5.0: DISCONNECT with a reason first). */
  disconnect(link: ClientLink, reasonCode: number, message: string, cause: CloseCause): void {
    const disconnect = serverDisconnect(link.level, link.state.phase === 'connected', reasonCode, this.reasonString(link, message));
    if (disconnect !== undefined) link.write(disconnect);
    link.close(closeKindOf(cause), message);
    this.end(link, cause);
  }

  /** The text of a 5.0 Reason String, only if the client did not opt out [MQTT-3.1.2-29]. */
  reasonString(link: ClientLink, text: string): string | undefined {
    return link.isV5 && link.state.requestProblemInformation ? text : undefined;
  }

  // ---- fair share -----------------------------------------------------------

  /** The namespace's side of it, for the admin API and /metrics. */
  flowStats(): FlowStats {
    let heldAcks = 0;
    for (const link of this.holding) heldAcks += link.input.heldAcks.length;
    return { behindMs: this.fairShare.lagMs(), pendingBytes: this.fairShare.pendingBytes, partialBytes: this.fairShare.partialBytes, slowedClients: this.holding.size, heldAcks };
  }

  /** Connections accepted and not ended, with their CONNECT or not. */
  get count(): number {
    return this.links.size;
  }

  /** Output written to connections and not flushed yet, all together (a walk over the connections: for readouts only). */
  unflushedBytes(): number {
    let bytes = 0;
    for (const link of this.links.values()) bytes += link.pendingBytes;
    return bytes;
  }

  /** One client's side of it. */
  clientFlow(link: ClientLink): ClientFlow {
    const input = link.input;
    const now = this.deps.now();
    const total = this.fairShare.pendingBytes;
    return {
      pendingBytes: input.pendingBytes,
      share: total > 0 ? input.pendingBytes / total : 0,
      heldAcks: input.heldAcks.length,
      heldAcksTotal: input.heldAcksTotal,
      droppedQos0: input.droppedQos0,
      delayedPublishes: input.delayedPublishes,
      slowedMs: input.slowedMs + (input.slowedSince === undefined ? 0 : now - input.slowedSince),
      slowed: this.holding.has(link),
    };
  }

  /** Whether `link` is over its share while the namespace is behind: its acknowledgements wait, its QoS 0 goes. */
  slows(link: ClientLink): boolean {
    return this.fairShare.slows(link);
  }

  /** Sends a QoS 1/2 acknowledgement, or holds it while the client is slowed (it stops at its window). */
  acknowledge(link: ClientLink, ack: MqttPacket): void {
    if (!this.fairShare.slows(link)) {
      link.write(ack);
      this.markDirty(link);
      return;
    }
    const bytes = link.encodeForClient(ack);
    if (bytes === undefined) return;
    link.input.heldAcks.push(bytes);
    link.input.heldAcksTotal++;
    this.deps.metrics.add('acksHeld');
    this.fairShare.noteSlowed(link);
    this.holding.add(link);
    this.checkHeldSoon();
  }

  /** A QoS 0 message from a slowed client: dropped, and counted for it. */
  dropSlowed(link: ClientLink): void {
    link.input.droppedQos0++;
    this.deps.metrics.add('qos0Dropped');
    this.fairShare.noteSlowed(link);
    this.holding.add(link);
    this.checkHeldSoon();
  }

  /** Sends `link` what was held for it, once it is no longer slowed. */
  private releaseHeld(link: ClientLink): void {
    if (!this.holding.has(link) || link.closed || this.fairShare.slows(link)) return;
    this.holding.delete(link);
    const held = this.fairShare.release(link);
    for (const bytes of held) link.writeBytes(bytes);
    if (held.length > 0) this.markDirty(link);
  }

  /**
   * A client whose acknowledgements are held stops sending once its window
   * is full, so no message of its own brings it back: the namespace looks
   * again shortly, for as long as anyone is held.
   */
  private checkHeldSoon(): void {
    const setTimer = this.deps.setTimer;
    if (this.heldCheckPending || setTimer === undefined) return;
    this.heldCheckPending = true;
    setTimer(HeldCheckMs, () => {
      this.heldCheckPending = false;
      for (const link of [...this.holding]) this.releaseHeld(link);
      this.flushAll();
      if (this.holding.size > 0) this.checkHeldSoon();
    });
  }

  // ---- output -------------------------------------------------------------

  markDirty(link: ClientLink): void {
    this.dirty.add(link);
  }

  flushAll(): void {
    for (const link of this.dirty) link.flush();
    this.dirty.clear();
    this.countSent();
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

  /** Moves what links sent since the last count into the namespace metrics; schedules their flush to storage. */
  private countSent(): void {
    const { metrics } = this.deps;
    const sent = this.sent;
    if (sent.packets > 0) {
      metrics.add('messagesSent', sent.packets);
      metrics.add('bytesSent', sent.bytes);
      sent.packets = 0;
      sent.bytes = 0;
    }
    if (metrics.isDirty && this.metricsFlushAt === undefined) {
      this.metricsFlushAt = this.deps.now() + MetricsFlushIntervalMs;
      this.deps.requestAlarm(this.metricsFlushAt);
    }
  }

  // ---- per-connection state ---------------------------------------------------

  /**
   * Per-client packet rate limit, every packet type: a token bucket
   * refilled at maxPacketRate per second, holding up to ten times that (a
   * client's bursts pass; a flood does not). On by default, so that no one
   * client can take the namespace's thread for itself.
   */
  private takePacketToken(link: ClientLink): void {
    const rate = this.deps.limits.maxPacketRate;
    if (rate <= 0) return;
    const now = this.deps.now();
    const capacity = rate * 10;
    const bucket = (link.packetBucket ??= { tokens: capacity, updatedAt: now });
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rate);
    bucket.updatedAt = now;
    if (bucket.tokens < 1) throw new MqttError('Limit', ReasonCode.MessageRateTooHigh, `more than ${rate} packets/s`);
    bucket.tokens -= 1;
  }

  /**
   * A PUBLISH within the publish rates (publish-rate.ts): true at once, or
   * for QoS 1/2 once its turn comes; false for a QoS 0 one over them, which
   * is dropped and counted.
   */
  admitPublish(link: ClientLink, qos: number): boolean | Promise<boolean> {
    const limits = this.deps.limits;
    if (limits.maxPublishRate <= 0 && limits.namespacePublishRate <= 0 && this.namespaceGate.waiting === 0) return true;
    const own = limits.maxPublishRate > 0 ? (link.publishGate ??= new RateGate(() => this.deps.limits.maxPublishRate, clientBurst, () => this.deps.now(), this.timer)) : undefined;
    if (qos === 0) {
      if (own !== undefined && !own.tryTake()) return this.dropOverRate(link);
      if (this.namespaceGate.tryTake()) return true;
      own?.giveBack();
      return this.dropOverRate(link);
    }
    const ownTaken = own === undefined || own.tryTake();
    if (ownTaken && this.namespaceGate.tryTake()) return true;
    return this.waitForRate(link, ownTaken ? undefined : own);
  }

  /** A publish rate quota changed: whoever waits is served by the new one. */
  publishRatesChanged(): void {
    this.namespaceGate.changed();
    for (const link of this.links.values()) link.publishGate?.changed();
  }

  /** Waits for the client's own token (`own`, when it has none yet), then the namespace's. */
  private async waitForRate(link: ClientLink, own: RateGate | undefined): Promise<boolean> {
    link.input.delayedPublishes++;
    this.deps.metrics.add('publishDelayed');
    // Its input waits by choice of the quota, not because the namespace is behind.
    this.fairShare.pause(link);
    try {
      if (own !== undefined) await own.take();
      await this.namespaceGate.take();
    } finally {
      this.fairShare.resume(link);
    }
    return true;
  }

  private dropOverRate(link: ClientLink): false {
    link.input.droppedQos0++;
    this.deps.metrics.add('qos0Dropped');
    return false;
  }

  /**
   * Updates lastSeen; persisted at most once a second to keep attachment
   * writes rare, and never for a bridged connection, whose keep-alive the
   * sidecar enforces (on the sidecar's link each write would be a row).
   */
  private touch(link: ClientLink): void {
    const now = this.deps.now();
    const persist = !link.state.bridged && now - link.state.lastSeen >= 1000;
    link.state.lastSeen = now;
    if (persist) link.persist();
  }

  /**
   * After a message: an incomplete packet stays in memory and is written
   * down later (spillPartials); a completed one's stored start is removed.
   * Before its CONNECT is accepted a connection stores nothing: its connect
   * timer keeps the object awake, so nothing can be lost.
   */
  private notePartial(link: ClientLink): void {
    const state = link.state;
    this.fairShare.holdsPartial(link, link.decoder.bufferedBytes);
    // A slow trickle of incomplete packets from many connections is input held too.
    if (this.fairShare.overNamespaceBound() !== undefined) this.enforceNamespaceBound();
    if (link.closed) return;
    if (link.decoder.bufferedBytes === 0) {
      this.partialsToSpill.delete(link);
      if (link.storedPartial === undefined && state.partialStoredBytes === undefined && state.partialInline === undefined && state.partialStored !== true) return;
      this.deps.store.deletePartialPacket(link.id);
      link.storedPartial = undefined;
      delete state.partialStoredBytes;
      delete state.partialInline;
      delete state.partialStored;
      link.persist();
      return;
    }
    if (state.phase !== 'connected') return;
    this.partialsToSpill.add(link);
    const setTimer = this.deps.setTimer;
    if (setTimer === undefined) {
      this.spillPartials();
      return;
    }
    if (this.spillPending) return;
    this.spillPending = true;
    setTimer(PartialSpillMs, () => {
      this.spillPending = false;
      this.spillPartials();
    });
  }

  /**
   * Writes down what arrived of incomplete packets since they were last
   * written: appended, never rewritten, so a slow trickle costs storage in
   * proportion to its bytes. Runs at most once per PartialSpillMs.
   */
  spillPartials(): void {
    const store = this.deps.store;
    for (const link of this.partialsToSpill) {
      if (link.closed || link.decoder.bufferedBytes === 0) continue;
      const id = link.decoder.pendingPartialId;
      let stored = link.storedPartial;
      if (stored === undefined || stored.id !== id) {
        // Another packet than the one stored: its start replaces the old one.
        if (stored !== undefined || link.state.partialStoredBytes !== undefined) store.deletePartialPacket(link.id);
        stored = { id, bytes: 0 };
      }
      const tail = link.decoder.pendingBytesFrom(stored.bytes);
      if (tail.byteLength > 0) store.appendPartialChunk(link.id, tail);
      link.storedPartial = { id, bytes: stored.bytes + tail.byteLength };
      link.state.partialStoredBytes = link.storedPartial.bytes;
      delete link.state.partialInline;
      delete link.state.partialStored;
      link.persist();
    }
    this.partialsToSpill.clear();
  }

  // ---- deadlines ------------------------------------------------------------------

  private deadlineOf(link: ClientLink): number | undefined {
    const state = link.state;
    // The connect timeout is a timer (startConnectTimer), unless the host has none.
    if (state.phase === 'awaiting-connect' || state.phase === 'authenticating') return this.deps.setTimer === undefined ? state.acceptedAt + this.deps.limits.connectTimeoutMs : undefined;
    if (state.phase === 'connected' && !state.bridged && state.keepAlive > 0) return state.lastSeen + state.keepAlive * 1000 * KeepAliveGrace;
    return undefined;
  }

  /** Asks for an alarm at this link's next deadline (connect timeout or keep-alive). */
  watch(link: ClientLink): void {
    const deadline = this.deadlineOf(link);
    if (deadline !== undefined) this.deps.requestAlarm(deadline);
  }

  /** Scans every link: only when the alarm fires or the object wakes (see Deadlines). */
  nextDeadline(): number | undefined {
    let next = this.metricsFlushAt;
    for (const link of this.links.values()) {
      const deadline = this.deadlineOf(link);
      if (deadline !== undefined && (next === undefined || deadline < next)) next = deadline;
    }
    return next;
  }

  onAlarm(now: number): void {
    // Counters go to storage on every alarm, so a crash loses at most a few seconds of them.
    this.deps.metrics.flush();
    this.metricsFlushAt = undefined;
    for (const link of [...this.links.values()]) {
      const deadline = this.deadlineOf(link);
      if (deadline === undefined || deadline > now) continue;
      if (link.state.phase === 'awaiting-connect' || link.state.phase === 'authenticating') {
        this.timeOutConnect(link);
      } else if (link.state.phase === 'connected') {
        this.deps.connectionLog.event('info', 'connection.keepalive-timeout', link.state, { keepalive: link.state.keepAlive });
        this.disconnect(link, ReasonCode.KeepAliveTimeout, 'keep-alive timeout', 'keepalive-timeout');
      }
    }
  }
}
