/**
 * MQTT_LOG_EVENTS: which client events the edge and the sidecar log, one
 * line each, without any code (mosquitto's `log_type subscribe` and the
 * like; the hooks of `defineBroker` for everything beyond). Problems are
 * always logged, whatever this says: refusals, protocol errors, keep-alive
 * timeouts, takeovers.
 *
 * | name          | event line(s)                                  |
 * |---------------|-------------------------------------------------|
 * | `connect`     | `connection.accepted`                           |
 * | `disconnect`  | `connection.closed`                             |
 * | `subscribe`   | `client.subscribed`, one per filter             |
 * | `unsubscribe` | `client.unsubscribed`, one per filter           |
 * | `publish`     | `message.published`, one per PUBLISH received   |
 * | `deliver`     | `message.delivered`, one per PUBLISH sent       |
 */

export const LogEventNames = ['connect', 'disconnect', 'subscribe', 'unsubscribe', 'publish', 'deliver'] as const;
export type LogEventName = (typeof LogEventNames)[number];

/** What is logged unless told otherwise: connections, as before this setting existed. */
export const DefaultLogEvents: ReadonlySet<LogEventName> = new Set(['connect', 'disconnect']);

/**
 * Parses a list such as `connect,disconnect,publish` (commas or blanks;
 * `all`; `none`); unset or empty is the default. Returns the problem as a
 * string for a name it does not know.
 */
export function parseLogEvents(text: string | undefined): ReadonlySet<LogEventName> | string {
  if (text === undefined || text.trim() === '') return DefaultLogEvents;
  const names = text.split(/[\s,]+/).filter((name) => name !== '');
  if (names.length === 1 && names[0] === 'all') return new Set(LogEventNames);
  if (names.length === 1 && names[0] === 'none') return new Set();
  const unknown = names.filter((name) => !(LogEventNames as readonly string[]).includes(name));
  if (unknown.length > 0) return `MQTT_LOG_EVENTS: unknown event ${unknown.map((name) => `"${name}"`).join(', ')} (use ${LogEventNames.join(', ')}, all or none)`;
  return new Set(names as LogEventName[]);
}
