/**
 * Sidecar settings from environment variables. Every value is validated up
 * front and every problem is reported at once: a typo must never silently
 * change a limit or a port.
 */
import { readFileSync } from 'node:fs';
import { DefaultLogEvents, parseLogEvents, type LogEventName } from '../shared/log-events.ts';
import { hostname } from 'node:os';
import { parseBridgeConfig, type BridgeConfig } from './broker-bridges/config.ts';
import { describeError, type LogFormat, type LogLevel } from './log.ts';

/** The largest packet MQTT can express: a 4-byte Remaining Length of 268,435,455 bytes. */
export const MQTT_MAX_PACKET_SIZE_LIMIT = 268_435_455;

export interface ListenerConfig {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
}

export interface TlsListenerConfig extends ListenerConfig {
  /** Path of the PEM certificate chain. */
  certFile: string;
  /** Path of the PEM private key. */
  keyFile: string;
}

export interface SidecarConfig {
  tcp: ListenerConfig;
  /** Present only when a TLS listener was configured. */
  tls?: TlsListenerConfig;
  /** ws:// or wss:// URL of the edge's MQTT endpoint; its path selects the namespace. */
  edgeUrl: string;
  /** Broker namespace the URL path selects (for logs only: the edge routes by path). */
  namespace: string;
  /** Shared secret that makes the edge trust the forwarded device address. */
  bridgeSecret?: string;
  /** Largest packet accepted from a device, fixed header included. */
  maxPacketSize: number;
  /** Bridged clients at once, counted from TCP accept; 0 = unlimited. */
  maxConnections: number;
  /** Time a device has to send a complete CONNECT. */
  connectTimeoutMs: number;
  /** Time the edge has to complete the WebSocket upgrade. */
  edgeConnectTimeoutMs: number;
  /** Bound on a graceful shutdown, and on flushing a connection that is closing. */
  shutdownGraceMs: number;
  /** Bytes queued toward the edge above which the device's socket stops being read. */
  highWaterBytes: number;
  /**
   * All devices over one multiplexed WebSocket (the link) rather than one
   * WebSocket each; needs the bridge secret. MQTT_EDGE_LINK=on|off, on by default.
   */
  edgeLink: boolean;
  /** On the link: bytes held for a device that does not read before it is dropped. */
  linkDeviceQueueBytes: number;
  log: { format: LogFormat; level: LogLevel };
  /** GET /metrics (Prometheus) and /healthz on their own listener; absent = off. */
  metrics?: ListenerConfig & { token?: string };
  /** Broker-to-broker bridges (MQTT_BRIDGES / MQTT_BRIDGES_FILE, mosquitto syntax); none by default. */
  bridges: readonly BridgeConfig[];
  /** MQTT_LOG_EVENTS: what of each device's doings is logged (shared/log-events.ts). */
  logEvents: ReadonlySet<LogEventName>;
}

export type SidecarEnv = Readonly<Record<string, string | undefined>>;

export const DEFAULT_EDGE_URL = 'ws://127.0.0.1:8787/mqtt';

/** One invalid setting: the variable at fault, so that a caller can say where its value came from (a flag, a file). */
export interface SidecarConfigIssue {
  variable: string;
  problem: string;
}

/** Thrown by loadSidecarConfig with one line per invalid variable. */
export class SidecarConfigError extends Error {
  readonly issues: readonly SidecarConfigIssue[];

  constructor(issues: readonly SidecarConfigIssue[]) {
    super(`invalid sidecar configuration:\n  ${issues.map((issue) => issue.problem).join('\n  ')}`);
    this.name = 'SidecarConfigError';
    this.issues = issues;
  }

  get problems(): readonly string[] {
    return this.issues.map((issue) => issue.problem);
  }
}

/**
 * Reads the sidecar's settings from `env` (normally `process.env`).
 *
 * @example
 * const config = loadSidecarConfig({ ...process.env, MQTT_TCP_PORT: '0' });
 * const sidecar = await startSidecar(config);
 */
