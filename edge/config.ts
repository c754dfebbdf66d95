/**
 * Broker settings from the Worker's environment ([vars] and secrets in
 * wrangler.toml; the same names as environment variables for `npm start`).
 * A bad value fails loudly: a typo must never silently change a limit.
 */
import { parseLogEvents, type LogEventName } from '../shared/log-events.ts';
import { MqttError } from '../shared/errors.ts';
import { ReasonCode } from '../shared/reason-codes.ts';
import { assignLimit, limitSettings, parseLimitText } from './core/limit-settings.ts';
import { defaultLimits, type BrokerLimits } from './core/limits.ts';
import { defaultFlowControl, type FlowControl } from './link/flow-control.ts';
import { NamespaceSet } from './namespaces.ts';
import type { RulesEnv } from './rules/config.ts';

/** The broker's settings as [vars]/secrets (and environment variables for `npm start`). */
/** MQTT_RULES and its bounds are read by rules/config.ts. */
export interface EdgeVars extends RulesEnv {
  MQTT_ALLOW_ANONYMOUS?: string;
  MQTT_BRIDGE_SECRET?: string;
  MQTT_MAX_CONNECTIONS?: string;
  MQTT_MAX_PACKET_SIZE?: string;
  MQTT_MAX_KEEPALIVE?: string;
  MQTT_MAX_INFLIGHT?: string;
  MQTT_MAX_QUEUED?: string;
  MQTT_MAX_SESSION_EXPIRY?: string;
  MQTT_CONNECT_TIMEOUT_MS?: string;
  MQTT_RECEIVE_MAXIMUM?: string;
  MQTT_MAX_QUEUED_BYTES?: string;
  MQTT_MAX_PUBLISH_RATE?: string;
  MQTT_MAX_TOPIC_LENGTH?: string;
  MQTT_MAX_TOPIC_LEVELS?: string;
  MQTT_TOPIC_ALIAS_MAXIMUM?: string;
  MQTT_MAX_SUBSCRIPTIONS?: string;
  MQTT_MAX_RETAINED?: string;
  MQTT_LOG_LEVEL?: string;
  /** Client events to log: connect, disconnect, subscribe, unsubscribe, publish, deliver, all, none (shared/log-events.ts). */
  MQTT_LOG_EVENTS?: string;
  MQTT_PASSWORDS?: string;
  MQTT_ACL?: string;
  MQTT_JWT_SECRET?: string;
  MQTT_JWT_JWKS?: string;
  MQTT_JWT_ISSUER?: string;
  MQTT_JWT_AUDIENCE?: string;
  /** Bearer token for POST /publish; the endpoint refuses everyone without it. */
  MQTT_API_TOKEN?: string;
  /** Bearer token for /admin/... and /metrics (and the dashboard's login); both refuse everyone without it. */
  MQTT_ADMIN_TOKEN?: string;
  /** Seconds between $SYS updates while someone subscribes to them (default 10; 0 turns $SYS off). */
  MQTT_SYS_INTERVAL?: string;
  /** The namespaces that exist: names and `prefix-*` patterns (`*`: any); default only `default`. */
  MQTT_NAMESPACES?: string;
  MQTT_MAX_CONNECT_BYTES?: string;
  MQTT_MAX_PACKET_RATE?: string;
  /** Bytes a client may have sent that are not yet handled; over it DISCONNECT 0x96 (fair-share.ts). */
  MQTT_MAX_PENDING_BYTES?: string;
  MQTT_MAX_RETAINED_BYTES?: string;
  /** PUBLISH messages per second from all of a namespace's clients together (0: no limit). */
  MQTT_NAMESPACE_PUBLISH_RATE?: string;
  /** Highest QoS accepted and granted: 0, 1 or 2 (default). */
  MQTT_MAXIMUM_QOS?: string;
  MQTT_RETAIN_AVAILABLE?: string;
  MQTT_SHARED_SUBSCRIPTIONS_AVAILABLE?: string;
  MQTT_MAX_SESSIONS?: string;
  MQTT_MAX_NAMESPACE_SUBSCRIPTIONS?: string;
  MQTT_MAX_NAMESPACE_QUEUED_BYTES?: string;
  MQTT_MAX_AWAITING_PUBREL?: string;
  /**
   * Whether the CF-Connecting-IP header names the client (true on Cloudflare,
   * which sets it; the local runner sets false, where a client could send it).
   */
  MQTT_TRUST_CF_CONNECTING_IP?: string;
  /** Access settings per namespace (JSON; see access.ts and docs/security.md). */
  MQTT_NAMESPACE_ACCESS?: string;
  /** `any` (default): any identity may take over a client id's session; `same-identity`: only its own. */
  MQTT_TAKEOVER?: string;
  /**
   * Gateway objects per namespace (and per region on Cloudflare) that hold
   * the WebSocket clients; 1 (default): the namespace's one object holds
   * them itself. See docs/scale.md.
   */
  MQTT_GATEWAYS?: string;
  /** Flow control of sidecar and gateway links (edge/link/flow-control.ts, docs/link-protocol.md). */
  MQTT_LINK_WINDOW_BYTES?: string;
  MQTT_LINK_CHANNEL_WINDOW_BYTES?: string;
  MQTT_GATEWAY_CLIENT_BACKLOG_BYTES?: string;
}

