/**
 * Messages on their way to subscribers: per session, the in-flight window
 * (Receive Maximum) and its packet ids, the queue behind it, the retained
 * replays of new subscriptions (replays.ts), the pump that moves the queue
 * and the replays into the window, resends on resume, and the
 * acknowledgements that free the window (PUBACK, PUBREC, PUBCOMP).
 *
 * Durable state is in SQLite (SessionStore's outbound table); what is in
 * memory (`SessionRuntime`) is rebuilt from it whenever it is missing.
 * Messages are read from SQLite one at a time as they go out, and a pump
 * adds at most `TurnBytes` to a connection's output (and about `TurnWork`
 * of work) before it lets other connections run and goes on, so a queue
 * or a replay of any length costs a page of memory at a time.
 */
import type { BrokerLimits } from './limits.ts';
import type { ClientLink } from './link.ts';
import type { Logger } from './log.ts';
import type { BrokerMessage } from './message.ts';
import type { BrokerMetrics } from './metrics.ts';
import { encodePublish, type EncodeCache } from './publish-encoding.ts';
import type { Delivery } from './router.ts';
import { Replays, type Replay } from './replays.ts';
import type { RetainedMessages } from './retained.ts';
import { OutboundState, type SessionStore } from './session-store.ts';
import type { SubscriptionEntry } from './topic-tree.ts';
import type { WindowState } from './stall-watchdog.ts';

/** How long QoS 1 ids may stay in flight in memory only before they are stored (see SessionRuntime.volatile). */
export const VolatileSpillMs = 5000;
/**
 * Output a pump leaves in one connection's buffer before the rest waits
 * for a later turn (one message larger than it still goes, alone): what a
 * queue or a replay holds in memory at once, besides the message being read.
 */
export const TurnBytes = 256 * 1024;
/**
 * Output all connections' pumps leave waiting for a flush, together:
 * many clients resuming at once (each with its first message, which goes
 * whatever its size) must not add up to more than this either.
 */
export const UnflushedBytes = 4 * 1024 * 1024;
/** Work one client's pump does before it lets other connections run: index rows read, and 4 per message sent. */
const TurnWork = 2048;
const WorkPerMessage = 4;

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
  /** Subscriptions' retained messages still to send, in the order of their SUBSCRIBE. */
  replays: Replay[];
  /** Work done since this client last let others run (see TurnWork). */
  work: number;
}

export interface OutboundDeps {
  store: SessionStore;
  retained: RetainedMessages;
  /** Whether a client may read `topic` (a replay's per-message check, for subscriptions that need it). */
  mayRead(clientId: string, topic: string): boolean;
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
  /**
   * Lets other events of the object run (a zero-delay timer on workerd).
   * Without it a pump sends everything the window allows at once (the
   * in-process tests' harness).
   */
  yieldToOthers?: (() => Promise<void>) | undefined;
  /** Sends every connection's output now (at the start and end of a pump's later turn). */
  flush(): void;
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
  private readonly replays: Replays;
  /** Clients whose pump waits for its next turn (see continueLater), and whether that turn is scheduled. */
  private readonly continuing = new Set<string>();
  private continuationPending = false;
  /** Bytes written to connections since their output was last flushed (see flushed). */
  private unflushed = 0;
  /** Clients whose pump waits for its transport to deliver what it holds. */
  private readonly draining = new Set<string>();

  constructor(private readonly deps: OutboundDeps) {
    this.replays = new Replays({ retained: deps.retained, store: deps.store, now: () => deps.now(), mayRead: (clientId, topic) => deps.mayRead(clientId, topic) });
  }

