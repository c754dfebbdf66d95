/**
 * Messages on their way to subscribers: per session, the in-flight window
 * (Receive Maximum) and its packet ids, the queue behind it, the pump that
 * moves the queue into the window, resends on resume, and the
 * acknowledgements that free the window (PUBACK, PUBREC, PUBCOMP).
 *
 * Durable state is in SQLite (SessionStore's outbound table); what is in
 * memory (`SessionRuntime`) is rebuilt from it whenever it is missing.
 */
import type { BrokerLimits } from './limits.ts';
import type { ClientLink } from './link.ts';
import type { Logger } from './log.ts';
import type { BrokerMessage } from './message.ts';
import type { BrokerMetrics } from './metrics.ts';
import { encodePublish, type EncodeCache } from './publish-encoding.ts';
import type { Delivery } from './router.ts';
import { OutboundState, type OutboundRecord, type SessionStore } from './session-store.ts';
import type { WindowState } from './stall-watchdog.ts';

/** How long QoS 1 ids may stay in flight in memory only before they are stored (see SessionRuntime.volatile). */
export const VolatileSpillMs = 5000;

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

export interface OutboundDeps {
  store: SessionStore;
  limits: BrokerLimits;
  metrics: BrokerMetrics;
  log: Logger;
  now(): number;
  setTimer?: ((ms: number, callback: () => void) => void) | undefined;
  /** The live connection of a client, if any. */
  linkOf(clientId: string): ClientLink | undefined;
  markDirty(link: ClientLink): void;
  /** Tells the stall watchdog to look at a client. */
  suspectStall(clientId: string): void;
  /** A PUBLISH left for a client (MQTT_LOG_EVENTS=deliver); absent when nobody asked. */
  delivered?: ((link: ClientLink, message: BrokerMessage) => void) | undefined;
}

/** What the admin API shows of a session's outbound state. */
export interface OutboundSummary {
  queued: number;
  inflight: number;
  inflightStored: number;
  inflightMemoryOnly: number;
  receiveMaximum?: number;
}

/** What a PUBREC does: frees the window (an error code), moves to PUBREL, or names no message in flight. */
export type PubrecOutcome = 'released' | 'pubrel' | 'unknown';

export class Outbound {
  private readonly runtimes = new Map<string, SessionRuntime>();
  /** Clients with memory-only in-flight ids, and whether the timer that stores them is pending. */
  private readonly volatileClients = new Set<string>();
  private spillPending = false;

  constructor(private readonly deps: OutboundDeps) {}

  /** Delivers one message to one client: now if online and the window has room, queued if its session persists. */
  deliver(message: BrokerMessage, delivery: Delivery, isRetainedReplay: boolean, cache?: EncodeCache): void {
    const { clientId } = delivery;
    const now = this.deps.now();
    if (message.expiresAt !== undefined && message.expiresAt <= now) return;
    const qos = Math.min(message.qos, delivery.qos) as 0 | 1 | 2;
    // [MQTT-3.3.1-9] live messages go out with retain cleared unless Retain As Published (5.0).
    const retain = isRetainedReplay || (message.retain && delivery.retainAsPublished);
    const outgoing: BrokerMessage = { ...message, qos, retain };
    const link = this.deps.linkOf(clientId);
    if (qos === 0) {
      if (link !== undefined && !link.closed) this.send(link, outgoing, delivery.subscriptionIds, undefined, false, cache);
      return;
    }
    if (link !== undefined && !link.closed) {
      const runtime = this.runtime(clientId);
      if (runtime.queued === 0 && runtime.resendWaiting.size === 0 && runtime.inflight.size < link.state.clientReceiveMaximum) {
        const packetId = this.allocatePacketId(runtime);
        if (!this.send(link, outgoing, delivery.subscriptionIds, packetId, false, cache)) {
          runtime.inflight.delete(packetId);
          return;
        }
        // Share group messages stay in storage: they may move to another member.
        if (qos === 1 && link.state.sessionExpiry === 0 && delivery.shareFilter === undefined) this.addVolatile(clientId, runtime, packetId);
        else this.deps.store.enqueue(clientId, outgoing, delivery.subscriptionIds, packetId, delivery.shareFilter);
        return;
      }
      // Behind queued messages (order) or a full window: queue, then send what fits.
      this.enqueueLimited(clientId, outgoing, delivery.subscriptionIds, delivery.shareFilter);
      this.pump(link);
      return;
    }
    if (this.deps.store.getSession(clientId) === undefined) return;
    this.enqueueLimited(clientId, outgoing, delivery.subscriptionIds, delivery.shareFilter);
  }

