/**
 * The reference model: what MQTT requires of a broker, written from the
 * spec, not from the broker's code. It knows which sessions exist, what
 * each subscribes to, which messages each is owed, and what a subscriber may
 * receive at all; the model test compares the broker with it after every step.
 *
 * It deliberately allows what the spec allows: a QoS 1 message may arrive
 * twice; a QoS 0 message to a client whose connection ends in the same
 * instant may be lost; a shared subscription's message may go to any member;
 * a retained message a SUBSCRIBE owes and the broker has not started to
 * send (the client's window is full) may be passed over once it is replaced
 * or cleared (the replacement went to the subscription live; a cleared one
 * is gone, as an expired one would be), once the subscription is
 * unsubscribed [MQTT-3.10.4-3], or when the same filter is subscribed again
 * (which owes the retained messages of then instead [MQTT-3.8.4-4]).
 * It is strict where the spec is: a QoS 2 message arrives once, QoS 0 is not
 * kept for an offline session, an ended session gets nothing of the old
 * one, and messages of one publisher and topic arrive in the order sent.
 */
import type { QoS } from '../../shared/codec/types.ts';

export const SessionNeverExpires = 0xffffffff;

/** Topic filter matching, written apart from the broker's (spec 4.7). */
export function filterMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  // [MQTT-4.7.2-1] wildcards at the first level do not match topics starting with '$'.
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

export interface ModelMessage {
  key: string;
  /** Who published it: a client id, or `will:<client id>`. */
  publisher: string;
  topic: string;
  qos: QoS;
  retain: boolean;
  /** Publication order, namespace-wide. */
  seq: number;
}

export interface Subscription {
  qos: QoS;
  /** Share group name, for `$share/<group>/<filter>`. */
  group?: string;
  /** The filter that is matched (without the share prefix). */
  match: string;
}

export interface WillModel {
  key: string;
  topic: string;
  qos: QoS;
  retain: boolean;
}

export interface SessionModel {
  clientId: string;
  level: 3 | 4 | 5;
  /** Seconds after disconnect; 0 ends the session with its connection. */
  expiry: number;
  keepAlive: number;
  connected: boolean;
  disconnectedAt?: number;
  will?: WillModel;
  subscriptions: Map<string, Subscription>;
  /** Share filters this session subscribed to at some point (members may get the group's messages). */
  shareFilters: Set<string>;
  /**
   * QoS 1/2 deliveries the session must make at least once, by owedKey,
   * and how many (a retained message is sent again on every SUBSCRIBE that
   * matches it).
   */
  owed: Map<string, number>;
  /** QoS 0 messages a connected session must get in this step. */
  expected0: Set<string>;
  /** QoS 0 messages it may get in this step (its connection ends at the same instant). */
  optional0: Set<string>;
  /** Delivery keys the application got in this session, for order. */
  delivered: Set<string>;
  /** QoS 2 deliveries the session was owed in all, and got, by delivery key: exactly once each. */
  qos2Due: Map<string, number>;
  qos2Got: Map<string, number>;
  /** Last publication seq seen per stream (publisher, topic, QoS), for order. */
  streams: Map<string, number>;
  /**
   * Retained messages owed by a SUBSCRIBE at QoS 1 or 2 and not yet sent,
   * per filter and topic, at the QoS they go at (which may be 0): what the
   * broker may still pass over (see the class comment).
   */
  replays: Map<string, Map<string, { key: string; qos: QoS }>>;
}

/** One delivery of a message: live, or a retained one sent on subscribe. */
export function deliveryKey(key: string, retain: boolean): string {
  return retain ? `${key}#retained` : key;
}

/** What a session owes: a delivery at one QoS (a retained message may be owed at two QoS after two SUBSCRIBEs). */
export function owedKey(delivery: string, qos: QoS): string {
  return `${delivery}@q${qos}`;
}

