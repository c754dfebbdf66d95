/**
 * Routing: the subscription tree of a namespace, and `route(message)`,
 * which says who gets a message and how. It touches no connection and no
 * storage; the caller delivers.
 */
import { isBrokerSystemName } from './access.ts';
import type { BrokerMessage } from './message.ts';
import { TopicTree, type SubscriptionEntry } from './topic-tree.ts';

/** How one client gets one routed message. Plain data: it may cross to another object. */
export interface Delivery {
  clientId: string;
  /** The highest QoS of the client's matching subscriptions; the message's own QoS may be lower. */
  qos: 0 | 1 | 2;
  retainAsPublished: boolean;
  subscriptionIds: number[];
  /** Set when the client gets the message as a member of this share group (`$share/g/f`). */
  shareFilter?: string;
  /** Every subscription it comes through lets the client read only some messages: check this one. */
  readCheck?: boolean;
}

/** What routing asks of the namespace about subscribers. */
export interface RoutingContext {
  isOnline(clientId: string): boolean;
  /** May the client of a subscription that needs a read check get a message on `topic`? */
  mayRead(clientId: string, topic: string): boolean;
}

/** The filter used for matching: without the `$share/{group}/` prefix. */
export function matchFilterOf(entry: Pick<SubscriptionEntry, 'filter' | 'shareGroup'>): string {
  if (entry.shareGroup === undefined) return entry.filter;
  return entry.filter.slice('$share/'.length + entry.shareGroup.length + 1);
}

/** How a message goes to the client of one subscription. */
export function deliveryOf(entry: SubscriptionEntry): Delivery {
  const delivery: Delivery = {
    clientId: entry.clientId,
    qos: entry.qos,
    retainAsPublished: entry.retainAsPublished,
    subscriptionIds: entry.subscriptionId === undefined ? [] : [entry.subscriptionId],
  };
  if (entry.shareGroup !== undefined) delivery.shareFilter = entry.filter;
  if (entry.readCheck === true) delivery.readCheck = true;
  return delivery;
}

export class Router {
  private readonly tree = new TopicTree();
  /** Round-robin position per share group. */
  private readonly shareCursor = new Map<string, number>();
  /** Subscriptions per client whose filter can match a topic of the broker's `$SYS` tree (not only bridges' states). */
  private readonly systemSubscriptions = new Map<string, number>();

  get size(): number {
    return this.tree.size;
  }

  /** Adds or replaces a subscription; returns true when it is a new one that can match `$SYS` topics. */
  add(entry: SubscriptionEntry): boolean {
    const filter = matchFilterOf(entry);
    const before = this.tree.size;
    this.tree.add(filter, entry);
    if (this.tree.size === before || !isBrokerSystemName(filter)) return false;
    this.systemSubscriptions.set(entry.clientId, (this.systemSubscriptions.get(entry.clientId) ?? 0) + 1);
    return true;
  }

  remove(entry: SubscriptionEntry): void {
    const filter = matchFilterOf(entry);
    if (!this.tree.remove(filter, entry.clientId, entry.filter) || !isBrokerSystemName(filter)) return;
    const remaining = (this.systemSubscriptions.get(entry.clientId) ?? 1) - 1;
    if (remaining > 0) this.systemSubscriptions.set(entry.clientId, remaining);
    else this.systemSubscriptions.delete(entry.clientId);
  }

  hasSystemSubscription(clientId: string): boolean {
    return this.systemSubscriptions.has(clientId);
  }

  /** Whether any client for which `isOnline` holds subscribes to `$SYS`. */
  hasOnlineSystemSubscriber(isOnline: (clientId: string) => boolean): boolean {
    for (const clientId of this.systemSubscriptions.keys()) if (isOnline(clientId)) return true;
    return false;
  }

  /**
   * Who gets `message`: one delivery per client for its own subscriptions,
   * at the highest granted QoS with all their identifiers [MQTT-3.3.4-2],
   * and one per share group, to one member [MQTT-4.8.2]: round robin over
   * the members that `isOnline`, else any (it is queued for later), among
   * those who may read it. A group's copy is apart from the member's own
   * subscriptions, so a client may get the message twice. Deliveries with
   * `readCheck` are the caller's to check.
   */
  /** Subscriptions matched since last asked: the work routing did (Connections turns by it). */
  takeMatched(): number {
    const matched = this.matched;
    this.matched = 0;
    return matched;
  }

  private matched = 0;

  route(message: BrokerMessage, context: RoutingContext): Delivery[] {
    const targets = new Map<string, Delivery>();
    const groups = new Map<string, SubscriptionEntry[]>();
    this.tree.match(message.topic, (entry) => {
      this.matched++;
      if (entry.shareGroup !== undefined) {
        const key = `${entry.shareGroup}\u0000${matchFilterOf(entry)}`;
        const members = groups.get(key);
        if (members === undefined) groups.set(key, [entry]);
        else members.push(entry);
        return;
      }
      // [MQTT-3.8.3-3] No Local: not back to the publisher.
      if (entry.noLocal && entry.clientId === message.senderClientId) return;
      mergeInto(targets, entry);
    });
    const deliveries = [...targets.values()];
    for (const [key, members] of groups) {
      const readers = members.filter((member) => member.readCheck !== true || context.mayRead(member.clientId, message.topic));
      if (readers.length === 0) continue;
      const member = this.pickShareMember(key, readers, (clientId) => context.isOnline(clientId));
      // Chosen among those who may read it: no check left for the caller.
      const { readCheck: _, ...delivery } = deliveryOf(member);
      deliveries.push(delivery);
    }
    return deliveries;
  }

  /** One member of a share group: round robin over `isOnline` members, else over all. */
  pickShareMember(key: string, members: SubscriptionEntry[], isOnline: (clientId: string) => boolean): SubscriptionEntry {
    const online = members.filter((member) => isOnline(member.clientId));
    const pool = online.length > 0 ? online : members;
    const cursor = ((this.shareCursor.get(key) ?? -1) + 1) % pool.length;
    this.shareCursor.set(key, cursor);
    return pool[cursor] as SubscriptionEntry;
  }
}

/** Overlapping (non-shared) subscriptions of one client: one delivery at the highest QoS, all identifiers [MQTT-3.3.4-2]. */
function mergeInto(targets: Map<string, Delivery>, entry: SubscriptionEntry): void {
  const existing = targets.get(entry.clientId);
  if (existing === undefined) {
    targets.set(entry.clientId, deliveryOf(entry));
    return;
  }
  if (entry.qos > existing.qos) existing.qos = entry.qos;
  existing.retainAsPublished ||= entry.retainAsPublished;
  if (entry.subscriptionId !== undefined && !existing.subscriptionIds.includes(entry.subscriptionId)) existing.subscriptionIds.push(entry.subscriptionId);
  // A subscription that delivers everything it matches vouches for the message: no check.
  if (entry.readCheck !== true) delete existing.readCheck;
}
