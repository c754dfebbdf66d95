/**
 * Broker limits for one namespace. Defaults are what an MQTT user expects of
 * a general-purpose broker; each can be lowered through configuration.
 */
export interface BrokerLimits {
  /** Largest packet accepted from a client, in bytes (fixed header included). */
  maxPacketSize: number;
  /** Longest keep-alive granted, seconds; 0 = no cap. 5.0 clients asking for more get Server Keep Alive. */
  maxKeepAlive: number;
  /** Time a new connection has to send CONNECT. */
  connectTimeoutMs: number;
  /** QoS 1/2 messages in flight to one client (3.x); 5.0 clients may lower it with Receive Maximum. */
  maxInflight: number;
  /** QoS 1/2 messages queued for one session beyond those in flight. */
  maxQueued: number;
  /** Bytes (payloads and topics) queued for one session. */
  maxQueuedBytes: number;
  /** Bytes (payloads and topics) queued for all the namespace's sessions together. */
  maxNamespaceQueuedBytes: number;
  /** PUBLISH packets per second from one client (bursts up to twice that); 0 = no limit. Over it the client is slowed (publish-rate.ts). */
  maxPublishRate: number;
  /** PUBLISH packets per second from all clients of the namespace together (bursts of one second's worth); 0 = no limit. */
  namespacePublishRate: number;
  /** Longest session expiry granted, seconds (0xFFFFFFFF = never expires). */
  maxSessionExpiry: number;
  /** Concurrent connections per namespace; 0 = unlimited. */
  maxConnections: number;
  /** Sessions per namespace (connected or not); 0 = unlimited. A new client id over it is refused. */
  maxSessions: number;
  maxSubscriptionsPerClient: number;
  /** Subscriptions of all the namespace's sessions together (the topic tree is in memory); 0 = unlimited. */
  maxNamespaceSubscriptions: number;
  maxRetainedMessages: number;
  /** Topic Alias Maximum announced to 5.0 clients (client-to-server aliases). */
  topicAliasMaximum: number;
  /** Receive Maximum announced to 5.0 clients (inbound QoS 1/2 in flight). */
  receiveMaximum: number;
  /** QoS 2 messages from one 3.x client awaiting its PUBREL (5.0 clients are held to receiveMaximum). */
  maxAwaitingPubrel: number;
  /** Longest topic name or filter (characters), and most levels. */
  maxTopicLength: number;
  maxTopicLevels: number;
  /** Bytes a connection may send before its CONNECT is accepted (the CONNECT itself, or it and its AUTH exchange). */
  maxConnectBytes: number;
  /** Packets of any type per second from one client, bursts up to ten times that; 0 = no limit (the default). Over it: DISCONNECT 0x96. */
  maxPacketRate: number;
  /**
   * Bytes a client may have sent that the namespace has not handled yet
   * (fair-share.ts); over it: DISCONNECT 0x96. A client that waits for its
   * answers never comes near it.
   */
  maxPendingBytes: number;
  /** Bytes all connections together have sent and not handled yet, incomplete packets included; past it the connection holding the most is closed (0x97). 0 = no bound. */
  maxNamespacePendingBytes: number;
  /** Bytes (payloads and topics) of retained messages per namespace. */
  maxRetainedBytes: number;
  /** Highest QoS the namespace accepts and grants (announced to 5.0 clients as Maximum QoS). */
  maximumQos: 0 | 1 | 2;
  /** Whether clients may retain messages (announced to 5.0 clients as Retain Available). */
  retainAvailable: boolean;
  /** Whether clients may subscribe to $share/ filters (announced to 5.0 clients). */
  sharedSubscriptionsAvailable: boolean;
}

/**
 * The defaults add up inside a Durable Object's 128 MB isolate (the budget
 * is in docs/design.md, "Memory"): what grows with clients in memory is
 * bounded here (sessions, subscriptions); messages (queued, retained,
 * awaiting PUBREL) are in SQLite and read one at a time.
 */
