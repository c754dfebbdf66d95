/**
 * Every broker limit once: its configuration variable (the deployment's
 * default), the name it has as a namespace quota (admin API, dashboard),
 * the values it takes, and when a change reaches connected clients.
 * config.ts reads the variables through this table, quotas.ts checks
 * values set at run time against it, docs/configuration.md lists it.
 */
import type { BrokerLimits } from './limits.ts';

export type LimitName = keyof BrokerLimits;
export type LimitValue = number | boolean;

/**
 * When a changed value holds for a client already connected:
 * - `now`: from its next packet (or the namespace's next use of the limit);
 * - `connect`: from its next connection. These are told to 5.0 clients in
 *   CONNACK (Receive Maximum, Maximum Packet Size, ...) or fixed when the
 *   connection begins; changing them under a connected client would break
 *   what it was told.
 */
export type Applies = 'now' | 'connect';

export type LimitUnit = 'count' | 'bytes' | 'seconds' | 'ms' | 'per-second' | 'qos' | 'boolean';

export interface LimitSetting {
  name: LimitName;
  variable: `MQTT_${string}`;
  /** What it limits, in a few words (admin API, dashboard). */
  label: string;
  unit: LimitUnit;
  kind: 'integer' | 'boolean';
  /** For integers: the values accepted. */
  min: number;
  max: number;
  applies: Applies;
}

type Integer = [name: LimitName, variable: `MQTT_${string}`, label: string, unit: Exclude<LimitUnit, 'boolean'>, min: number, max: number, applies: Applies];

const integer = (...[name, variable, label, unit, min, max, applies]: Integer): LimitSetting => ({ name, variable, label, unit, kind: 'integer', min, max, applies });
const boolean = (name: LimitName, variable: `MQTT_${string}`, label: string, applies: Applies): LimitSetting => ({ name, variable, label, unit: 'boolean', kind: 'boolean', min: 0, max: 1, applies });

