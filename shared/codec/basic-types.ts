/**
 * The MQTT value types the broker's public hook types use. They are
 * mqtt-packet's, declared again here without it: mqtt-packet's declarations
 * need Node's typings, which a Workers project does not have, and a user's
 * `tsc` would read them through every hook type otherwise.
 */

/** Quality of service: 0 at most once, 1 at least once, 2 exactly once. */
export type QoS = 0 | 1 | 2;

/** The CONNECT Protocol Level byte: 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0. */
export type ProtocolLevel = 3 | 4 | 5;

/** MQTT 5 User Properties: a name sent more than once becomes a list. */
export type UserProperties = { [name: string]: string | string[] };
