/**
 * Broker-to-broker bridges in mosquitto's own syntax (mosquitto.conf(5),
 * "Configuring Bridges"), so a mosquitto user can paste the `connection`
 * blocks they already have. This module only parses: text in, typed
 * settings out, every problem reported with its line, all at once. No I/O.
 *
 * Where mosquitto would quietly adjust a value (a keep-alive under 5 s, a
 * restart_timeout of 0, a stray extra word) we refuse instead: a typo must
 * never silently change how a bridge behaves.
 */
import { validateTopicFilter, validateTopicName } from '../../shared/topic.ts';

export type BridgeDirection = 'in' | 'out' | 'both';
export type BridgeProtocol = 'mqttv31' | 'mqttv311' | 'mqttv50';
export type BridgeQoS = 0 | 1 | 2;

export interface BridgeAddress {
  host: string;
  port: number;
}

/** One `topic` line, with mosquitto's prefixes already applied to the pattern. */
export interface BridgeTopic {
  /** The pattern as written; '' for the `""` place marker. */
  pattern: string;
  direction: BridgeDirection;
  /** Subscription QoS on the side the messages come from. */
  qos: BridgeQoS;
  /** '' when absent or `""`. */
  localPrefix: string;
  remotePrefix: string;
  /** localPrefix + pattern: what the bridge subscribes to locally (out, both). */
  localFilter: string;
  /** remotePrefix + pattern: what the bridge subscribes to remotely (in, both). */
  remoteFilter: string;
  line: number;
}

/** `restart_timeout <seconds>` or `restart_timeout <base> <cap>` (decorrelated jitter). */
export type RestartPolicy = { kind: 'constant'; seconds: number } | { kind: 'jitter'; baseSeconds: number; capSeconds: number };

export interface BridgeTls {
  /** PEM file of the CA certificates that signed the remote broker's certificate. */
  caFile: string;
  /** Skip the host name check (the chain is still verified), as mosquitto's bridge_insecure. */
  insecure: boolean;
}

export interface BridgeCredentials {
  username: string;
  password?: string;
}

export interface BridgeConfig {
  name: string;
  /** Line of the `connection` directive, for messages about this bridge. */
  line: number;
  /** Tried in turn; at least one. */
  addresses: BridgeAddress[];
  topics: BridgeTopic[];
  remoteClientId: string;
  localClientId: string;
  remoteCredentials?: BridgeCredentials;
  localCredentials?: BridgeCredentials;
  /** Clean session on both sides (mosquitto's local_cleansession defaults to it too). */
  cleanSession: boolean;
  protocol: BridgeProtocol;
  /** Announce a bridge to a 3.x remote (protocol level | 0x80), so it does not echo our messages. */
  tryPrivate: boolean;
  keepAliveSeconds: number;
  tls?: BridgeTls;
  notifications: boolean;
  notificationTopic: string;
  restart: RestartPolicy;
  /** bridge_max_packet_size: largest packet sent to the remote (an MQTT 5 remote may announce a smaller one); absent = no limit of ours. */
  maxPacketSize?: number;
}

export interface ParsedBridges {
  bridges: BridgeConfig[];
  /** One line per problem, each naming where it is: `MQTT_BRIDGES line 4: ...`. */
  problems: string[];
}

export interface BridgeParseOptions {
  /** Names the text in messages: `MQTT_BRIDGES` or the file's path. */
  source: string;
  /** For the default remote client id, `<hostname>.<connection>`, as mosquitto makes it. */
  hostname: string;
}

/** Defaults from mosquitto.conf(5). */
export const BridgeDefaults = {
  port: 1883,
  keepAliveSeconds: 60,
  restart: { kind: 'jitter', baseSeconds: 5, capSeconds: 30 } as RestartPolicy,
  protocol: 'mqttv311' as BridgeProtocol,
} as const;

const MinKeepAliveSeconds = 5;
const MaxKeepAliveSeconds = 65_535;
const MaxRestartSeconds = 86_400;
const MaxMqttPacketBytes = 268_435_460;