export function loadSidecarConfig(env: SidecarEnv): SidecarConfig {
  const reader = new EnvReader(env);
  const tcpHost = reader.text('MQTT_TCP_HOST', '0.0.0.0');
  const config: SidecarConfig = {
    tcp: { host: tcpHost, port: reader.integer('MQTT_TCP_PORT', 1883, 0, 65_535) },
    edgeUrl: DEFAULT_EDGE_URL,
    namespace: 'default',
    maxPacketSize: reader.integer('MQTT_MAX_PACKET_SIZE', 1024 * 1024, 16, MQTT_MAX_PACKET_SIZE_LIMIT),
    maxConnections: reader.integer('MQTT_MAX_CONNECTIONS', 10_000, 0, 10_000_000),
    connectTimeoutMs: reader.integer('MQTT_CONNECT_TIMEOUT_MS', 10_000, 100, 600_000),
    edgeConnectTimeoutMs: reader.integer('MQTT_EDGE_CONNECT_TIMEOUT_MS', 10_000, 100, 600_000),
    shutdownGraceMs: reader.integer('MQTT_SHUTDOWN_GRACE_MS', 5_000, 0, 600_000),
    highWaterBytes: reader.integer('MQTT_HIGH_WATER_BYTES', 256 * 1024, 1024, 256 * 1024 * 1024),
    edgeLink: reader.choice('MQTT_EDGE_LINK', ['on', 'off'] as const, 'on') === 'on',
    linkDeviceQueueBytes: reader.integer('MQTT_LINK_DEVICE_QUEUE_BYTES', 1024 * 1024, 1024, 1024 * 1024 * 1024),
    log: {
      format: reader.choice('MQTT_LOG_FORMAT', ['json', 'pretty'] as const, 'json'),
      level: reader.choice('MQTT_LOG_LEVEL', ['debug', 'info', 'warn', 'error', 'silent'] as const, 'info'),
    },
    bridges: readBridges(reader),
    logEvents: DefaultLogEvents,
  };
  const logEvents = parseLogEvents(reader.optionalText('MQTT_LOG_EVENTS'));
  if (typeof logEvents === 'string') reader.problem('MQTT_LOG_EVENTS', logEvents);
  else config.logEvents = logEvents;

  const edge = parseEdgeUrl(reader.text('MQTT_EDGE_URL', DEFAULT_EDGE_URL));
  if (typeof edge === 'string') reader.problem('MQTT_EDGE_URL', edge);
  else Object.assign(config, edge);

  const secret = reader.secret('MQTT_BRIDGE_SECRET');
  if (secret !== undefined) config.bridgeSecret = secret;

  const tls = readTlsListener(reader, tcpHost);
  if (tls !== undefined) config.tls = tls;

  const metricsPort = reader.optionalText('MQTT_METRICS_PORT');
  if (metricsPort !== undefined) {
    const token = reader.secret('MQTT_ADMIN_TOKEN');
    config.metrics = {
      // Loopback by default: metrics describe the fleet and need not face it.
      host: reader.text('MQTT_METRICS_HOST', '127.0.0.1'),
      port: reader.integer('MQTT_METRICS_PORT', 0, 0, 65_535),
      ...(token === undefined ? {} : { token }),
    };
  }

  reader.throwIfInvalid();
  return config;
}

/** TLS is on as soon as any MQTT_TLS_* variable is set; then cert and key are required. */
function readTlsListener(reader: EnvReader, defaultHost: string): TlsListenerConfig | undefined {
  const port = reader.optionalText('MQTT_TLS_PORT');
  const certFile = reader.optionalText('MQTT_TLS_CERT');
  const keyFile = reader.optionalText('MQTT_TLS_KEY');
  if (port === undefined && certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined) reader.problem('MQTT_TLS_CERT', 'MQTT_TLS_CERT (a PEM certificate file) is required when TLS is configured');
  if (keyFile === undefined) reader.problem('MQTT_TLS_KEY', 'MQTT_TLS_KEY (a PEM private key file) is required when TLS is configured');
  return {
    host: reader.text('MQTT_TLS_HOST', defaultHost),
    port: reader.integer('MQTT_TLS_PORT', 8883, 0, 65_535),
    certFile: certFile ?? '',
    keyFile: keyFile ?? '',
  };
}

/**
 * mosquitto.conf bridge blocks, inline (MQTT_BRIDGES) or from a file
 * (MQTT_BRIDGES_FILE); each problem names its line.
 */