  /** Delivers one message to one client: now if online and the window has room, queued if its session persists. */
  deliver(message: BrokerMessage, delivery: Delivery, cache?: EncodeCache): void {
    const { clientId } = delivery;
    const now = this.deps.now();
    if (message.expiresAt !== undefined && message.expiresAt <= now) return;
    const qos = Math.min(message.qos, delivery.qos) as 0 | 1 | 2;
    // [MQTT-3.3.1-9] live messages go out with retain cleared unless Retain As Published (5.0).
    const retain = message.retain && delivery.retainAsPublished;
    const outgoing: BrokerMessage = { ...message, qos, retain };
    const link = this.deps.linkOf(clientId);
    if (qos === 0) {
      if (link !== undefined && !link.closed) this.send(link, outgoing, delivery.subscriptionIds, undefined, false, cache);
      return;
    }
    if (link !== undefined && !link.closed) {
      const runtime = this.runtime(clientId);
      if (runtime.queued === 0 && runtime.resendWaiting.size === 0 && runtime.inflight.size < link.state.clientReceiveMaximum) {
        this.sendInFlight(link, runtime, outgoing, delivery.subscriptionIds, delivery.shareFilter, cache);
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

  /**
   * Sends a QoS 1/2 message with a new packet id and keeps it until it is
   * acknowledged: in storage, or (QoS 1 to a session that ends with its
   * connection) its id in memory. False when it was too large for the client.
   */
  private sendInFlight(link: ClientLink, runtime: SessionRuntime, message: BrokerMessage, subscriptionIds: number[], shareFilter: string | undefined, cache?: EncodeCache): boolean {
    const clientId = link.state.clientId as string;
    const packetId = this.allocatePacketId(runtime);
    if (!this.send(link, message, subscriptionIds, packetId, false, cache)) {
      runtime.inflight.delete(packetId);
      return false;
    }
    // Share group messages stay in storage: they may move to another member.
    if (message.qos === 1 && link.state.sessionExpiry === 0 && shareFilter === undefined) this.addVolatile(clientId, runtime, packetId);
    else this.deps.store.enqueue(clientId, message, subscriptionIds, packetId, shareFilter);
    return true;
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
    // Policy: QoS 0 is never queued; a full queue (messages or bytes) drops its oldest message. When the
    // namespace's queues are full together, a session makes room from its own queue, never another's;
    // without one, the new message is dropped for it.
    let { count, bytes } = store.queueUsage(clientId);
    const isNamespaceFull = (): boolean => limits.maxNamespaceQueuedBytes > 0 && store.namespaceQueueBytes() + size > limits.maxNamespaceQueuedBytes;
    while (count > 0 && (count >= limits.maxQueued || bytes + size > limits.maxQueuedBytes || isNamespaceFull())) {
      const dropped = store.dropOldestQueued(clientId);
      count--;
      bytes -= dropped;
      metrics.add('publishDropped');
      log.log('warn', 'queue_full_dropped_oldest', { client: clientId });
    }
    if (isNamespaceFull()) {
      metrics.add('publishDropped');
      log.log('warn', 'namespace_queues_full', { client: clientId, size, queued: store.namespaceQueueBytes() });
      return;
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
    this.unflushed += bytes.byteLength;
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
      for (const head of this.deps.store.inflightHeads(clientId)) {
        if (head.packetId === undefined) continue;
        (head.state === OutboundState.ResendWaiting ? resendWaiting : inflight).add(head.packetId);
        highest = Math.max(highest, head.packetId);
      }
      runtime = {
        inflight,
        resendWaiting,
        volatile: new Set(),
        nextPacketId: (highest % 0xffff) + 1,
        queued: this.deps.store.countQueued(clientId),
        replays: this.replays.load(clientId),
        work: 0,
      };
      this.runtimes.set(clientId, runtime);
    }
    return runtime;
  }

  /** Forgets what is in memory of a session (it ended, or a new connection starts it afresh); a QoS 0 replay ends with it. */
  forget(clientId: string): void {
    this.runtimes.delete(clientId);
  }

  // ---- retained replays (replays.ts) -----------------------------------------------

  /** New subscriptions' retained messages [MQTT-3.3.1-9]: each replay starts, then the window takes what it allows. */
  replay(link: ClientLink, entries: readonly SubscriptionEntry[]): void {
    const clientId = link.state.clientId as string;
    const runtime = this.runtime(clientId);
    for (const entry of entries) {
      // A SUBSCRIBE of the same filter starts its replay again [MQTT-3.8.4-4].
      runtime.replays = runtime.replays.filter((replay) => replay.entry.filter !== entry.filter);
      runtime.replays.push(this.replays.start(entry));
    }
    this.pump(link);
    this.deps.markDirty(link);
  }

  /** A subscription is gone: so is its replay (what it has not sent was never started [MQTT-3.10.4-3]). */
  endReplay(clientId: string, filter: string): void {
    const runtime = this.runtimes.get(clientId);
    if (runtime !== undefined) runtime.replays = runtime.replays.filter((replay) => replay.entry.filter !== filter);
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
    if (runtime.queued > 0 || runtime.resendWaiting.size > 0 || runtime.replays.length > 0) this.deps.suspectStall(clientId);
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
   * The acknowledgement the message in flight under `packetId` waits for:
   * PUBACK (QoS 1), PUBREC (QoS 2, PUBLISH sent) or PUBCOMP (PUBREL sent);
   * undefined when no message is in flight under it.
   */
  awaitedAck(link: ClientLink, packetId: number): 'puback' | 'pubrec' | 'pubcomp' | undefined {
    const clientId = link.state.clientId as string;
    if (this.runtimes.get(clientId)?.volatile.has(packetId) === true) return 'puback';
    const inflight = this.deps.store.inflightOf(clientId, packetId);
    if (inflight === undefined || inflight.state === OutboundState.Queued) return undefined;
    if (inflight.state === OutboundState.PubrelSent) return 'pubcomp';
    return inflight.qos === 1 ? 'puback' : 'pubrec';
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
    return store.isInflight(clientId, packetId) ? 'pubrel' : 'unknown';
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
   * waiting to be resent, then queued ones and replayed retained ones, one
   * of each in turn (a long replay does not hold up the queue, nor the
   * queue a replay), each in its own order. QoS 0 messages of a replay need
   * no room. Stops for a later turn when the connection's output reaches
   * TurnBytes or the client's work TurnWork.
   */
  pump(link: ClientLink): void {
    const clientId = link.state.clientId;
    if (clientId === undefined || link.closed) return;
    const runtime = this.runtime(clientId);
    try {
      if (!this.resendWaiting(link, runtime)) return;
      for (;;) {
        if (this.isTurnOver(link, runtime)) {
          this.continueLater(clientId);
          return;
        }
        const queued = this.sendQueued(link, runtime);
        const replayed = this.sendReplayed(link, runtime);
        if (!queued && !replayed) return;
      }
    } finally {
      this.replays.save(runtime.replays);
      runtime.work += this.replays.rowsRead;
      this.replays.rowsRead = 0;
    }
  }

  private room(link: ClientLink, runtime: SessionRuntime): number {
    return link.state.clientReceiveMaximum - runtime.inflight.size;
  }

  /** Resends (DUP, same ids) what waits for it while there is room; true once none waits. */
  private resendWaiting(link: ClientLink, runtime: SessionRuntime): boolean {
    const clientId = link.state.clientId as string;
    const store = this.deps.store;
    while (runtime.resendWaiting.size > 0) {
      const room = this.room(link, runtime);
      if (room <= 0) return false;
      const heads = store.resendWaitingHeads(clientId, room);
      if (heads.length === 0) {
        // Ids without rows (completed meanwhile): nothing is left to resend.
        runtime.resendWaiting.clear();
        return true;
      }
      for (const head of heads) {
        if (this.isTurnOver(link, runtime)) {
          this.continueLater(clientId);
          return false;
        }
        const packetId = head.packetId as number;
        runtime.resendWaiting.delete(packetId);
        const record = store.outbound(head.id);
        runtime.work += WorkPerMessage;
        if (record === undefined || !this.send(link, record.message, record.subscriptionIds, packetId, true)) {
          store.deleteOutbound(head.id);
          continue;
        }
        runtime.inflight.add(packetId);
        store.setState(head.id, OutboundState.PublishSent);
      }
    }
    return true;
  }

  /** Sends the oldest queued message if the window has room; false when there is nothing to do. */
  private sendQueued(link: ClientLink, runtime: SessionRuntime): boolean {
    if (runtime.queued === 0 || this.room(link, runtime) <= 0) return false;
    const store = this.deps.store;
    const record = store.nextQueued(link.state.clientId as string);
    if (record === undefined) {
      runtime.queued = 0;
      return false;
    }
    runtime.queued = Math.max(0, runtime.queued - 1);
    runtime.work += WorkPerMessage;
    const expiresAt = record.message.expiresAt;
    if (expiresAt !== undefined && expiresAt <= this.deps.now()) {
      store.deleteOutbound(record.id);
      return true;
    }
    const packetId = this.allocatePacketId(runtime);
    if (!this.send(link, record.message, record.subscriptionIds, packetId, false)) {
      runtime.inflight.delete(packetId);
      store.deleteOutbound(record.id);
      return true;
    }
    store.markSent(record.id, packetId);
    // The window may be full now; an exact count is re-read when it opens.
    if (runtime.queued === 0) runtime.queued = 1;
    return true;
  }

  /**
   * One step of the first replay that can go on: a retained message sent
   * (QoS 1/2 only with room in the window), a page of the index read, or a
   * replay ended. False when none can go on.
   */
  private sendReplayed(link: ClientLink, runtime: SessionRuntime): boolean {
    for (const replay of runtime.replays) {
      const step = this.replays.step(replay, this.room(link, runtime) > 0);
      if (step.kind === 'done') {
        runtime.replays = runtime.replays.filter((other) => other !== replay);
        this.replays.save([replay]);
        return true;
      }
      if (step.kind === 'walked') return true;
      if (step.kind === 'blocked') continue;
      const { entry } = replay;
      const qos = Math.min(step.message.qos, entry.qos) as 0 | 1 | 2;
      // [MQTT-3.3.1-8] a retained message sent for a new subscription has RETAIN set.
      const message: BrokerMessage = { ...step.message, qos, retain: true };
      const subscriptionIds = entry.subscriptionId === undefined ? [] : [entry.subscriptionId];
      if (qos === 0) this.send(link, message, subscriptionIds, undefined, false);
      else this.sendInFlight(link, runtime, message, subscriptionIds, undefined);
      this.replays.sent(replay);
      runtime.work += WorkPerMessage;
      return true;
    }
    return false;
  }

  /** Whether this client's pump has done its share for now (only where it can let others run). */
  private isTurnOver(link: ClientLink, runtime: SessionRuntime): boolean {
    if (this.deps.yieldToOthers === undefined) return false;
    return link.pendingBytes + link.backlog >= TurnBytes || this.unflushed >= UnflushedBytes || runtime.work + this.replays.rowsRead >= TurnWork;
  }

  /**
   * The client's pump goes on in a later turn, after other connections'
   * events: its output is flushed first, so at most TurnBytes of it wait
   * in memory.
   */
  private continueLater(clientId: string): void {
    const link = this.deps.linkOf(clientId);
    if (link !== undefined && link.backlog >= TurnBytes) {
      // Its transport holds a turn's worth already (a gateway's calls): the pump waits for it, without spinning.
      if (this.draining.has(clientId)) return;
      this.draining.add(clientId);
      void link.drained().then(() => {
        this.draining.delete(clientId);
        this.continueLater(clientId);
      });
      return;
    }
    this.continuing.add(clientId);
    const pause = this.deps.yieldToOthers;
    if (this.continuationPending || pause === undefined) return;
    this.continuationPending = true;
    void pause().then(() => {
      this.continuationPending = false;
      this.flushNow();
      const clients = [...this.continuing];
      this.continuing.clear();
      for (const id of clients) {
        const runtime = this.runtimes.get(id);
        const link = this.deps.linkOf(id);
        if (runtime === undefined || link === undefined) continue;
        runtime.work = 0;
        this.pump(link);
        // Each client's turn leaves before the next one's is made.
        this.flushNow();
      }
    });
  }

  private flushNow(): void {
    this.deps.flush();
    this.flushed();
  }

  /** Every connection's output has been flushed (the host's deferred flush, or a turn's own). */
  flushed(): void {
    this.unflushed = 0;
  }

  /**
   * On reconnect with a session present: resend unacknowledged PUBREL and
   * PUBLISH (DUP, original ids) in their order [MQTT-4.4.0-1, MQTT-4.6.0-1],
   * but never more PUBLISH than the new connection's Receive Maximum
   * [MQTT-3.3.4-9]: every unacknowledged PUBLISH waits to be resent, and
   * the pump resends them as the window allows, ahead of anything queued,
   * then the queue and the replays follow.
   */
  resume(link: ClientLink): void {
    const clientId = link.state.clientId as string;
    const store = this.deps.store;
    for (const head of store.inflightHeads(clientId)) {
      if (head.packetId !== undefined && head.state === OutboundState.PubrelSent) link.write({ cmd: 'pubrel', messageId: head.packetId });
    }
    store.markUnacknowledgedForResend(clientId);
    // Read again: the PUBLISH ids wait now, the PUBREL ones are in flight.
    this.forget(clientId);
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
    return { queued: this.deps.store.countQueued(clientId) + runtime.resendWaiting.size + runtime.replays.length, inflight: runtime.inflight.size, window: link.state.clientReceiveMaximum };
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

  /**
   * What the admin API shows of a session: queued counts messages waiting
   * to be resent and the retained messages its replays have left (read for
   * the count: an admin read of one session).
   */
  summary(clientId: string): OutboundSummary {
    const store = this.deps.store;
    const resendWaiting = store.countResendWaiting(clientId);
    const stored = store.countInflight(clientId) - resendWaiting;
    const link = this.deps.linkOf(clientId);
    const replays = link === undefined ? this.replays.load(clientId) : this.runtime(clientId).replays;
    const replaying = replays.reduce((sum, replay) => sum + this.replays.remaining(replay), 0);
    const summary: OutboundSummary = { queued: store.countQueued(clientId) + resendWaiting + replaying, inflight: stored, inflightStored: stored, inflightMemoryOnly: 0 };
    if (link !== undefined) {
      const runtime = this.runtime(clientId);
      summary.inflight = runtime.inflight.size;
      summary.inflightMemoryOnly = runtime.volatile.size;
      summary.receiveMaximum = link.state.clientReceiveMaximum;
    }
    return summary;
  }
}