/** Options of mosquitto's bridges that exist but are not implemented here: refused by name, not as typos. */
const UnsupportedMosquittoOptions = new Set([
  'bridge_attempt_unsubscribe',
  'bridge_bind_address',
  'bridge_outgoing_retain',
  'idle_timeout',
  'local_cleansession',
  'notifications_local_only',
  'round_robin',
  'threshold',
  'bridge_alpn',
  'bridge_capath',
  'bridge_certfile',
  'bridge_keyfile',
  'bridge_identity',
  'bridge_psk',
  'bridge_require_ocsp',
  'bridge_tls_version',
]);

/** Block being read: what was set, and on which line, so a repeat can be refused. */
interface Draft {
  name: string;
  line: number;
  seen: Map<string, number>;
  addresses: BridgeAddress[];
  topics: BridgeTopic[];
  remoteClientId?: string;
  localClientId?: string;
  remoteUsername?: string;
  remotePassword?: string;
  localUsername?: string;
  localPassword?: string;
  cleanSession: boolean;
  protocol: BridgeProtocol;
  tryPrivate: boolean;
  keepAliveSeconds: number;
  caFile?: string;
  insecure?: boolean;
  maxPacketSize?: number;
  notifications: boolean;
  notificationTopic?: string;
  restart: RestartPolicy;
}

/** What each option does with its arguments; it throws a LineProblem for a bad value. */
type OptionHandler = (draft: Draft, args: ArgumentReader) => void;

/** A problem with one line; the parser adds where it is. */
class LineProblem extends Error {}

const optionHandlers: Readonly<Record<string, OptionHandler>> = {
  address: (draft, args) => (draft.addresses = args.words(1, Infinity).map(parseAddress)),
  addresses: (draft, args) => (draft.addresses = args.words(1, Infinity).map(parseAddress)),
  topic: (draft, args) => draft.topics.push(parseTopic(args.words(1, 5), args.line)),
  remote_clientid: (draft, args) => (draft.remoteClientId = args.rest()),
  clientid: (draft, args) => (draft.remoteClientId = args.rest()),
  local_clientid: (draft, args) => (draft.localClientId = args.rest()),
  remote_username: (draft, args) => (draft.remoteUsername = args.rest()),
  username: (draft, args) => (draft.remoteUsername = args.rest()),
  remote_password: (draft, args) => (draft.remotePassword = args.rest()),
  password: (draft, args) => (draft.remotePassword = args.rest()),
  local_username: (draft, args) => (draft.localUsername = args.rest()),
  local_password: (draft, args) => (draft.localPassword = args.rest()),
  cleansession: (draft, args) => (draft.cleanSession = args.boolean()),
  try_private: (draft, args) => (draft.tryPrivate = args.boolean()),
  notifications: (draft, args) => (draft.notifications = args.boolean()),
  notification_topic: (draft, args) => (draft.notificationTopic = parseNotificationTopic(args.rest())),
  bridge_insecure: (draft, args) => (draft.insecure = args.boolean()),
  bridge_cafile: (draft, args) => (draft.caFile = args.rest()),
  bridge_protocol_version: (draft, args) => (draft.protocol = args.choice(['mqttv31', 'mqttv311', 'mqttv50'] as const)),
  keepalive_interval: (draft, args) => (draft.keepAliveSeconds = args.integer(MinKeepAliveSeconds, MaxKeepAliveSeconds)),
  restart_timeout: (draft, args) => (draft.restart = parseRestartTimeout(args)),
  // 0 is mosquitto's "unlimited"; the most MQTT can carry is 268,435,455 bytes of Remaining Length plus a 5-byte fixed header.
  bridge_max_packet_size: (draft, args) => (draft.maxPacketSize = args.integer(0, MaxMqttPacketBytes)),
  start_type: (_draft, args) => {
    const type = args.word();
    // lazy and once change when a bridge runs at all; only the default is implemented.
    if (type !== 'automatic') throw new LineProblem(`start_type "${type}" is not supported (only automatic)`);
  },
};

