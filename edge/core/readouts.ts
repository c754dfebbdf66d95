/**
 * What the namespace tells the admin API, `/metrics`, `$SYS` and the
 * dashboard about itself. Plain data: it crosses Durable Object RPC.
 */
import type { ProtocolLevel } from '../../shared/codec/basic-types.ts';
import type { BridgeStatus } from '../../shared/link-status.ts';
import type { MemoryEstimate } from './memory-estimate.ts';
import type { MetricCounters } from './metrics.ts';
import type { RuleReport } from '../rules/rules.ts';

export interface CoreStats {
  connected: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  /** Connected clients the stall watchdog sees with queued messages and a free window. */
  stalled: number;
  createdAt: number;
  counters: MetricCounters;
  /** MQTT_RULES, rule by rule; absent or empty without rules. */
  rules?: RuleReport[];
  /** How the namespace keeps up with its clients (core/fair-share.ts). */
  flow?: FlowStats;
  /** What its isolate holds, estimated (core/memory-estimate.ts). */
  memory?: MemoryEstimate;
}

/** Whether the namespace keeps up, and whom it slows. */
export interface FlowStats {
  /** How long the oldest input waiting to be handled has waited (ms); over 100 ms the namespace is behind. */
  behindMs: number;
  /** Bytes clients have sent that are not handled yet. */
  pendingBytes: number;
  /** Bytes of incomplete packets held in memory. */
  partialBytes: number;
  /** Clients slowed now: acknowledgements held, or QoS 0 dropped, while over their share. */
  slowedClients: number;
  /** Acknowledgements held now. */
  heldAcks: number;
}

/** What the fair share did to one connected client (core/fair-share.ts); totals since it connected. */
export interface ClientFlow {
  /** Bytes it sent that are not handled yet. */
  pendingBytes: number;
  /** Its share of what all clients have waiting, 0..1. */
  share: number;
  /** QoS 1/2 acknowledgements held now, and in all. */
  heldAcks: number;
  heldAcksTotal: number;
  /** QoS 0 messages dropped to slow it (over its share while the namespace was behind, or over a publish rate). */
  droppedQos0: number;
  /** QoS 1/2 messages that waited for a publish rate. */
  delayedPublishes: number;
  /** Time it has been slowed, in ms (the current stretch included). */
  slowedMs: number;
  slowed: boolean;
}

/** What the admin API and the dashboard show of one client. */
export interface ClientSummary {
  clientId: string;
  connected: boolean;
  protocolLevel?: ProtocolLevel;
  username?: string;
  remoteAddress?: string;
  keepAlive?: number;
  /** Carried by a sidecar (a device on TCP or TLS): ConnectionState.bridged. */
  bridged?: boolean;
  /** Another broker's bridge (it set the bridge bit of its Protocol Level): ConnectionState.brokerBridge. */
  brokerBridge?: boolean;
  connectedAt?: number;
  /** Last packet from the client while connected; when it disconnected otherwise (ms since the epoch). */
  lastSeen?: number;
  sessionExpiryInterval?: number;
  /** The topic of the will it left with its session, if any (the payload stays private). */
  willTopic?: string;
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
  /** Connected clients: what the namespace's fair share did to it. */
  flow?: ClientFlow;
}

/** A search of the clients (GET /admin/<ns>/clients?q=&offset=&limit=). */
export interface ClientQuery {
  /** A substring of the client id, the username or (connected clients) the address; none: every client. */
  search?: string;
  offset: number;
  limit: number;
}

/** One page of clients, and how many the search (or the namespace) has in all. */
export interface ClientPage {
  clients: ClientSummary[];
  total: number;
}

/** One retained message as the admin API lists it. */
export interface RetainedSummary {
  topic: string;
  qos: number;
  payloadBytes: number;
  payloadPreview: string;
}

/** One subscription as the admin API lists them across clients. */
export interface SubscriptionSummary {
  clientId: string;
  /** As subscribed, with a `$share/<group>/` prefix for a shared one. */
  filter: string;
  qos: number;
  shareGroup?: string;
  /** Whether its client is connected now. */
  online: boolean;
}

/** A recently active topic: its message rate and whether it holds a retained message. */
export interface TopicSummary {
  topic: string;
  /** Messages per second, exponentially weighted (half-life 30 s). */
  rate: number;
  /** Messages counted since the namespace last woke. */
  messages: number;
  retained: boolean;
}

/** The connection events a namespace keeps for the admin API (connection-events.ts; the names of shared/connection-log.ts). */
export type RecordedEvent = 'connection.refused' | 'connection.closed' | 'connection.protocol-error' | 'connection.keepalive-timeout' | 'connection.taken-over';

/** One of the namespace's last refusals and disconnect causes (GET /admin/<ns>/events). */
export interface ConnectionEventEntry {
  /** When it happened (ms since the epoch). */
  at: number;
  event: RecordedEvent;
  clientId?: string;
  username?: string;
  remoteAddress?: string;
  /** As shared/connection-log.ts's ConnectionTransport (not imported: these declarations stay free of the codec's). */
  transport?: 'ws' | 'tcp' | 'link';
  protocolLevel?: ProtocolLevel;
  /** The refusal's reason name, the close cause, or the protocol error's kind (shared/connection-log.ts). */
  reason?: string;
  /** The code on the wire: a CONNACK's at the client's level, a protocol error's 5.0 reason code. */
  code?: number;
  /** What went wrong, in words. */
  error?: string;
}

/** Which events a reader wants: of these types (none: all), with this reason (none: any). */
export interface EventQuery {
  limit: number;
  types?: readonly RecordedEvent[];
  reason?: string;
}

/** A sidecar's link as the admin API shows it (GET /admin/<ns>/sidecars). */
export interface SidecarView {
  /** The link's id at the edge. */
  id: string;
  /** The sidecar's name (its host and process id, unless configured). */
  name?: string;
  /** The sidecar's address, as the edge sees it. */
  remote?: string;
  /** Devices connected through it now. */
  devices: number;
  /** When the link was opened (ms since the epoch). */
  connectedSince?: number;
  /** The link protocol version in use. */
  version: number;
  /** Its broker bridges, as it last reported them (version 2; empty before a report). */
  bridges: BridgeStatus[];
  /** When that report arrived (ms since the epoch). */
  statusAt?: number;
}
