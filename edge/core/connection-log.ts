/**
 * The edge's connection events, in the shape the sidecar logs them too
 * (shared/connection-log.ts): one line per event, every field of the event
 * present, null where this side does not know it.
 */
import { ClientEvents, connackCodeAt, connackReasonName, connectionFields, type ClientEvent, type ConnectionEvent, type ConnectionFacts, type ConnectionTransport, type LinkEvent } from '../../shared/connection-log.ts';
import { DefaultLogEvents, type LogEventName } from '../../shared/log-events.ts';
import type { ProtocolLevel } from '../../shared/codec/types.ts';
import type { ConnectionEventLog } from './connection-events.ts';
import type { ConnectionState } from './link.ts';
import type { Logger, LogLevel } from './log.ts';

/** What the edge sees of a connection: a WebSocket client, a device on its own WebSocket from the sidecar, or one on a sidecar's link. */
export function transportOf(state: ConnectionState): ConnectionTransport {
  return state.transport ?? (state.bridged ? 'tcp' : 'ws');
}

export class ConnectionLog {
  constructor(
    /** The namespace's logger, for everything that is not a connection event. */
    readonly log: Logger,
    private readonly namespace: string,
    private readonly now: () => number,
    /** Keeps the refusals and disconnect causes for the admin API (connection-events.ts). */
    private readonly recent?: ConnectionEventLog,
    /** MQTT_LOG_EVENTS: which of the client's doings are logged (problems always are). */
    private readonly events: ReadonlySet<LogEventName> = DefaultLogEvents,
  ) {}

  /** Whether MQTT_LOG_EVENTS asks for `name`: ask before building an event's fields on a hot path. */
  wants(name: LogEventName): boolean {
    return this.events.has(name);
  }

  /** One connection event; `state` gives the common fields, `facts` the rest (and may override them). */
  event(level: LogLevel, event: ConnectionEvent | ClientEvent, state: ConnectionState | undefined, facts: ConnectionFacts = {}): void {
    const known: ConnectionFacts = state === undefined
      ? {}
      : { connection: state.id, client: state.clientId, username: state.username, protocol: state.level, transport: transportOf(state), remote: state.remoteAddress };
    const all = { namespace: this.namespace, ...known, ...facts };
    // The admin API's record of refusals and disconnect causes keeps them whatever the log says.
    if (!(event in ClientEvents)) this.recent?.note(event as ConnectionEvent, all);
    if (!this.logs(event)) return;
    this.log.log(level, event, connectionFields(event, all));
  }

  /** Whether MQTT_LOG_EVENTS lets `event` into the log: connections as asked, problems always. */
  private logs(event: ConnectionEvent | ClientEvent): boolean {
    if (event === 'connection.accepted') return this.events.has('connect');
    if (event === 'connection.closed') return this.events.has('disconnect');
    return true;
  }

  /** The end of an accepted connection: `reason` is the close cause. */
  closed(state: ConnectionState, reason: string): void {
    this.event('info', 'connection.closed', state, { reason, duration_ms: Math.max(0, this.now() - state.acceptedAt) });
  }

  /** A refusing CONNACK: its code as sent at the client's level, and that code's name. */
  refused(state: ConnectionState, level: ProtocolLevel, reason: number, error: string, who: { client?: string; username?: string | undefined } = {}): void {
    const code = connackCodeAt(level, reason);
    this.event('info', 'connection.refused', state, { ...who, protocol: level, reason: connackReasonName(level, code), code, error });
  }

  link(level: LogLevel, event: LinkEvent, facts: ConnectionFacts): void {
    this.log.log(level, event, connectionFields(event, { namespace: this.namespace, ...facts }));
  }
}