/** Options that may appear more than once in a block; any other repeat is refused. */
const RepeatableOptions = new Set(['topic']);

/** The aliases mosquitto still accepts for the old option names. */
const OptionAliases: Readonly<Record<string, string>> = {
  clientid: 'remote_clientid',
  username: 'remote_username',
  password: 'remote_password',
  addresses: 'address',
};

/**
 * Parses the text of mosquitto.conf bridge blocks.
 *
 * @example
 * const { bridges, problems } = parseBridgeConfig(
 *   'connection b1\naddress 10.0.0.5:1883\ntopic sensors/# out 1 "" site-a/\n',
 *   { source: 'MQTT_BRIDGES', hostname: 'gateway-1' },
 * );
 * // bridges[0].topics[0].remoteFilter === 'site-a/sensors/#'
 */
export function parseBridgeConfig(text: string, options: BridgeParseOptions): ParsedBridges {
  const bridges: BridgeConfig[] = [];
  const problems: string[] = [];
  const names = new Map<string, number>();
  let draft: Draft | undefined;
  let draftBroken = false;

  const finish = (): void => {
    // A block with a bad line is already reported; checking it as a whole would only add echoes of that problem.
    if (draft !== undefined && !draftBroken) {
      const finished = finishDraft(draft, options.hostname);
      if (typeof finished === 'string') problems.push(`${options.source} line ${draft.line}: connection ${draft.name}: ${finished}`);
      else bridges.push(finished);
    }
    draft = undefined;
  };

  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = index + 1;
    const trimmed = (lines[index] ?? '').trim();
    // '#' starts a comment only at the start of a line: `topic # both` is a topic.
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [option = '', ...words] = trimmed.split(/[ \t]+/);
    const at = `${options.source} line ${line}`;

    if (option === 'connection') {
      finish();
      draftBroken = false;
      if (words.length !== 1) {
        problems.push(`${at}: connection needs exactly one name, got ${words.length === 0 ? 'none' : `"${words.join(' ')}"`}`);
        draft = undefined;
        continue;
      }
      const name = words[0] as string;
      const earlier = names.get(name);
      if (earlier !== undefined) problems.push(`${at}: connection ${name} is already defined on line ${earlier}`);
      names.set(name, line);
      draft = newDraft(name, line);
      continue;
    }

    const handler = optionHandlers[option];
    if (handler === undefined) {
      problems.push(`${at}: ${describeUnknownOption(option)}`);
      draftBroken = true;
      continue;
    }
    if (draft === undefined) {
      problems.push(`${at}: ${option} must follow a "connection <name>" line`);
      continue;
    }
    const canonical = OptionAliases[option] ?? option;
    const earlier = draft.seen.get(canonical);
    if (earlier !== undefined && !RepeatableOptions.has(canonical)) {
      problems.push(`${at}: ${option} is already set for connection ${draft.name} on line ${earlier}`);
      draftBroken = true;
      continue;
    }
    draft.seen.set(canonical, line);
    const afterOption = trimmed.slice(option.length).trim();
    try {
      handler(draft, new ArgumentReader(option, words, afterOption, line));
    } catch (problem) {
      if (!(problem instanceof LineProblem)) throw problem;
      problems.push(`${at}: ${problem.message}`);
      draftBroken = true;
    }
  }
  finish();
  return { bridges, problems };
}

function newDraft(name: string, line: number): Draft {
  return {
    name,
    line,
    seen: new Map(),
    addresses: [],
    topics: [],
    cleanSession: false,
    protocol: BridgeDefaults.protocol,
    tryPrivate: true,
    keepAliveSeconds: BridgeDefaults.keepAliveSeconds,
    notifications: true,
    restart: BridgeDefaults.restart,
  };
}