/** 0 means "no limit" for connections, rates and keep-alive (see limits.ts). */
export const limitSettings: readonly LimitSetting[] = [
  integer('maxConnections', 'MQTT_MAX_CONNECTIONS', 'connections at once (0: no limit)', 'count', 0, 10_000_000, 'now'),
  integer('maxSessions', 'MQTT_MAX_SESSIONS', 'sessions, connected or not (0: no limit)', 'count', 0, 10_000_000, 'now'),
  integer('namespacePublishRate', 'MQTT_NAMESPACE_PUBLISH_RATE', 'PUBLISH per second from all clients (0: no limit)', 'per-second', 0, 10_000_000, 'now'),
  integer('maxPublishRate', 'MQTT_MAX_PUBLISH_RATE', 'PUBLISH per second from one client (0: no limit)', 'per-second', 0, 10_000_000, 'now'),
  integer('maxPacketRate', 'MQTT_MAX_PACKET_RATE', 'packets per second from one client, a hard cap (0: none)', 'per-second', 0, 10_000_000, 'now'),
  integer('maxPendingBytes', 'MQTT_MAX_PENDING_BYTES', 'bytes sent by one client and not handled yet', 'bytes', 64 * 1024, 1024 * 1024 * 1024, 'now'),
  integer('maxNamespacePendingBytes', 'MQTT_MAX_NAMESPACE_PENDING_BYTES', 'bytes sent by all clients and not handled yet (0: no bound)', 'bytes', 0, 1024 * 1024 * 1024, 'now'),
  integer('maxSubscriptionsPerClient', 'MQTT_MAX_SUBSCRIPTIONS', 'subscriptions per client', 'count', 1, 1_000_000, 'now'),
  integer('maxNamespaceSubscriptions', 'MQTT_MAX_NAMESPACE_SUBSCRIPTIONS', 'subscriptions of all sessions (0: no limit)', 'count', 0, 100_000_000, 'now'),
  integer('maxRetainedMessages', 'MQTT_MAX_RETAINED', 'retained messages', 'count', 0, 100_000_000, 'now'),
  integer('maxRetainedBytes', 'MQTT_MAX_RETAINED_BYTES', 'bytes of retained messages', 'bytes', 0, 10_000_000_000, 'now'),
  integer('maxQueued', 'MQTT_MAX_QUEUED', 'messages queued per session', 'count', 0, 10_000_000, 'now'),
  integer('maxQueuedBytes', 'MQTT_MAX_QUEUED_BYTES', 'bytes queued per session', 'bytes', 0, 1_000_000_000_000, 'now'),
  integer('maxNamespaceQueuedBytes', 'MQTT_MAX_NAMESPACE_QUEUED_BYTES', 'bytes queued for all sessions (0: no limit)', 'bytes', 0, 1_000_000_000_000, 'now'),
  integer('maxAwaitingPubrel', 'MQTT_MAX_AWAITING_PUBREL', 'QoS 2 messages from a 3.x client awaiting PUBREL', 'count', 1, 65_535, 'now'),
  integer('maxTopicLength', 'MQTT_MAX_TOPIC_LENGTH', 'characters in a topic or filter', 'count', 1, 65_535, 'now'),
  integer('maxTopicLevels', 'MQTT_MAX_TOPIC_LEVELS', 'levels in a topic or filter', 'count', 1, 65_535, 'now'),
  integer('connectTimeoutMs', 'MQTT_CONNECT_TIMEOUT_MS', 'time to send CONNECT', 'ms', 100, 600_000, 'now'),
  integer('maxConnectBytes', 'MQTT_MAX_CONNECT_BYTES', 'bytes before the CONNECT is accepted', 'bytes', 128, 268_435_455, 'now'),
  integer('maxPacketSize', 'MQTT_MAX_PACKET_SIZE', 'largest packet from a client', 'bytes', 16, 268_435_455, 'connect'),
  integer('maxSessionExpiry', 'MQTT_MAX_SESSION_EXPIRY', 'longest session expiry granted', 'seconds', 0, 0xffffffff, 'connect'),
  integer('maxKeepAlive', 'MQTT_MAX_KEEPALIVE', 'longest keep-alive granted (0: no cap)', 'seconds', 0, 65_535, 'connect'),
  integer('maxInflight', 'MQTT_MAX_INFLIGHT', 'QoS 1/2 messages in flight to a client', 'count', 1, 65_535, 'connect'),
  integer('receiveMaximum', 'MQTT_RECEIVE_MAXIMUM', 'QoS 1/2 messages in flight from a 5.0 client', 'count', 1, 65_535, 'connect'),
  integer('topicAliasMaximum', 'MQTT_TOPIC_ALIAS_MAXIMUM', 'topic aliases of a 5.0 client', 'count', 0, 65_535, 'connect'),
  integer('maximumQos', 'MQTT_MAXIMUM_QOS', 'highest QoS accepted and granted', 'qos', 0, 2, 'connect'),
  boolean('retainAvailable', 'MQTT_RETAIN_AVAILABLE', 'clients may retain messages', 'connect'),
  boolean('sharedSubscriptionsAvailable', 'MQTT_SHARED_SUBSCRIPTIONS_AVAILABLE', 'clients may use $share/ subscriptions', 'connect'),
];

const byName = new Map<string, LimitSetting>(limitSettings.map((setting) => [setting.name, setting]));

export function limitSetting(name: string): LimitSetting | undefined {
  return byName.get(name);
}

/** A value from JSON (the admin API): the limit's value, or why it is not one. */
export function checkLimitValue(setting: LimitSetting, value: unknown): LimitValue | string {
  if (setting.kind === 'boolean') return typeof value === 'boolean' ? value : `${setting.name} must be true or false`;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < setting.min || value > setting.max) {
    return `${setting.name} must be an integer in ${setting.min}..${setting.max}`;
  }
  return value;
}

/** A value from the environment (text): the limit's value, or why it is not one. */
export function parseLimitText(setting: LimitSetting, text: string): LimitValue | string {
  if (setting.kind === 'boolean') {
    if (text === 'true') return true;
    if (text === 'false') return false;
    return `${setting.variable}="${text}" must be true or false`;
  }
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < setting.min || value > setting.max) return `${setting.variable}="${text}" must be an integer in ${setting.min}..${setting.max}`;
  return value;
}

/** Sets one limit (the table guarantees the value's type matches the name). */
export function assignLimit(limits: BrokerLimits, name: LimitName, value: LimitValue): void {
  (limits as unknown as Record<LimitName, LimitValue>)[name] = value;
}
