/**
 * Every setting the sidecar reads, in one table: the environment variable
 * (also the name in a --config file), the command-line flag derived from it,
 * the default and what it means. `--help`, the flags and the config-file
 * check are all built from this list, so none of them can name a setting
 * that the others do not know; config.ts validates the values.
 */

export type SettingGroup = 'listeners' | 'edge' | 'devices' | 'metrics' | 'bridges' | 'logs';

export interface Setting {
  readonly name: `MQTT_${string}`;
  readonly group: SettingGroup;
  /** What the value is, as `--help` shows it after the flag: `<port>`, `on|off`. */
  readonly value: string;
  /** The value used when the setting is not given (setting it to this changes nothing; a test holds it to that). */
  readonly default?: string;
  /** Said instead of a default when there is none to write down: `off`, `none`, `MQTT_TCP_HOST`. */
  readonly whenUnset?: string;
  readonly meaning: string;
  /** A value someone could use against the edge: as a flag it shows in `ps`, so `--help` points to the file form. */
  readonly secret?: true;
  /**
   * The other name of the same setting (`MQTT_BRIDGES` / `MQTT_BRIDGES_FILE`): the
   * sidecar takes one of the two, so a stronger source that gives either overrides both.
   */
  readonly alternative?: `MQTT_${string}`;
}

export const SettingGroupTitles: Readonly<Record<SettingGroup, string>> = {
  listeners: 'Device listeners',
  edge: 'The edge',
  devices: 'Limits per device and shutdown',
  metrics: 'Metrics and health check',
  bridges: 'Broker bridges',
  logs: 'Logs',
};