export const defaultLimits: BrokerLimits = {
  maxPacketSize: 1024 * 1024,
  maxKeepAlive: 0,
  connectTimeoutMs: 10_000,
  maxInflight: 100,
  maxQueued: 1000,
  maxQueuedBytes: 16 * 1024 * 1024,
  maxNamespaceQueuedBytes: 256 * 1024 * 1024,
  maxPublishRate: 0,
  namespacePublishRate: 0,
  // A week: long enough for a device that is off over a holiday, short enough that abandoned sessions go.
  maxSessionExpiry: 7 * 24 * 3600,
  maxConnections: 0,
  // About 0.9 KB of heap per connected client: 18 MB.
  maxSessions: 20_000,
  maxSubscriptionsPerClient: 1000,
  // About 390 bytes of heap each in the topic tree: 38 MB.
  maxNamespaceSubscriptions: 100_000,
  maxRetainedMessages: 100_000,
  topicAliasMaximum: 32,
  receiveMaximum: 1024,
  // The same bound as a 5.0 client's; mosquitto lets 20 in flight and 1,000 queued.
  maxAwaitingPubrel: 1024,
  maxTopicLength: 1024,
  maxTopicLevels: 32,
  // Fits a CONNECT with a will of some kilobytes and a token or certificate-sized auth data.
  maxConnectBytes: 64 * 1024,
  // Off: a fast client is slowed when the namespace falls behind (fair-share.ts), not thrown out.
  maxPacketRate: 0,
  // Four largest packets: room for a client that sends a few big ones at once.
  maxPendingBytes: 8 * 1024 * 1024,
  // Four connections at their own bound: with the rest of the budget (docs/design.md, "Memory"), about 100 MB of the isolate's 128.
  maxNamespacePendingBytes: 32 * 1024 * 1024,
  maxRetainedBytes: 256 * 1024 * 1024,
  maximumQos: 2,
  retainAvailable: true,
  sharedSubscriptionsAvailable: true,
};

/**
 * The limits a connection got when it connected and keeps to its end: 5.0
 * clients are told them in CONNACK, and the namespace holds itself to what
 * it told (a quota changed meanwhile applies from the next connection).
 */
export interface ConnectTerms {
  maxPacketSize: number;
  receiveMaximum: number;
  topicAliasMaximum: number;
  maximumQos: 0 | 1 | 2;
  retainAvailable: boolean;
  sharedSubscriptionsAvailable: boolean;
}

export function connectTerms(limits: BrokerLimits): ConnectTerms {
  return {
    maxPacketSize: limits.maxPacketSize,
    receiveMaximum: limits.receiveMaximum,
    topicAliasMaximum: limits.topicAliasMaximum,
    maximumQos: limits.maximumQos,
    retainAvailable: limits.retainAvailable,
    sharedSubscriptionsAvailable: limits.sharedSubscriptionsAvailable,
  };
}

/**
 * Why `topic` is over the namespace's topic limits, or undefined when it is
 * not. Every way a topic name gets into a namespace is held to the same
 * limits: a client's PUBLISH and its will, the HTTP API and the service
 * binding.
 */
export function topicOverLimits(topic: string, limits: Pick<BrokerLimits, 'maxTopicLength' | 'maxTopicLevels'>): string | undefined {
  if (topic.length > limits.maxTopicLength) return `the topic is ${topic.length} characters long, more than ${limits.maxTopicLength} (MQTT_MAX_TOPIC_LENGTH)`;
  const levels = topic.split('/').length;
  if (levels > limits.maxTopicLevels) return `the topic has ${levels} levels, more than ${limits.maxTopicLevels} (MQTT_MAX_TOPIC_LEVELS)`;
  return undefined;
}

/** Why a message from outside MQTT is refused: 413 for its size, 400 for anything else. */
export interface ApiRefusal {
  status: 400 | 413;
  error: string;
}

/**
 * Why a message from outside MQTT (the HTTP API, the service binding) is
 * over `limits`, or undefined: what a client's PUBLISH would be refused for
 * (its topic's length and levels, its size, a QoS above the maximum, retain
 * where retained messages are not available). The Worker asks it with the
 * deployment's limits before it addresses the namespace; the namespace asks
 * again with its own, its quotas over them.
 */
export function apiMessageOverLimits(
  message: { topic: string; payload: Uint8Array; qos: 0 | 1 | 2; retain: boolean },
  limits: Pick<BrokerLimits, 'maxTopicLength' | 'maxTopicLevels' | 'maxPacketSize' | 'maximumQos' | 'retainAvailable'>,
): ApiRefusal | undefined {
  const over = topicOverLimits(message.topic, limits);
  if (over !== undefined) return { status: 400, error: over };
  if (message.payload.byteLength > limits.maxPacketSize) return { status: 413, error: `payload larger than ${limits.maxPacketSize} bytes (MQTT_MAX_PACKET_SIZE)` };
  if (message.qos > limits.maximumQos) return { status: 400, error: `QoS ${message.qos} is above the maximum QoS ${limits.maximumQos}` };
  if (message.retain && !limits.retainAvailable) return { status: 400, error: 'retained messages are not available' };
  return undefined;
}