function readBridges(reader: EnvReader): BridgeConfig[] {
  // Untrimmed: line numbers in messages must count the lines the user wrote.
  const inline = reader.untrimmedText('MQTT_BRIDGES');
  const path = reader.optionalText('MQTT_BRIDGES_FILE');
  if (inline !== undefined && path !== undefined) {
    reader.problem('MQTT_BRIDGES', 'MQTT_BRIDGES and MQTT_BRIDGES_FILE are both set: use one');
    return [];
  }
  let text = inline;
  if (path !== undefined) {
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      reader.problem('MQTT_BRIDGES_FILE', `MQTT_BRIDGES_FILE="${path}" cannot be read: ${describeError(error)}`);
      return [];
    }
  }
  if (text === undefined) return [];
  const { bridges, problems } = parseBridgeConfig(text, { source: path ?? 'MQTT_BRIDGES', hostname: hostname() });
  for (const problem of problems) reader.problem(path === undefined ? 'MQTT_BRIDGES' : 'MQTT_BRIDGES_FILE', problem);
  return bridges;
}

/** Accepts ws(s)://host[:port]/mqtt[/<namespace>]; returns a problem text otherwise. */
export function parseEdgeUrl(text: string): { edgeUrl: string; namespace: string } | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `MQTT_EDGE_URL="${text}" is not a URL (expected e.g. ${DEFAULT_EDGE_URL})`;
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    return `MQTT_EDGE_URL="${text}" must use ws:// or wss://`;
  }
  if (url.username !== '' || url.password !== '') {
    return 'MQTT_EDGE_URL must not carry credentials (use MQTT_BRIDGE_SECRET)';
  }
  const match = /^\/mqtt(?:\/([^/]+))?\/?$/.exec(url.pathname);
  if (match === null) {
    return `MQTT_EDGE_URL path "${url.pathname}" must be /mqtt or /mqtt/<namespace>`;
  }
  return { edgeUrl: url.toString(), namespace: match[1] === undefined ? 'default' : decodeURIComponent(match[1]) };
}

/** Reads variables and collects every problem instead of stopping at the first. */
class EnvReader {
  readonly #env: SidecarEnv;
  readonly #issues: SidecarConfigIssue[] = [];

  constructor(env: SidecarEnv) {
    this.#env = env;
  }

  problem(variable: string, problem: string): void {
    this.#issues.push({ variable, problem });
  }

  optionalText(name: string): string | undefined {
    const value = this.#env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  untrimmedText(name: string): string | undefined {
    return this.optionalText(name) === undefined ? undefined : this.#env[name];
  }

  text(name: string, fallback: string): string {
    return this.optionalText(name) ?? fallback;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const text = this.optionalText(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      this.problem(name, `${name}="${text}" must be an integer in ${min}..${max}`);
      return fallback;
    }
    return value;
  }

  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const text = this.optionalText(name);
    if (text === undefined) return fallback;
    const found = choices.find((choice) => choice === text.toLowerCase());
    if (found === undefined) this.problem(name, `${name}="${text}" must be one of ${choices.join(', ')}`);
    return found ?? fallback;
  }

  /**
   * A secret from `name`, or from the file `name`_FILE names (one of the
   * two): a file keeps it out of `ps` and out of the unit or compose file
   * that starts the process. Surrounding whitespace, such as the file's
   * last newline, is not part of it.
   */
  secret(name: string): string | undefined {
    const fileVariable = `${name}_FILE`;
    const inline = this.optionalText(name);
    const path = this.optionalText(fileVariable);
    if (path === undefined) return inline;
    if (inline !== undefined) {
      this.problem(name, `${name} and ${fileVariable} are both set: use one`);
      return inline;
    }
    let text: string;
    try {
      text = readFileSync(path, 'utf8').trim();
    } catch (error) {
      this.problem(fileVariable, `${fileVariable}="${path}" cannot be read: ${describeError(error)}`);
      return undefined;
    }
    if (text === '') this.problem(fileVariable, `${fileVariable}="${path}" is empty`);
    return text === '' ? undefined : text;
  }

  throwIfInvalid(): void {
    if (this.#issues.length > 0) throw new SidecarConfigError(this.#issues);
  }
}