/** Checks that need the whole block; returns the finished settings or the problem. */
function finishDraft(draft: Draft, hostname: string): BridgeConfig | string {
  if (draft.addresses.length === 0) return 'no address given (add "address host[:port]")';
  if (draft.topics.length === 0) return 'no topic given (add e.g. "topic # both 0")';
  // mosquitto.conf(5): the password "is only valid if a remote_username is also supplied".
  if (draft.remotePassword !== undefined && draft.remoteUsername === undefined) return 'remote_password needs remote_username';
  if (draft.localPassword !== undefined && draft.localUsername === undefined) return 'local_password needs local_username';
  if (draft.insecure !== undefined && draft.caFile === undefined) return 'bridge_insecure needs bridge_cafile (TLS is on only with a CA file)';

  const remoteClientId = draft.remoteClientId ?? `${hostname}.${draft.name}`;
  const config: BridgeConfig = {
    name: draft.name,
    line: draft.line,
    addresses: draft.addresses,
    topics: draft.topics,
    remoteClientId,
    localClientId: draft.localClientId ?? `local.${remoteClientId}`,
    cleanSession: draft.cleanSession,
    protocol: draft.protocol,
    tryPrivate: draft.tryPrivate,
    keepAliveSeconds: draft.keepAliveSeconds,
    notifications: draft.notifications,
    notificationTopic: draft.notificationTopic ?? `$SYS/broker/connection/${remoteClientId}/state`,
    restart: draft.restart,
  };
  if (config.localClientId === config.remoteClientId) return `local_clientid and remote_clientid are both "${remoteClientId}"`;
  if (draft.remoteUsername !== undefined) config.remoteCredentials = credentials(draft.remoteUsername, draft.remotePassword);
  if (draft.localUsername !== undefined) config.localCredentials = credentials(draft.localUsername, draft.localPassword);
  if (draft.caFile !== undefined) config.tls = { caFile: draft.caFile, insecure: draft.insecure ?? false };
  if (draft.maxPacketSize !== undefined && draft.maxPacketSize > 0) config.maxPacketSize = draft.maxPacketSize;
  return config;
}

function credentials(username: string, password: string | undefined): BridgeCredentials {
  return password === undefined ? { username } : { username, password };
}

function describeUnknownOption(option: string): string {
  if (UnsupportedMosquittoOptions.has(option)) return `${option} is a mosquitto bridge option this bridge does not support`;
  return `unknown option "${option}" (bridge options: connection, ${Object.keys(optionHandlers).filter((name) => !(name in OptionAliases)).join(', ')})`;
}

/** The words after an option, read the ways mosquitto reads them. */
class ArgumentReader {
  constructor(
    readonly option: string,
    readonly all: readonly string[],
    /** Everything after the option: mosquitto takes string values whole, spaces included. */
    readonly text: string,
    readonly line: number,
  ) {}

  words(min: number, max: number): string[] {
    if (this.all.length < min) throw new LineProblem(`${this.option} needs ${min === 1 ? 'a value' : `at least ${min} values`}`);
    if (this.all.length > max) throw new LineProblem(`${this.option} takes at most ${max} value${max === 1 ? '' : 's'}, got "${this.text}"`);
    return [...this.all];
  }

  word(): string {
    return this.words(1, 1)[0] as string;
  }

  rest(): string {
    if (this.text === '') throw new LineProblem(`${this.option} needs a value`);
    return this.text;
  }

  /** mosquitto accepts exactly `true` or `false`. */
  boolean(): boolean {
    const value = this.word();
    if (value === 'true') return true;
    if (value === 'false') return false;
    throw new LineProblem(`${this.option} must be true or false, got "${value}"`);
  }

  choice<T extends string>(choices: readonly T[]): T {
    const value = this.word();
    const found = choices.find((choice) => choice === value);
    if (found === undefined) throw new LineProblem(`${this.option} must be one of ${choices.join(', ')}, got "${value}"`);
    return found;
  }

  integer(min: number, max: number): number {
    return parseInteger(this.option, this.word(), min, max);
  }
}