export interface EdgeConfig {
  limits: BrokerLimits;
  /** MQTT_LOG_EVENTS: the client events logged. */
  logEvents: ReadonlySet<LogEventName>;
  namespaces: NamespaceSet;
  trustConnectingIp: boolean;
  takeover: 'any' | 'same-identity';
  /** $SYS publishing interval, ms; 0 = no $SYS tree. */
  sysIntervalMs: number;
  /** MQTT_GATEWAYS: 1 = clients attach to the namespace's object itself. */
  gateways: number;
  /** The windows of sidecar and gateway links, and a gateway's bound on a client's unsent input. */
  flow: FlowControl;
}

/** Most gateways per namespace and region: each is an object the core keeps a link to. */
export const MaxGateways = 64;

/** mosquitto's `sys_interval` default, seconds. */
export const DefaultSysIntervalSeconds = 10;
/** Longest $SYS interval accepted, seconds (a day). */
const MaxSysIntervalSeconds = 86_400;

/**
 * Limits: the defaults, then `base` (from code), then the environment.
 * The $SYS interval likewise: 10 s, then `sysInterval` (seconds, from code), then MQTT_SYS_INTERVAL.
 */
export function loadEdgeConfig(env: EdgeVars, base: Partial<BrokerLimits> = {}, fromCode: { sysInterval?: number } = {}): EdgeConfig {
  const limits: BrokerLimits = { ...defaultLimits, ...base };
  for (const setting of limitSettings) {
    const text = env[setting.variable as keyof EdgeVars];
    if (text === undefined || text === '') continue;
    const value = typeof text === 'string' ? parseLimitText(setting, text) : `${setting.variable} must be text`;
    if (typeof value === 'string') throw new MqttError('Config', ReasonCode.ImplementationSpecificError, value);
    assignLimit(limits, setting.name, value);
  }
  let namespaces: NamespaceSet;
  try {
    namespaces = NamespaceSet.parse(env.MQTT_NAMESPACES);
  } catch (error) {
    throw new MqttError('Config', ReasonCode.ImplementationSpecificError, `MQTT_NAMESPACES: ${error instanceof Error ? error.message : String(error)}`);
  }
  const logEvents = parseLogEvents(env.MQTT_LOG_EVENTS);
  if (typeof logEvents === 'string') throw new MqttError('Config', ReasonCode.ImplementationSpecificError, logEvents);
  return {
    limits,
    logEvents,
    namespaces,
    trustConnectingIp: parseBoolean('MQTT_TRUST_CF_CONNECTING_IP', env.MQTT_TRUST_CF_CONNECTING_IP, true),
    takeover: parseTakeover(env.MQTT_TAKEOVER),
    sysIntervalMs: Math.round(parseSysInterval(env.MQTT_SYS_INTERVAL, fromCode.sysInterval ?? DefaultSysIntervalSeconds) * 1000),
    gateways: parseGateways(env.MQTT_GATEWAYS),
    flow: parseFlowControl(env),
  };
}

