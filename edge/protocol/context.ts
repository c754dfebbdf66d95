/**
 * What a packet handler may use of its namespace. Handlers depend on this
 * interface only, never on the namespace class, so the protocol logic and
 * the core can change apart (and a handler can be tested with a fake).
 */
import type { MqttPacket } from '../../shared/codec/types.ts';
import type { BrokerMessage } from '../core/message.ts';
import type { BrokerLimits, ConnectTerms } from '../core/limits.ts';
import type { ClientAccess, Identity } from '../core/access.ts';
import type { BrokerHooks, ClientInfo, HookName, HookOutcome } from '../core/hooks.ts';
import type { ClientLink } from '../core/link.ts';
import type { Logger } from '../core/log.ts';
import type { ConnectionLog } from '../core/connection-log.ts';
import type { BrokerMetrics } from '../core/metrics.ts';
import type { Outbound } from '../core/outbound.ts';
import type { SessionStore } from '../core/session-store.ts';
import type { SubscriptionEntry } from '../core/topic-tree.ts';
import type { CloseCause } from '../core/close-cause.ts';

/** What handlers keep per session and per connection beyond the attachment (all SQLite). */
export type ProtocolStore = Pick<
  SessionStore,
  | 'getSession'
  | 'saveConnectedSession'
  | 'countSessions'
  | 'setExpiryInterval'
  | 'clearWill'
  | 'rememberInboundQoS2'
  | 'countInboundQoS2'
  | 'hasInboundQoS2'
  | 'releaseInboundQoS2'
  | 'savePendingConnect'
  | 'loadPendingConnect'
  | 'deletePendingConnect'
  | 'saveTopicAlias'
  | 'loadTopicAliases'
  | 'hasSubscription'
  | 'countSubscriptions'
  | 'subscriptionsOf'
>;

export interface ProtocolContext {
  readonly namespace: string;
  readonly limits: BrokerLimits;
  readonly hooks: BrokerHooks;
  readonly log: Logger;
  /** Connection events (accepted, refused, closed, …), in the shape the sidecar logs them too. */
  readonly connectionLog: ConnectionLog;
  readonly metrics: BrokerMetrics;
  readonly store: ProtocolStore;
  /** The outbound window and queue of each session; acknowledgements go here. */
  readonly outbound: Pick<Outbound, 'puback' | 'pubrec' | 'pubcomp' | 'resume' | 'awaitedAck'>;
  now(): number;
  newId(): string;

  /** What hooks are told about the client of `link`. */
  clientInfo(link: ClientLink): ClientInfo;
  /** Calls a user hook within its time limit; a failure is logged and reported, never thrown. */
  runHook<T>(name: HookName, clientId: string | undefined, call: () => T | Promise<T>): Promise<HookOutcome<T>>;

  // ---- this connection ----
  /** `link` has output to send at the end of the event. */
  markDirty(link: ClientLink): void;
  /** Sends all pending output now (before a hook that may take long). */
  flush(): void;
  /** Lets the namespace's other connections have a turn, within a packet that does much work (a SUBSCRIBE of many filters). */
  pace(): Promise<void>;
  /** Refuses a CONNECT: CONNACK with the reason for the client's level, then close. */
  /** `who`: the refused CONNECT's client id and username, for the log. */
  refuseConnect(link: ClientLink, reasonCode: number, message: string, who?: { client?: string; username?: string | undefined }): void;
  /** Server-initiated close of a connected client (5.0: DISCONNECT with the reason first). */
  disconnect(link: ClientLink, reasonCode: number, message: string, cause: CloseCause): void;
  /** Sends a QoS 1/2 acknowledgement (PUBACK, PUBREC), or holds it while the client is over its fair share (core/fair-share.ts). */
  acknowledge(link: ClientLink, ack: MqttPacket): void;
  /** Whether the client is over its share while the namespace is behind: its QoS 0 messages are then dropped. */
  slows(link: ClientLink): boolean;
  /** Counts a QoS 0 message dropped because its client was slowed. */
  dropSlowed(link: ClientLink): void;
  /**
   * A PUBLISH within the publish rates (core/publish-rate.ts): true at once,
   * or for QoS 1/2 when its turn comes; false for QoS 0 over them (dropped, counted).
   */
  admitPublish(link: ClientLink, qos: number): boolean | Promise<boolean>;
  /** The limits the connection was given at CONNECT, which hold to its end (core/limits.ts). */
  termsOf(link: ClientLink): ConnectTerms;
  /** The client ended the connection itself (DISCONNECT): close it and end it, without a will. */
  closeByClient(link: ClientLink): void;
  /** Asks for the alarm at the link's next deadline (keep-alive). */
  watchKeepAlive(link: ClientLink): void;

  // ---- client ids ----
  linkOf(clientId: string): ClientLink | undefined;
  readonly connectedCount: number;
  /** Subscriptions of every session of the namespace (its topic tree). */
  readonly subscriptionCount: number;
  /** Makes `link` the live connection of its client (after CONNACK). */
  bindClient(link: ClientLink, clientId: string): void;

  // ---- sessions ----
  /** Clean start: the old session goes (a will still waiting is sent now). */
  discardSession(clientId: string): void;
  /** A session whose expiry has passed ends now, even if its alarm has not fired yet. */
  expireSessionIfDue(clientId: string): void;

  // ---- subscriptions ----
  /** Stores a subscription and adds it to the topic tree. */
  addSubscription(entry: SubscriptionEntry): void;
  /** Removes a subscription; false if there was none. */
  removeSubscription(entry: SubscriptionEntry): boolean;
  /** Sends the retained messages matching new subscriptions [MQTT-3.3.1-9], as the client's window allows. */
  sendRetained(link: ClientLink, entries: readonly SubscriptionEntry[]): void;

  // ---- messages ----
  /** Routes a message to its subscribers (and stores it if retained); whether a subscriber matched or a rule took it. */
  publish(message: BrokerMessage): boolean | Promise<boolean>;

  // ---- access ----
  /** Who the client of `link` is, from now on (after authentication). */
  setIdentity(link: ClientLink, identity: Identity, clientId: string): void;
  /** What the client of `link` may read and write. */
  accessOf(link: ClientLink): ClientAccess;
  /** A session resumed by another identity keeps only what that identity may read. */
  reviewSession(link: ClientLink, previous: Identity | undefined): void;
  /** Whether a client id may be taken over by another identity. */
  readonly takeoverPolicy: 'any' | 'same-identity';
}