function parseInteger(what: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new LineProblem(`${what} must be an integer in ${min}..${max}, got "${text}"`);
  return value;
}

/** `host`, `host:port`, `[v6]:port`; an unbracketed IPv6 address needs the port, which follows the last colon (as in mosquitto). */
export function parseAddress(text: string): BridgeAddress {
  let host: string;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed !== null) {
    host = bracketed[1] as string;
    port = bracketed[2];
  } else {
    const colon = text.lastIndexOf(':');
    host = colon === -1 ? text : text.slice(0, colon);
    port = colon === -1 ? undefined : text.slice(colon + 1);
  }
  if (host === '') throw new LineProblem(`address "${text}" has no host`);
  return { host, port: port === undefined ? BridgeDefaults.port : parseInteger(`port of address "${text}"`, port, 1, 65_535) };
}

/** `topic pattern [[[out | in | both] qos-level] local-prefix remote-prefix]`; `""` is an empty prefix or pattern. */
function parseTopic(words: readonly string[], line: number): BridgeTopic {
  const [rawPattern = '', rawDirection, rawQos, rawLocal, rawRemote] = words;
  const pattern = placeMarker(rawPattern);
  const direction = rawDirection === undefined ? 'out' : rawDirection.toLowerCase();
  if (direction !== 'in' && direction !== 'out' && direction !== 'both') throw new LineProblem(`topic direction must be in, out or both, got "${rawDirection ?? ''}"`);
  if (rawQos !== undefined && !['0', '1', '2'].includes(rawQos)) throw new LineProblem(`topic QoS must be 0, 1 or 2, got "${rawQos}"`);
  const qos = Number(rawQos ?? '0') as BridgeQoS;
  const localPrefix = placeMarker(rawLocal ?? '""');
  const remotePrefix = placeMarker(rawRemote ?? '""');
  for (const [which, prefix] of [['local', localPrefix], ['remote', remotePrefix]] as const) {
    // A prefix is glued in front of topic names, so it must be one itself: no wildcards.
    if (prefix !== '' && !validateTopicName(prefix)) throw new LineProblem(`topic ${which} prefix "${prefix}" must not contain wildcards`);
  }
  // mosquitto.conf(5)'s table: an empty pattern maps one local topic to one remote topic, so both prefixes are needed.
  if (pattern === '' && (localPrefix === '' || remotePrefix === '')) throw new LineProblem('topic "" needs both a local and a remote prefix (it maps one topic to another)');
  if (pattern !== '' && !validateTopicFilter(pattern)) throw new LineProblem(`topic pattern "${pattern}" is not a valid topic filter`);
  const localFilter = localPrefix + pattern;
  const remoteFilter = remotePrefix + pattern;
  for (const [which, prefix, filter] of [['local', localPrefix, localFilter], ['remote', remotePrefix, remoteFilter]] as const) {
    if (!validateTopicFilter(filter)) throw new LineProblem(`topic ${which} prefix "${prefix}" + pattern "${pattern}" gives "${filter}", not a valid topic filter (prefixes usually end with "/")`);
  }
  return { pattern, direction, qos, localPrefix, remotePrefix, localFilter, remoteFilter, line };
}

function placeMarker(word: string): string {
  return word === '""' ? '' : word;
}

function parseRestartTimeout(args: ArgumentReader): RestartPolicy {
  const [first, second] = args.words(1, 2).map((word) => parseInteger('restart_timeout', word, 1, MaxRestartSeconds));
  if (second === undefined) return { kind: 'constant', seconds: first as number };
  if (second < (first as number)) throw new LineProblem(`restart_timeout cap ${second} is lower than its base ${first}`);
  return { kind: 'jitter', baseSeconds: first as number, capSeconds: second };
}

function parseNotificationTopic(topic: string): string {
  if (!validateTopicName(topic)) throw new LineProblem(`notification_topic "${topic}" is not a valid topic name`);
  return topic;
}