  /** Queues for later, dropping the oldest queued message when the session's queue is full. */
  private enqueueLimited(clientId: string, message: BrokerMessage, subscriptionIds: number[], shareFilter: string | undefined): void {
    const { store, limits, metrics, log } = this.deps;
    const size = message.payload.byteLength + message.topic.length;
    if (size > limits.maxQueuedBytes) {
      metrics.add('publishDropped');
      log.log('warn', 'queue_message_too_large', { client: clientId, size });
      return;
    }
    // Policy: QoS 0 is never queued; a full queue (messages or bytes) drops its oldest message.
    let { count, bytes } = store.queueUsage(clientId);
    while (count > 0 && (count >= limits.maxQueued || bytes + size > limits.maxQueuedBytes)) {
      const dropped = store.dropOldestQueued(clientId);
      count--;
      bytes -= dropped;
      metrics.add('publishDropped');
      log.log('warn', 'queue_full_dropped_oldest', { client: clientId });
    }
    store.enqueue(clientId, message, subscriptionIds, undefined, shareFilter);
    const runtime = this.runtimes.get(clientId);
    if (runtime === undefined) return;
    runtime.queued = count + 1;
    const link = this.deps.linkOf(clientId);
    if (link !== undefined && runtime.inflight.size < link.state.clientReceiveMaximum) this.deps.suspectStall(clientId);
  }

  /**
   * Encodes and queues one PUBLISH on a link. Returns false when the packet
   * is larger than the client's Maximum Packet Size: then it is dropped for
   * that client only [MQTT-3.1.2-25].
   */
  private send(link: ClientLink, message: BrokerMessage, subscriptionIds: readonly number[], packetId: number | undefined, dup: boolean, cache?: EncodeCache): boolean {
    const { bytes, alias, packetId: patch } = encodePublish(link, message, subscriptionIds, packetId, dup, this.deps.now(), cache);
    if (link.state.clientMaxPacketSize > 0 && bytes.byteLength > link.state.clientMaxPacketSize) {
      this.deps.log.log('info', 'dropped_too_large_for_client', { client: link.state.clientId, size: bytes.byteLength });
      this.deps.metrics.add('publishDropped');
      return false;
    }
    // Only a PUBLISH that really goes out teaches the client an alias.
    if (alias !== undefined) link.confirmOutboundAlias(message.topic, alias);
    this.deps.metrics.add('publishSent');
    link.writeBytes(bytes, patch);
    this.deps.markDirty(link);
    this.deps.delivered?.(link, message);
    return true;
  }

  private runtime(clientId: string): SessionRuntime {
    let runtime = this.runtimes.get(clientId);
    if (runtime === undefined) {
      const inflight = new Set<number>();
      const resendWaiting = new Set<number>();
      let highest = 0;
      for (const record of this.deps.store.inflight(clientId)) {
        if (record.packetId === undefined) continue;
        (record.state === OutboundState.ResendWaiting ? resendWaiting : inflight).add(record.packetId);
        highest = Math.max(highest, record.packetId);
      }
      runtime = { inflight, resendWaiting, volatile: new Set(), nextPacketId: (highest % 0xffff) + 1, queued: this.deps.store.countQueued(clientId) };
      this.runtimes.set(clientId, runtime);
    }
    return runtime;
  }