export class ReferenceModel {
  readonly sessions = new Map<string, SessionModel>();
  readonly retained = new Map<string, ModelMessage>();
  readonly messages = new Map<string, ModelMessage>();
  /** Messages of share groups, by key: the groups that must each get them once. */
  private readonly sharedPending = new Map<string, Set<string>>();
  /** QoS 2 messages of share groups, by key and group: the session that got it. */
  private readonly sharedQoS2 = new Map<string, string>();
  private seq = 0;
  private keyCounter = 0;
  readonly violations: string[] = [];

  newKey(prefix = 'm'): string {
    return `${prefix}${++this.keyCounter}`;
  }

  violation(text: string): void {
    this.violations.push(text);
  }

  /** A message the broker accepted (a PUBLISH, or a will): who must, may and must not get it. */
  route(message: Omit<ModelMessage, 'seq'>, instantlyClosing: ReadonlySet<string> = new Set()): void {
    const routed: ModelMessage = { ...message, seq: ++this.seq };
    this.messages.set(routed.key, routed);
    if (routed.retain) {
      // The tests never publish an empty retained payload as a message; clearing is modelled apart.
      this.passOverReplays(routed.topic);
      this.retained.set(routed.topic, routed);
    }
    const groups = new Set<string>();
    for (const session of this.sessions.values()) {
      let qos: QoS | undefined;
      for (const subscription of session.subscriptions.values()) {
        if (!filterMatches(subscription.match, routed.topic)) continue;
        if (subscription.group !== undefined) {
          groups.add(`${subscription.group}/${subscription.match}`);
          continue;
        }
        if (qos === undefined || subscription.qos > qos) qos = subscription.qos;
      }
      if (qos === undefined) continue;
      // [MQTT-3.8.4-8] delivered at the lower of the message's and the subscription's QoS.
      const effective = Math.min(routed.qos, qos) as QoS;
      this.expect(session, routed.key, false, effective, instantlyClosing.has(session.clientId));
    }
    if (groups.size > 0) this.sharedPending.set(routed.key, groups);
  }

  /**
   * The retained messages sent to a new subscription [MQTT-3.3.1-9]: at
   * QoS 0 now, at QoS 1 or 2 as the client's window allows (owed until
   * started, see `replays`). What an earlier SUBSCRIBE of the filter has
   * not started is owed no more [MQTT-3.8.4-4].
   */
  expectRetained(session: SessionModel, filterKey: string, filter: Subscription): void {
    this.endReplay(session, filterKey);
    const pending = new Map<string, { key: string; qos: QoS }>();
    for (const message of this.retained.values()) {
      if (!filterMatches(filter.match, message.topic)) continue;
      const qos = Math.min(message.qos, filter.qos) as QoS;
      if (filter.qos === 0) {
        this.expect(session, message.key, true, qos, false);
        continue;
      }
      pending.set(message.topic, { key: message.key, qos });
      if (qos > 0) this.expect(session, message.key, true, qos, false);
    }
    if (pending.size > 0) session.replays.set(filterKey, pending);
  }

  /** A subscription is gone: the retained messages it had not started to send are owed no more [MQTT-3.10.4-3]. */
  endReplay(session: SessionModel, filterKey: string): void {
    for (const pending of session.replays.get(filterKey)?.values() ?? []) this.unexpect(session, pending.key, pending.qos);
    session.replays.delete(filterKey);
  }

  /** A retained topic is replaced or cleared: no replay sends its old message any more. */
  private passOverReplays(topic: string): void {
    for (const session of this.sessions.values()) {
      for (const [filterKey, pending] of session.replays) {
        const entry = pending.get(topic);
        if (entry === undefined) continue;
        pending.delete(topic);
        this.unexpect(session, entry.key, entry.qos);
        if (pending.size === 0) session.replays.delete(filterKey);
      }
    }
  }

  /** A retained delivery owed at `qos` is not owed any more. */
  private unexpect(session: SessionModel, key: string, qos: QoS): void {
    if (qos === 0) return;
    const delivery = deliveryKey(key, true);
    const owed = owedKey(delivery, qos);
    const count = session.owed.get(owed) ?? 0;
    if (count <= 1) session.owed.delete(owed);
    else session.owed.set(owed, count - 1);
    if (qos !== 2) return;
    const due = (session.qos2Due.get(delivery) ?? 0) - 1;
    if (due <= 0) session.qos2Due.delete(delivery);
    else session.qos2Due.set(delivery, due);
  }

