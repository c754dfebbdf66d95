/**
 * The lives of sessions beyond their connections: what happens when a
 * connection ends (the will, now or delayed; the session kept or ended),
 * session expiry, deleting a session with everything it owns, and handing
 * a leaving share group member's messages to another member.
 */
import type { Identity } from './access.ts';
import type { DeadlineSource } from './deadlines.ts';
import type { Logger } from './log.ts';
import type { BrokerMessage } from './message.ts';
import type { Outbound } from './outbound.ts';
import { deliveryOf, type Router } from './router.ts';
import { SessionNeverExpires, type SessionRecord, type SessionStore } from './session-store.ts';

/**
 * Whose a will is: the client that left it, as its session knew it (the
 * identity of the connection that set the will). It is checked against
 * the access rules as it goes out, as that client's publish would be.
 */
export interface WillOwner {
  clientId: string;
  identity?: Identity;
  protocolLevel: 3 | 4 | 5;
}

/** A will and whose it is. */
export interface OwnedWill {
  will: BrokerMessage;
  owner: WillOwner;
}

export interface SessionsDeps {
  store: SessionStore;
  router: Router;
  outbound: Outbound;
  log: Logger;
  now(): number;
  requestAlarm(at: number): void;
  isConnected(clientId: string): boolean;
  /** Whether the client may read a message on `topic` (the namespace's rules and its grants). */
  mayRead(clientId: string, topic: string): boolean;
  /** Publishes a will, if its owner may publish it now; settles once it is routed (or refused). */
  publish(message: BrokerMessage, owner: WillOwner): Promise<void>;
  /** A session is gone: forget what is kept of it in memory elsewhere. */
  deleted(clientId: string): void;
}

export class Sessions implements DeadlineSource {
  constructor(private readonly deps: SessionsDeps) {}

  /**
   * The connection `connectionId` of `clientId` is gone: fire or delay the
   * will (a clean DISCONNECT has already removed it), expire or keep the session.
   */
  connectionEnded(clientId: string, connectionId: string): void {
    const { store } = this.deps;
    const session = store.getSession(clientId);
    if (session === undefined || session.connectionId !== connectionId) return;
    const now = this.deps.now();
    let willAt: number | undefined;
    if (session.will !== undefined) {
      // [MQTT-3.1.3-9] the will waits for its delay, but never beyond the session.
      const delay = Math.min(session.will.delaySeconds, session.expiryInterval);
      if (delay > 0) willAt = now + delay * 1000;
      else this.publishWill(session);
    }
    if (session.expiryInterval === 0) {
      if (willAt !== undefined && session.will !== undefined) this.publishWill(session);
      this.delete(clientId);
    } else {
      if (willAt === undefined && session.will !== undefined) store.clearWill(clientId);
      store.markDisconnected(clientId, now, willAt);
      if (willAt !== undefined) this.deps.requestAlarm(willAt);
      if (session.expiryInterval !== SessionNeverExpires) this.deps.requestAlarm(now + session.expiryInterval * 1000);
    }
  }

  /** Clean start [MQTT-3.1.2-4]: the old session goes; a will still waiting for its delay is sent now. */
  discard(clientId: string): void {
    const existing = this.deps.store.getSession(clientId);
    if (existing === undefined) return;
    if (existing.will !== undefined && existing.willAt !== undefined) this.publishWill(existing);
    this.delete(clientId);
  }

  /**
   * A session whose expiry passed while its alarm has not fired yet ends
   * now, as the alarm would end it: a client that comes back late must not
   * find it [MQTT-3.1.2-23].
   */
  expireIfDue(clientId: string): void {
    const session = this.deps.store.getSession(clientId);
    if (session === undefined || session.connectionId !== undefined || session.disconnectedAt === undefined) return;
    if (session.expiryInterval === SessionNeverExpires || session.disconnectedAt + session.expiryInterval * 1000 > this.deps.now()) return;
    if (session.will !== undefined && session.willAt !== undefined) this.publishWill(session);
    this.delete(clientId);
    this.deps.log.log('info', 'session_expired', { client: clientId });
  }

  /** Deletes a session and its subscriptions, from storage and the topic tree. */
  delete(clientId: string): void {
    const { store, router, outbound } = this.deps;
    if (!this.deps.isConnected(clientId)) this.handOverShared(clientId);
    for (const entry of store.subscriptionsOf(clientId)) router.remove(entry);
    store.deleteSession(clientId);
    outbound.forget(clientId);
    this.deps.deleted(clientId);
  }

  /**
   * A share group member left: its queued messages of the group, and QoS 1
   * ones it has not acknowledged, go to a connected member instead
   * [MQTT-4.8.2], one that may read them, as when the group's messages are
   * routed (a message no other member may read stays with the session).
   * QoS 2 messages in flight stay with the session, which must complete them.
   */
  handOverShared(clientId: string): void {
    const { store, router, outbound } = this.deps;
    const isConnected = (id: string): boolean => this.deps.isConnected(id);
    // Read one message at a time: a member's queue may hold megabytes.
    for (const head of store.shareMovable(clientId)) {
      const shareFilter = head.shareFilter as string;
      const topic = head.topic;
      const members = store
        .subscribersOf(shareFilter)
        .filter((entry) => entry.clientId !== clientId && isConnected(entry.clientId) && (entry.readCheck !== true || this.deps.mayRead(entry.clientId, topic)));
      if (members.length === 0) continue;
      const record = store.outbound(head.id);
      if (record === undefined) continue;
      const member = router.pickShareMember(`move\u0000${shareFilter}`, members, isConnected);
      store.deleteOutbound(head.id);
      if (head.packetId !== undefined) outbound.release(clientId, head.packetId);
      outbound.deliver(record.message, { ...deliveryOf(member), shareFilter });
    }
  }

  /** Sends the session's will, as the session's owner; read before the session goes, so the owner is still known. */
  private publishWill(session: SessionRecord): void {
    if (session.will === undefined) return;
    void this.deps.publish({ ...session.will }, ownerOf(session));
  }

  /**
   * The wills a broker stop sends at once: those of the connected clients
   * `clientIds` and those of offline sessions still waiting for their delay.
   * Each is taken off its session, so nothing publishes it a second time.
   */
  takeWills(clientIds: readonly string[]): OwnedWill[] {
    const { store } = this.deps;
    const wills: OwnedWill[] = [];
    for (const clientId of [...clientIds, ...store.dueWills(Number.MAX_SAFE_INTEGER)]) {
      const session = store.getSession(clientId);
      if (session?.will === undefined) continue;
      store.clearWill(clientId);
      wills.push({ will: { ...session.will }, owner: ownerOf(session) });
    }
    return wills;
  }

  nextDeadline(): number | undefined {
    return this.deps.store.nextSessionDeadline();
  }

  /** Delayed wills that are due, and offline sessions whose expiry has passed [MQTT-3.1.2-23]. */
  onAlarm(now: number): void {
    const { store, log } = this.deps;
    for (const clientId of store.dueWills(now)) {
      const session = store.getSession(clientId);
      store.clearWill(clientId);
      if (session !== undefined) this.publishWill(session);
    }
    for (const clientId of store.expiredSessions(now)) {
      const session = store.getSession(clientId);
      if (session?.will !== undefined && session.willAt !== undefined) this.publishWill(session);
      this.delete(clientId);
      log.log('info', 'session_expired', { client: clientId });
    }
  }
}

function ownerOf(session: SessionRecord): WillOwner {
  return { clientId: session.clientId, protocolLevel: session.protocolLevel, ...(session.identity === undefined ? {} : { identity: session.identity }) };
}