  /** Forgets what is in memory of a session (it ended, or a new connection starts it afresh). */
  forget(clientId: string): void {
    this.runtimes.delete(clientId);
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

  /** A message in flight to the client was completed or taken away: its id is free. */
  release(clientId: string, packetId: number): void {
    const runtime = this.runtimes.get(clientId);
    if (runtime === undefined) return;
    runtime.inflight.delete(packetId);
    runtime.resendWaiting.delete(packetId);
    runtime.volatile.delete(packetId);
    if (runtime.queued > 0 || runtime.resendWaiting.size > 0) this.deps.suspectStall(clientId);
  }

  // ---- acknowledgements from the client ---------------------------------------

  /** PUBACK: completes a QoS 1 message and sends what the freed slot allows; false if no such message was in flight. */
  puback(link: ClientLink, packetId: number): boolean {
    const clientId = link.state.clientId as string;
    const runtime = this.runtimes.get(clientId);
    const known = (runtime?.volatile.has(packetId) ?? false) || this.deps.store.complete(clientId, packetId, OutboundState.PublishSent);
    if (!known) return false;
    this.release(clientId, packetId);
    this.pump(link);
    return true;
  }

  /**
   * PUBREC: with an error code it ends the exchange and frees the slot
   * [MQTT-4.3.3]; otherwise the message is delivered and PUBREL follows
   * (the message body is no longer kept).
   */
  pubrec(link: ClientLink, packetId: number, failed: boolean): PubrecOutcome {
    const clientId = link.state.clientId as string;
    const store = this.deps.store;
    if (failed) {
      if (!store.complete(clientId, packetId, OutboundState.PublishSent)) return 'unknown';
      this.release(clientId, packetId);
      this.pump(link);
      return 'released';
    }
    if (store.markPubrelSent(clientId, packetId)) {
      // A message waiting to be resent was answered after all: its PUBREL is in flight now.
      const runtime = this.runtime(clientId);
      if (runtime.resendWaiting.delete(packetId)) runtime.inflight.add(packetId);
      return 'pubrel';
    }
    // A PUBREC repeated for a PUBREL already sent is answered again.
    return store.inflight(clientId).some((record) => record.packetId === packetId) ? 'pubrel' : 'unknown';
  }

  /** PUBCOMP: completes a QoS 2 message; false if no PUBREL with that id was in flight. */
  pubcomp(link: ClientLink, packetId: number): boolean {
    const clientId = link.state.clientId as string;
    if (!this.deps.store.complete(clientId, packetId, OutboundState.PubrelSent)) return false;
    this.release(clientId, packetId);
    this.pump(link);
    return true;
  }

  // ---- the window ---------------------------------------------------------------

  /**
   * Sends while the client's in-flight window has room: first messages
   * waiting to be resent, then queued ones, each in the order they came.
   */
  pump(link: ClientLink): void {
    const clientId = link.state.clientId;
    if (clientId === undefined || link.closed) return;
    const store = this.deps.store;
    const runtime = this.runtime(clientId);
    let room = link.state.clientReceiveMaximum - runtime.inflight.size;
    if (runtime.resendWaiting.size > 0 && room > 0) {
      for (const record of store.resendWaiting(clientId, room)) {
        const packetId = record.packetId as number;
        runtime.resendWaiting.delete(packetId);
        if (!this.send(link, record.message, record.subscriptionIds, packetId, true)) {
          store.deleteOutbound(record.id);
          continue;
        }
        runtime.inflight.add(packetId);
        store.setState(record.id, OutboundState.PublishSent);
        room--;
      }
      if (runtime.resendWaiting.size > 0) return;
    }
    const now = this.deps.now();
    if (runtime.queued === 0) return;
    while (room > 0) {
      const batch = store.queued(clientId, Math.min(room, 100));
      if (batch.length === 0) {
        runtime.queued = 0;
        return;
      }
      for (const record of batch) {
        runtime.queued = Math.max(0, runtime.queued - 1);
        if (record.message.expiresAt !== undefined && record.message.expiresAt <= now) {
          store.deleteOutbound(record.id);
          continue;
        }
        const packetId = this.allocatePacketId(runtime);
        if (!this.send(link, record.message, record.subscriptionIds, packetId, false)) {
          runtime.inflight.delete(packetId);
          store.deleteOutbound(record.id);
          continue;
        }
        store.markSent(record.id, packetId);
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
   * [MQTT-3.3.4-9]: the rest wait for room, ahead of anything queued. Then
   * the queue follows, as the window allows.
   */
  resume(link: ClientLink): void {
    const clientId = link.state.clientId as string;
    const store = this.deps.store;
    const records: OutboundRecord[] = store.inflight(clientId);
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
        if (record.state !== OutboundState.ResendWaiting) store.setState(record.id, OutboundState.ResendWaiting);
        continue;
      }
      runtime.resendWaiting.delete(packetId);
      if (!this.send(link, record.message, record.subscriptionIds, packetId, true)) {
        runtime.inflight.delete(packetId);
        store.deleteOutbound(record.id);
        continue;
      }
      runtime.inflight.add(packetId);
      if (record.state !== OutboundState.PublishSent) store.setState(record.id, OutboundState.PublishSent);
      inFlight++;
    }
    this.deps.markDirty(link);
    this.pump(link);
  }

  // ---- memory-only in-flight ids (see SessionRuntime.volatile) ---------------------

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
      if (runtime === undefined || runtime.volatile.size === 0 || this.deps.linkOf(clientId) === undefined) continue;
      this.deps.store.recordInflightIds(clientId, [...runtime.volatile]);
      runtime.volatile.clear();
    }
    this.volatileClients.clear();
  }

  // ---- what others read ------------------------------------------------------------

  /** The window of a connected client, for the stall watchdog. */
  windowOf(clientId: string): WindowState | undefined {
    const link = this.deps.linkOf(clientId);
    const runtime = this.runtimes.get(clientId);
    if (link === undefined || runtime === undefined) return undefined;
    return { queued: this.deps.store.countQueued(clientId) + runtime.resendWaiting.size, inflight: runtime.inflight.size, window: link.state.clientReceiveMaximum };
  }

  /** The watchdog found a stall: re-read the queue and send what fits. */
  recover(clientId: string): void {
    const link = this.deps.linkOf(clientId);
    const runtime = this.runtimes.get(clientId);
    if (link === undefined || runtime === undefined) return;
    runtime.queued = Math.max(runtime.queued, this.deps.store.countQueued(clientId));
    this.pump(link);
    this.deps.markDirty(link);
  }

  summary(clientId: string): OutboundSummary {
    const store = this.deps.store;
    const resendWaiting = store.countResendWaiting(clientId);
    const stored = store.inflight(clientId).length - resendWaiting;
    const summary: OutboundSummary = { queued: store.countQueued(clientId) + resendWaiting, inflight: stored, inflightStored: stored, inflightMemoryOnly: 0 };
    const link = this.deps.linkOf(clientId);
    if (link !== undefined) {
      const runtime = this.runtime(clientId);
      summary.inflight = runtime.inflight.size;
      summary.inflightMemoryOnly = runtime.volatile.size;
      summary.receiveMaximum = link.state.clientReceiveMaximum;
    }
    return summary;
  }
}