  /** A retained message went out: it is started (no replay passes it over now); true if a replay owed it at this QoS. */
  private startReplayed(session: SessionModel, key: string, topic: string, qos: QoS): boolean {
    for (const [filterKey, pending] of session.replays) {
      const entry = pending.get(topic);
      if (entry === undefined || entry.key !== key || entry.qos !== qos) continue;
      pending.delete(topic);
      if (pending.size === 0) session.replays.delete(filterKey);
      return true;
    }
    return false;
  }

  /** Retained messages replays owe at QoS 0 (sent after QoS 1/2 ones of theirs, so they may wait too). */
  static pendingQoS0(session: SessionModel): number {
    let count = 0;
    for (const pending of session.replays.values()) for (const entry of pending.values()) if (entry.qos === 0) count++;
    return count;
  }

  private expect(session: SessionModel, key: string, retain: boolean, qos: QoS, mayBeLost: boolean): void {
    const delivery = deliveryKey(key, retain);
    if (qos > 0) {
      const owed = owedKey(delivery, qos);
      session.owed.set(owed, (session.owed.get(owed) ?? 0) + 1);
      if (qos === 2) session.qos2Due.set(delivery, (session.qos2Due.get(delivery) ?? 0) + 1);
    } else if (session.connected) {
      // [MQTT-4.3.1] QoS 0 goes out now or never: it is not kept for an offline session.
      (mayBeLost ? session.optional0 : session.expected0).add(delivery);
    }
  }

  clearRetained(topic: string): void {
    this.passOverReplays(topic);
    this.retained.delete(topic);
  }

  /** The application of `clientId` got a message. */
  delivered(clientId: string, received: { key: string; topic: string; qos: QoS; retain: boolean }): void {
    const session = this.sessions.get(clientId);
    if (session === undefined || !session.connected) {
      this.violation(`${clientId} got ${received.key} without a connected session`);
      return;
    }
    const message = this.messages.get(received.key);
    if (message === undefined) {
      this.violation(`${clientId} got an unknown message ${received.key}`);
      return;
    }
    if (message.topic !== received.topic) this.violation(`${clientId} got ${received.key} on ${received.topic}, published on ${message.topic}`);
    const delivery = deliveryKey(received.key, received.retain);
    const replayed = received.retain && this.startReplayed(session, received.key, received.topic, received.qos);
    // Explained by the session's own subscriptions first; otherwise as one of its share groups' copy [MQTT-4.8.2].
    let own = received.qos === 0 ? replayed || session.expected0.has(delivery) || session.optional0.has(delivery) : session.owed.has(owedKey(delivery, received.qos));
    if (received.qos === 2 && own && (session.qos2Got.get(delivery) ?? 0) >= (session.qos2Due.get(delivery) ?? 0)) own = false;
    const asShared = !own && this.takeShared(session, received.key, received.qos);
    if (!own && !asShared) {
      const otherQoS = ([1, 2] as const).find((qos) => qos !== received.qos && session.owed.has(owedKey(delivery, qos)));
      if (otherQoS !== undefined) this.violation(`${clientId} got ${received.key} at QoS ${received.qos}, owed at QoS ${otherQoS}`);
      else if (received.qos === 2 && session.qos2Due.has(delivery)) this.violation(`${clientId} got QoS 2 message ${delivery} more often than owed (${session.qos2Due.get(delivery)}) [MQTT-4.3.3]`);
      else this.violation(`${clientId} got ${delivery} (QoS ${received.qos}) that its session is not owed: ended session, offline QoS 0, a resend after acknowledgement, or a stray delivery`);
      return;
    }
    if (own && received.qos === 0) {
      session.expected0.delete(delivery);
      session.optional0.delete(delivery);
    }
    if (own && received.qos === 2) session.qos2Got.set(delivery, (session.qos2Got.get(delivery) ?? 0) + 1);
    const first = !session.delivered.has(delivery);
    session.delivered.add(delivery);
    if (first && !received.retain && !asShared) {
      // [MQTT-4.6.0-6] per publisher and topic, messages of one QoS arrive in the order published.
      const stream = `${message.publisher}|${message.topic}|${received.qos}`;
      const last = session.streams.get(stream) ?? 0;
      if (message.seq < last) this.violation(`${clientId} got ${received.key} after a later message of ${stream}`);
      session.streams.set(stream, message.seq);
    }
  }

