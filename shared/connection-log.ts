/**
 * Connection events as the edge and the sidecar both log them: one JSON
 * line per event, with the same event names and the same field names on
 * both sides, so one query (or one dashboard) reads the logs of both. Each
 * event has a fixed list of fields; a field that does not apply or is not
 * known on that side is `null`, never left out, so the lines of one event
 * always have the same keys (test/integration/connection-logs.test.ts).
 *
 * Common to every event: `namespace`, `connection` (the edge's connection
 * id, the sidecar's connection number), `client` (client id), `username`,
 * `protocol` (3 = 3.1, 4 = 3.1.1, 5 = 5.0), `transport` (`ws`: a WebSocket
 * client; `tcp`: a device through the sidecar, as the sidecar sees it, or
 * on its own WebSocket as the edge sees it; `link`: a device on a sidecar's
 * link, as the edge sees it) and `remote` (the client's address).
 */
import type { ProtocolLevel } from './codec/types.ts';
import { ReasonCode, connackCodeFor } from './reason-codes.ts';

export type ConnectionTransport = 'ws' | 'tcp' | 'link';

/** Each connection event and the fields it has besides the common ones. */
export const ConnectionEvents = {
  /** CONNACK 0 sent. */
  'connection.accepted': ['keepalive', 'clean', 'session_present'],
  /** CONNACK with an error sent (or, at the sidecar, a device refused before the edge heard of it). */
  'connection.refused': ['reason', 'code', 'error'],
  /** The end of an accepted connection, whatever the cause; `reason` names it. */
  'connection.closed': ['reason', 'duration_ms'],
  /** Keep-alive ran out (1.5 × the keep-alive without a packet); connection.closed follows. */
  'connection.keepalive-timeout': ['keepalive'],
  /** A malformed or forbidden packet: the connection is closed next. */
  'connection.protocol-error': ['reason', 'code', 'error'],
  /** Another connection took over this client id (edge only: the sidecar sees it as the edge closing). */
  'connection.taken-over': [],
} as const satisfies Record<string, readonly string[]>;

/**
 * What clients do, logged when MQTT_LOG_EVENTS asks (shared/log-events.ts),
 * with the common fields of a connection event. Never a payload: `bytes`
 * is its size. `code` is what the client was answered (a SUBACK or UNSUBACK
 * code; for a PUBLISH 0, or the reason it was refused).
 */
export const ClientEvents = {
  'client.subscribed': ['filter', 'qos', 'code'],
  'client.unsubscribed': ['filter', 'code'],
  'message.published': ['topic', 'qos', 'retain', 'bytes', 'code'],
  'message.delivered': ['topic', 'qos', 'retain', 'bytes'],
} as const satisfies Record<string, readonly string[]>;

/** A sidecar's link to its namespace (one WebSocket for many devices); `remote` is the other end. */
export const LinkEvents = {
  'link.opened': ['sidecar', 'remote'],
  'link.closed': ['sidecar', 'remote', 'reason', 'code', 'devices'],
} as const satisfies Record<string, readonly string[]>;

export type ConnectionEvent = keyof typeof ConnectionEvents;
export type ClientEvent = keyof typeof ClientEvents;
export type LinkEvent = keyof typeof LinkEvents;

export const CommonConnectionFields = ['namespace', 'connection', 'client', 'username', 'protocol', 'transport', 'remote'] as const;

/** What a side knows about a connection event; anything left out is logged as null. */
export interface ConnectionFacts {
  namespace?: string | undefined;
  connection?: string | undefined;
  client?: string | undefined;
  username?: string | undefined;
  protocol?: ProtocolLevel | undefined;
  transport?: ConnectionTransport | undefined;
  remote?: string | undefined;
  /** Why: a close cause, a refusal's reason name (connackReasonName), a protocol error's kind. */
  reason?: string | undefined;
  /** The reason code on the wire: a CONNACK's (3.x return code or 5.0 reason code), a DISCONNECT's, a WebSocket close code. */
  code?: number | undefined;
  duration_ms?: number | undefined;
  keepalive?: number | undefined;
  clean?: boolean | undefined;
  session_present?: boolean | undefined;
  error?: string | undefined;
  sidecar?: string | undefined;
  devices?: number | undefined;
  filter?: string | undefined;
  topic?: string | undefined;
  qos?: number | undefined;
  retain?: boolean | undefined;
  bytes?: number | undefined;
}

export type ConnectionLogValue = string | number | boolean | null;

/**
 * Exactly the fields of `event`, in a fixed order, null where `facts` has
 * nothing.
 *
 * @example
 * log.info('connection.closed', connectionFields('connection.closed', { namespace: 'default', client: 'c1', reason: 'client-disconnect', duration_ms: 1200 }));
 */
export function connectionFields(event: ConnectionEvent | ClientEvent | LinkEvent, facts: ConnectionFacts): Record<string, ConnectionLogValue> {
  const own: readonly string[] =
    event in ConnectionEvents
      ? [...CommonConnectionFields, ...ConnectionEvents[event as ConnectionEvent]]
      : event in ClientEvents
        ? [...CommonConnectionFields, ...ClientEvents[event as ClientEvent]]
        : ['namespace', ...LinkEvents[event as LinkEvent]];
  const fields: Record<string, ConnectionLogValue> = {};
  for (const key of own) fields[key] = (facts as Record<string, ConnectionLogValue | undefined>)[key] ?? null;
  return fields;
}

/** 3.1 / 3.1.1 CONNACK return codes by name (3.1.1 table 3.1). */
const ReturnCodeNames: Readonly<Record<number, string>> = {
  1: 'unacceptable-protocol-version',
  2: 'identifier-rejected',
  3: 'server-unavailable',
  4: 'bad-username-or-password',
  5: 'not-authorized',
};

/** 5.0 reason codes by name, kebab-case (`BadUserNameOrPassword` → `bad-user-name-or-password`, `QoSNotSupported` → `qos-not-supported`). */
const ReasonNames: ReadonlyMap<number, string> = new Map(
  Object.entries(ReasonCode)
    .filter(([name]) => name !== 'Success' && name !== 'NormalDisconnection' && name !== 'GrantedQoS0')
    .map(([name, code]) => [code, name.replace('QoS', 'Qos').replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()]),
);

/** The name of the code a refusing CONNACK carried, in the client's protocol level's terms. */
export function connackReasonName(level: ProtocolLevel | undefined, code: number): string {
  const name = level === 5 ? ReasonNames.get(code) : ReturnCodeNames[code];
  return name ?? `code-${code}`;
}

/** The code a refusing CONNACK carries on the wire at `level`: the 5.0 reason itself, or the nearest 3.x return code. */
export function connackCodeAt(level: ProtocolLevel, reason: number): number {
  return level === 5 ? reason : connackCodeFor(reason);
}
