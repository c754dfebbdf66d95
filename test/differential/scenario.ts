/**
 * What a differential scenario is: the password and ACL files both brokers
 * get, and a list of steps that named clients take. A scenario says nothing
 * about which broker it runs on; run-scenario.ts plays it on one.
 */

export type QoS = 0 | 1 | 2;

/** 3 = MQTT 3.1 (`MQIsdp`), 4 = 3.1.1, 5 = 5.0. */
export type ProtocolLevel = 3 | 4 | 5;

export interface Will {
  topic: string;
  payload: string;
  qos: QoS;
  retain?: boolean;
}

/** How one named client connects. The same spec is sent to every broker. */
export interface ClientSpec {
  /** Absent: an anonymous client (no username, no password). */
  username?: string;
  password?: string;
  clientId: string;
  level: ProtocolLevel;
  /** Clean session (3.x) / Clean Start (5.0). Default true. */
  clean?: boolean;
  /** 5.0 Session Expiry Interval in seconds; 3.x persistence follows `clean`. */
  sessionExpiry?: number;
  will?: Will;
}

export type Step =
  | { kind: 'connect'; client: string; spec: ClientSpec }
  | { kind: 'subscribe'; client: string; filter: string; qos: QoS }
  | { kind: 'publish'; client: string; topic: string; payload: string; qos: QoS; retain: boolean }
  | { kind: 'quiesce' }
  | { kind: 'drop'; client: string }
  | { kind: 'disconnect'; client: string }
  | { kind: 'reconnect'; client: string; overrides: Partial<ClientSpec> };

export interface Scenario {
  /** Short and unique: it names the scenario in the difference lists. */
  name: string;
  /** What the scenario checks, and the rule (spec or mosquitto source) behind it. */
  description: string;
  /** username → password; written with the real mosquitto_passwd for both brokers. */
  users: Readonly<Record<string, string>>;
  /** The text of the mosquitto ACL file both brokers get (the framework appends its fence rule). */
  acl: string;
  /** Default true (mosquitto's `allow_anonymous`, the edge's MQTT_ALLOW_ANONYMOUS). */
  allowAnonymous?: boolean;
  /**
   * Users and ACL entries the edge gets through its admin API after it
   * starts, on top of `users` and `acl`; mosquitto gets them written into
   * its files, where their lines would go (runtimeAclText).
   */
  runtime?: RuntimeAdditions;
  steps: readonly Step[];
}

export interface RuntimeAdditions {
  users?: Readonly<Record<string, string>>;
  acl?: ReadonlyArray<{ username?: string; pattern?: boolean; access: 'read' | 'write' | 'readwrite' | 'deny'; topic: string }>;
}

// ---- step builders: scenarios read as a script ----------------------------

export function connect(client: string, spec: ClientSpec): Step {
  return { kind: 'connect', client, spec };
}

/**
 * A new named client that connects with `spec.clientId` while another
 * client may hold it: [MQTT-3.1.4-3] the broker closes the older connection.
 * The same step as connect; the name says what the scenario means.
 */
export const takeover = connect;

export function subscribe(client: string, filter: string, qos: QoS = 1): Step {
  return { kind: 'subscribe', client, filter, qos };
}

export function publish(client: string, topic: string, payload: string, options: { qos?: QoS; retain?: boolean } = {}): Step {
  return { kind: 'publish', client, topic, payload, qos: options.qos ?? 1, retain: options.retain ?? false };
}

/** Wait until every broker has routed everything so far (see fence.ts); negative checks need one. */
export function quiesce(): Step {
  return { kind: 'quiesce' };
}

/** Close the client's socket without DISCONNECT: the broker must publish its will. */
export function drop(client: string): Step {
  return { kind: 'drop', client };
}

/** A clean DISCONNECT (the will is discarded [MQTT-3.14.4-3]). */
export function disconnect(client: string): Step {
  return { kind: 'disconnect', client };
}

/** The same client connects again (after drop or disconnect), with some settings changed. */
export function reconnect(client: string, overrides: Partial<ClientSpec> = {}): Step {
  return { kind: 'reconnect', client, overrides };
}