  /** Whether a delivery counts for one of the share groups the session belongs to. */
  private takeShared(session: SessionModel, key: string, qos: QoS): boolean {
    const pending = this.sharedPending.get(key);
    if (pending === undefined) return false;
    const groups = [...pending].filter((group) => session.shareFilters.has(`$share/${group}`));
    if (groups.length === 0) return false;
    if (qos !== 2) return true;
    // [MQTT-4.8.2] each group sends a QoS 2 message to one member, once.
    const free = groups.find((group) => !this.sharedQoS2.has(`${key}|${group}`));
    if (free === undefined) {
      this.violation(`QoS 2 message ${key} reached ${session.clientId} more often than its share groups (${groups.join(', ')}) send it [MQTT-4.8.2]`);
    } else {
      this.sharedQoS2.set(`${key}|${free}`, session.clientId);
    }
    return true;
  }

  /** The client answered a message for good: its session no longer owes it. */
  acknowledged(clientId: string, key: string, retain: boolean, qos: QoS): void {
    const session = this.sessions.get(clientId);
    if (session === undefined) return;
    const owed = owedKey(deliveryKey(key, retain), qos);
    const count = session.owed.get(owed);
    if (count === undefined) return;
    if (count <= 1) session.owed.delete(owed);
    else session.owed.set(owed, count - 1);
  }

  /** After a step: QoS 0 messages a connected client had to get now. */
  endOfStep(): void {
    for (const session of this.sessions.values()) {
      for (const delivery of session.expected0) this.violation(`${session.clientId} never got QoS 0 message ${delivery} while connected`);
      session.expected0.clear();
      session.optional0.clear();
    }
  }

  /** The connection of a session ended; `withWill` unless it was a clean DISCONNECT. */
  connectionEnded(clientId: string, now: number, withWill: boolean, instantlyClosing: ReadonlySet<string> = new Set()): void {
    const session = this.sessions.get(clientId);
    if (session === undefined || !session.connected) return;
    session.connected = false;
    session.disconnectedAt = now;
    session.expected0.clear();
    session.optional0.clear();
    // [MQTT-3.1.2-8] the will goes out when the connection ends without a clean DISCONNECT.
    if (withWill && session.will !== undefined) this.publishWill(session, instantlyClosing);
    delete session.will;
    if (session.expiry === 0) this.sessions.delete(clientId);
  }

  publishWill(session: SessionModel, instantlyClosing: ReadonlySet<string>): void {
    const will = session.will;
    if (will === undefined) return;
    this.route({ key: will.key, publisher: `will:${session.clientId}`, topic: will.topic, qos: will.qos, retain: will.retain }, instantlyClosing);
  }

  /** Offline sessions whose expiry has passed are gone [MQTT-3.1.2-23]. */
  expireSessions(now: number): void {
    for (const [clientId, session] of this.sessions) {
      if (session.connected || session.expiry === SessionNeverExpires || session.disconnectedAt === undefined) continue;
      if (now >= session.disconnectedAt + session.expiry * 1000) this.sessions.delete(clientId);
    }
  }

  /** QoS 1/2 deliveries a session still owes. */
  static owedCount(session: SessionModel): number {
    let count = 0;
    for (const owed of session.owed.values()) count += owed;
    return count;
  }

  subscriptionCount(): number {
    let count = 0;
    for (const session of this.sessions.values()) count += session.subscriptions.size;
    return count;
  }
}