export const SidecarSettings: readonly Setting[] = [
  { name: 'MQTT_TCP_HOST', group: 'listeners', value: '<host>', default: '0.0.0.0', meaning: 'address of the plain TCP listener (0.0.0.0: every IPv4 address)' },
  { name: 'MQTT_TCP_PORT', group: 'listeners', value: '<port>', default: '1883', meaning: 'port of the plain TCP listener (0: any free port)' },
  {
    name: 'MQTT_TLS_PORT',
    group: 'listeners',
    value: '<port>',
    whenUnset: 'off; 8883 once TLS is on',
    meaning: 'port of the TLS listener; TLS is on as soon as any MQTT_TLS_* is set, and then needs MQTT_TLS_CERT and MQTT_TLS_KEY',
  },
  { name: 'MQTT_TLS_HOST', group: 'listeners', value: '<host>', whenUnset: 'MQTT_TCP_HOST', meaning: 'address of the TLS listener' },
  { name: 'MQTT_TLS_CERT', group: 'listeners', value: '<file>', whenUnset: 'none', meaning: "PEM file of the TLS listener's certificate chain (server certificate first)" },
  { name: 'MQTT_TLS_KEY', group: 'listeners', value: '<file>', whenUnset: 'none', meaning: "PEM file of the TLS listener's private key" },
  {
    name: 'MQTT_EDGE_URL',
    group: 'edge',
    value: '<url>',
    default: 'ws://127.0.0.1:8787/mqtt',
    meaning: "the edge's MQTT endpoint, ws:// or wss://; path /mqtt is the namespace default, /mqtt/<namespace> another",
  },
  {
    name: 'MQTT_BRIDGE_SECRET',
    group: 'edge',
    value: '<secret>',
    whenUnset: 'none',
    meaning: "the Worker's MQTT_BRIDGE_SECRET (the same value): the edge then trusts the device addresses, lets the sidecar answer PINGREQ and carry every device on one link",
    secret: true,
    alternative: 'MQTT_BRIDGE_SECRET_FILE',
  },
  { name: 'MQTT_BRIDGE_SECRET_FILE', group: 'edge', value: '<file>', whenUnset: 'none', meaning: 'a file holding MQTT_BRIDGE_SECRET (one of the two)', alternative: 'MQTT_BRIDGE_SECRET' },
  {
    name: 'MQTT_EDGE_LINK',
    group: 'edge',
    value: 'on|off',
    default: 'on',
    meaning: 'on: all devices over one WebSocket (needs the bridge secret); off: a WebSocket per device',
  },
  { name: 'MQTT_EDGE_CONNECT_TIMEOUT_MS', group: 'edge', value: '<ms>', default: '10000', meaning: 'time the edge has to complete a WebSocket upgrade' },
  { name: 'MQTT_MAX_CONNECTIONS', group: 'devices', value: '<n>', default: '10000', meaning: 'devices at once, counted from TCP accept (0: unlimited); more get CONNACK "server unavailable"' },
  {
    name: 'MQTT_MAX_PACKET_SIZE',
    group: 'devices',
    value: '<bytes>',
    default: '1048576',
    meaning: "largest packet accepted from a device, fixed header included (at most 268435455); also from a bridge's remote broker, refused at its fixed header",
  },
  { name: 'MQTT_CONNECT_TIMEOUT_MS', group: 'devices', value: '<ms>', default: '10000', meaning: 'time a device has to complete TLS and send its CONNECT' },
  {
    name: 'MQTT_HIGH_WATER_BYTES',
    group: 'devices',
    value: '<bytes>',
    default: '262144',
    meaning: "bytes of a device's packets waiting for the edge above which it is no longer read (on a link of version 3 it is not read either while it has no credit)",
  },
  {
    name: 'MQTT_LINK_DEVICE_QUEUE_BYTES',
    group: 'devices',
    value: '<bytes>',
    default: '1048576',
    meaning: 'on the link: bytes held for a device that does not read what it is sent; beyond them it is dropped',
  },
  { name: 'MQTT_SHUTDOWN_GRACE_MS', group: 'devices', value: '<ms>', default: '5000', meaning: 'bound on a graceful stop (SIGTERM, SIGINT, SIGHUP) and on flushing a closing device' },
  { name: 'MQTT_METRICS_PORT', group: 'metrics', value: '<port>', whenUnset: 'off', meaning: 'port of GET /metrics (Prometheus) and GET /healthz (200 serving, 503 stopping)' },
  { name: 'MQTT_METRICS_HOST', group: 'metrics', value: '<host>', default: '127.0.0.1', meaning: 'address of the metrics listener' },
  {
    name: 'MQTT_ADMIN_TOKEN',
    group: 'metrics',
    value: '<token>',
    whenUnset: 'none (/metrics is open)',
    meaning: 'bearer token GET /metrics asks for (/healthz never does)',
    secret: true,
    alternative: 'MQTT_ADMIN_TOKEN_FILE',
  },
  { name: 'MQTT_ADMIN_TOKEN_FILE', group: 'metrics', value: '<file>', whenUnset: 'none', meaning: 'a file holding MQTT_ADMIN_TOKEN (one of the two)', alternative: 'MQTT_ADMIN_TOKEN' },
  {
    name: 'MQTT_BRIDGES',
    group: 'bridges',
    value: '<text>',
    whenUnset: 'none',
    meaning: 'broker-to-broker bridges: mosquitto.conf connection blocks, as text',
    alternative: 'MQTT_BRIDGES_FILE',
  },
  { name: 'MQTT_BRIDGES_FILE', group: 'bridges', value: '<file>', whenUnset: 'none', meaning: 'a file of such blocks (one of the two)', alternative: 'MQTT_BRIDGES' },
  { name: 'MQTT_LOG_FORMAT', group: 'logs', value: 'json|pretty', default: 'json', meaning: 'one JSON object per line on stderr, or a readable line' },
  { name: 'MQTT_LOG_LEVEL', group: 'logs', value: 'debug|info|warn|error|silent', default: 'info', meaning: 'the least severe level written' },
  {
    name: 'MQTT_LOG_EVENTS',
    group: 'logs',
    value: '<events>',
    default: 'connect,disconnect',
    meaning: "devices' doings logged, a line each: connect, disconnect, subscribe, unsubscribe, publish, deliver (commas or blanks), all or none; problems are always logged",
  },
];

/** `MQTT_TCP_PORT` → `tcp-port`: the flag is the variable's name, so the two cannot drift apart. */
export function flagOf(name: string): string {
  return name.replace(/^MQTT_/, '').toLowerCase().replaceAll('_', '-');
}

const byName = new Map<string, Setting>(SidecarSettings.map((setting) => [setting.name, setting]));

export function findSetting(name: string): Setting | undefined {
  return byName.get(name);
}

/** How messages name a setting for someone who may use either form: `MQTT_TCP_PORT (--tcp-port)`. */
export function settingLabel(name: string): string {
  return byName.has(name) ? `${name} (--${flagOf(name)})` : name;
}