const flowVariables: Array<[keyof EdgeVars, keyof FlowControl]> = [
  ['MQTT_LINK_WINDOW_BYTES', 'linkWindowBytes'],
  ['MQTT_LINK_CHANNEL_WINDOW_BYTES', 'channelWindowBytes'],
  ['MQTT_GATEWAY_CLIENT_BACKLOG_BYTES', 'gatewayClientBacklogBytes'],
];
/** A window below this would cost a CREDIT frame every few packets. */
const MinWindowBytes = 4096;
/** A CREDIT entry is a u32. */
const MaxWindowBytes = 0xffffffff;

function parseFlowControl(env: EdgeVars): FlowControl {
  const flow: FlowControl = { ...defaultFlowControl };
  for (const [variable, key] of flowVariables) flow[key] = parseInteger(env, variable, MinWindowBytes, MaxWindowBytes) ?? flow[key];
  if (flow.channelWindowBytes > flow.linkWindowBytes) {
    throw new MqttError('Config', ReasonCode.ImplementationSpecificError, `MQTT_LINK_CHANNEL_WINDOW_BYTES (${flow.channelWindowBytes}) must not be larger than MQTT_LINK_WINDOW_BYTES (${flow.linkWindowBytes})`);
  }
  return flow;
}

/** An integer setting in min..max; undefined when unset or empty. */
function parseInteger(env: EdgeVars, variable: keyof EdgeVars, min: number, max: number): number | undefined {
  const text = env[variable];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (typeof text !== 'string' || !Number.isInteger(value) || value < min || value > max) {
    throw new MqttError('Config', ReasonCode.ImplementationSpecificError, `${variable}="${String(text)}" must be an integer in ${min}..${max}`);
  }
  return value;
}

/** Seconds, fractions allowed (tests use 0.5); 0 turns the $SYS tree off, as mosquitto's sys_interval 0 does. */
function parseSysInterval(text: string | undefined, fallback: number): number {
  const ok = (value: number): boolean => value === 0 || (value >= 0.1 && value <= MaxSysIntervalSeconds);
  if (text === undefined || text === '') {
    if (!ok(fallback)) throw new MqttError('Config', ReasonCode.ImplementationSpecificError, `sysInterval ${fallback} must be 0 (off) or 0.1..${MaxSysIntervalSeconds} seconds`);
    return fallback;
  }
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !ok(value)) {
    throw new MqttError('Config', ReasonCode.ImplementationSpecificError, `MQTT_SYS_INTERVAL="${text}" must be 0 (off) or a number of seconds in 0.1..${MaxSysIntervalSeconds}`);
  }
  return value;
}

function parseGateways(text: string | undefined): number {
  if (text === undefined || text === '') return 1;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > MaxGateways) {
    throw new MqttError('Config', ReasonCode.ImplementationSpecificError, `MQTT_GATEWAYS="${text}" must be an integer in 1..${MaxGateways}`);
  }
  return value;
}

function parseTakeover(text: string | undefined): 'any' | 'same-identity' {
  if (text === undefined || text === '' || text === 'any') return 'any';
  if (text === 'same-identity') return 'same-identity';
  throw new MqttError('Config', ReasonCode.ImplementationSpecificError, `MQTT_TAKEOVER="${text}" must be any or same-identity`);
}

function parseBoolean(name: string, text: string | undefined, fallback: boolean): boolean {
  if (text === undefined || text === '') return fallback;
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new MqttError('Config', ReasonCode.ImplementationSpecificError, `${name}="${text}" must be true or false`);
}
