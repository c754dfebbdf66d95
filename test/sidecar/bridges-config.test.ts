/**
 * parseBridgeConfig: mosquitto.conf bridge blocks in, typed settings out;
 * every refusal names the line and the option. Expected values follow
 * mosquitto.conf(5) and what mosquitto 2.0.11 itself accepts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBridgeConfig, type BridgeConfig, type BridgeTopic } from '../../sidecar/broker-bridges/config.ts';
import { loadSidecarConfig, SidecarConfigError } from '../../sidecar/config.ts';

const parse = (text: string) => parseBridgeConfig(text, { source: 'MQTT_BRIDGES', hostname: 'gw' });

function parseOne(text: string): BridgeConfig {
  const { bridges, problems } = parse(text);
  expect(problems).toEqual([]);
  expect(bridges).toHaveLength(1);
  return bridges[0] as BridgeConfig;
}

const block = (...lines: string[]): string => ['connection b1', 'address 10.0.0.5', ...lines].join('\n');

describe('valid bridge blocks', () => {
  it('has mosquitto defaults for everything but the name, an address and a topic', () => {
    expect(parseOne('connection b1\naddress 10.0.0.5\ntopic sensors/#\n')).toEqual({
      name: 'b1',
      line: 1,
      addresses: [{ host: '10.0.0.5', port: 1883 }],
      topics: [{ pattern: 'sensors/#', direction: 'out', qos: 0, localPrefix: '', remotePrefix: '', localFilter: 'sensors/#', remoteFilter: 'sensors/#', line: 3 }],
      remoteClientId: 'gw.b1',
      localClientId: 'local.gw.b1',
      cleanSession: false,
      protocol: 'mqttv311',
      tryPrivate: true,
      keepAliveSeconds: 60,
      notifications: true,
      notificationTopic: '$SYS/broker/connection/gw.b1/state',
      restart: { kind: 'jitter', baseSeconds: 5, capSeconds: 30 },
    } satisfies BridgeConfig);
  });

  it('reads every supported directive', () => {
    const config = parseOne(
      [
        'connection cloud',
        'address broker.example.com:8883 backup.example.com',
        'topic # both 2 site/ hq/site-a/',
        'remote_username bridge user',
        'remote_password pass word with spaces',
        'remote_clientid gateway-7',
        'local_clientid local-gateway-7',
        'local_username edge-bridge',
        'local_password edge-pw',
        'cleansession true',
        'bridge_protocol_version mqttv50',
        'bridge_cafile /etc/ssl/broker-ca.pem',
        'bridge_insecure true',
        'keepalive_interval 30',
        'try_private false',
        'notifications false',
        'notification_topic bridges/cloud/state',
        'start_type automatic',
        'restart_timeout 2 20',
        'bridge_max_packet_size 65536',
      ].join('\n'),
    );
    expect(config).toEqual({
      name: 'cloud',
      line: 1,
      addresses: [
        { host: 'broker.example.com', port: 8883 },
        { host: 'backup.example.com', port: 1883 },
      ],
      topics: [{ pattern: '#', direction: 'both', qos: 2, localPrefix: 'site/', remotePrefix: 'hq/site-a/', localFilter: 'site/#', remoteFilter: 'hq/site-a/#', line: 3 }],
      // String values are the rest of the line, spaces included, as mosquitto reads them.
      remoteCredentials: { username: 'bridge user', password: 'pass word with spaces' },
      remoteClientId: 'gateway-7',
      localClientId: 'local-gateway-7',
      localCredentials: { username: 'edge-bridge', password: 'edge-pw' },
      cleanSession: true,
      protocol: 'mqttv50',
      tls: { caFile: '/etc/ssl/broker-ca.pem', insecure: true },
      keepAliveSeconds: 30,
      tryPrivate: false,
      notifications: false,
      notificationTopic: 'bridges/cloud/state',
      restart: { kind: 'jitter', baseSeconds: 2, capSeconds: 20 },
      maxPacketSize: 65_536,
    } satisfies BridgeConfig);
  });

  it('takes bridge_max_packet_size 0 as mosquitto does: no limit', () => {
    expect(parseOne(block('topic a', 'bridge_max_packet_size 0'))).not.toHaveProperty('maxPacketSize');
  });

  it('reads several blocks, skipping comments, blank lines, indentation and CRLF', () => {
    const { bridges, problems } = parse(
      ['# bridges of site A', '', 'connection one', '  address 10.0.0.1:1884', '\ttopic a/# in 1', '', 'connection two', 'address 10.0.0.2', 'topic # out', 'topic b/+ both 1'].join('\r\n'),
    );
    expect(problems).toEqual([]);
    expect(bridges.map((bridge) => [bridge.name, bridge.line, bridge.addresses, bridge.topics.map((topic) => [topic.localFilter, topic.direction, topic.qos, topic.line])])).toEqual([
      ['one', 3, [{ host: '10.0.0.1', port: 1884 }], [['a/#', 'in', 1, 5]]],
      [
        'two',
        7,
        [{ host: '10.0.0.2', port: 1883 }],
        [
          ['#', 'out', 0, 9],
          ['b/+', 'both', 1, 10],
        ],
      ],
    ]);
  });

  it.each([
    // The valid rows of mosquitto.conf(5)'s remapping table, and the forms around them.
    ['topic pattern out 0 L/ R/', { localFilter: 'L/pattern', remoteFilter: 'R/pattern' }],
    ['topic pattern out 0 L/ ""', { localFilter: 'L/pattern', remoteFilter: 'pattern' }],
    ['topic pattern out 0 "" R/', { localFilter: 'pattern', remoteFilter: 'R/pattern' }],
    ['topic pattern out 0 "" ""', { localFilter: 'pattern', remoteFilter: 'pattern' }],
    ['topic "" out 0 local remote', { pattern: '', localFilter: 'local', remoteFilter: 'remote' }],
    // mosquitto accepts a local prefix alone: the remote one is then empty.
    ['topic a/# in 1 L/', { localPrefix: 'L/', remotePrefix: '', localFilter: 'L/a/#', remoteFilter: 'a/#' }],
    ['topic a IN', { direction: 'in', qos: 0 }],
    ['topic a Both 2', { direction: 'both', qos: 2 }],
    ['topic # both', { localFilter: '#', remoteFilter: '#' }],
  ] as const)('%s', (line, expected) => {
    expect(parseOne(block(line)).topics[0]).toMatchObject(expected satisfies Partial<BridgeTopic>);
  });

  it.each([
    ['address 10.0.0.5:1885', [{ host: '10.0.0.5', port: 1885 }]],
    ['address broker.local', [{ host: 'broker.local', port: 1883 }]],
    ['address [2001:db8::1]:8883', [{ host: '2001:db8::1', port: 8883 }]],
    ['address [2001:db8::1]', [{ host: '2001:db8::1', port: 1883 }]],
    // An unbracketed IPv6 address needs its port, which follows the last colon (mosquitto.conf(5)).
    ['address 2001:db8::1:8883', [{ host: '2001:db8::1', port: 8883 }]],
    ['addresses a:1 b:2', [{ host: 'a', port: 1 }, { host: 'b', port: 2 }]],
  ])('%s', (line, addresses) => {
    expect(parseOne(['connection b1', line, 'topic a'].join('\n')).addresses).toEqual(addresses);
  });

  it('accepts the old option names mosquitto still reads (clientid, username, password)', () => {
    expect(parseOne(block('topic a', 'clientid old-id', 'username old-user', 'password old-pw'))).toMatchObject({
      remoteClientId: 'old-id',
      localClientId: 'local.old-id',
      remoteCredentials: { username: 'old-user', password: 'old-pw' },
    });
  });

  it('reads a constant restart_timeout', () => {
    expect(parseOne(block('topic a', 'restart_timeout 20')).restart).toEqual({ kind: 'constant', seconds: 20 });
  });
});

describe('refusals name the line and the option', () => {
  it.each([
    ['a directive of mosquitto outside bridges', 'listener 1883', /^MQTT_BRIDGES line 3: unknown option "listener" \(bridge options: connection, address, topic, /],
    ['a typo', 'adress 10.0.0.6', /^MQTT_BRIDGES line 3: unknown option "adress"/],
    ['a mosquitto bridge option not supported', 'round_robin true', 'MQTT_BRIDGES line 3: round_robin is a mosquitto bridge option this bridge does not support'],
    ['a bad direction', 'topic a sideways', 'MQTT_BRIDGES line 3: topic direction must be in, out or both, got "sideways"'],
    ['a bad QoS', 'topic a in 3', 'MQTT_BRIDGES line 3: topic QoS must be 0, 1 or 2, got "3"'],
    ['a prefix with a wildcard', 'topic a/# in 1 L/# R/', 'MQTT_BRIDGES line 3: topic local prefix "L/#" must not contain wildcards'],
    ['an empty pattern without both prefixes', 'topic "" in 1 L/ ""', 'MQTT_BRIDGES line 3: topic "" needs both a local and a remote prefix (it maps one topic to another)'],
    ['an invalid pattern', 'topic a/#/b in', 'MQTT_BRIDGES line 3: topic pattern "a/#/b" is not a valid topic filter'],
    ['a prefix that breaks the pattern', 'topic # in 0 "" R', 'MQTT_BRIDGES line 3: topic remote prefix "R" + pattern "#" gives "R#", not a valid topic filter (prefixes usually end with "/")'],
    ['a word too many on a topic', 'topic a in 1 L/ R/ extra', 'MQTT_BRIDGES line 3: topic takes at most 5 values, got "a in 1 L/ R/ extra"'],
    ['a topic without a pattern', 'topic', 'MQTT_BRIDGES line 3: topic needs a value'],
    ['a boolean that is not true or false', 'cleansession TRUE', 'MQTT_BRIDGES line 3: cleansession must be true or false, got "TRUE"'],
    ['a boolean without a value', 'try_private', 'MQTT_BRIDGES line 3: try_private needs a value'],
    ['an unknown protocol version', 'bridge_protocol_version mqttv5', 'MQTT_BRIDGES line 3: bridge_protocol_version must be one of mqttv31, mqttv311, mqttv50, got "mqttv5"'],
    ['a keep-alive mosquitto would raise to 5', 'keepalive_interval 2', 'MQTT_BRIDGES line 3: keepalive_interval must be an integer in 5..65535, got "2"'],
    ['a keep-alive that is not a number', 'keepalive_interval abc', 'MQTT_BRIDGES line 3: keepalive_interval must be an integer in 5..65535, got "abc"'],
    ['a restart_timeout of 0', 'restart_timeout 0', 'MQTT_BRIDGES line 3: restart_timeout must be an integer in 1..86400, got "0"'],
    ['a restart_timeout cap under its base', 'restart_timeout 10 5', 'MQTT_BRIDGES line 3: restart_timeout cap 5 is lower than its base 10'],
    ['a restart_timeout with three values', 'restart_timeout 1 2 3', 'MQTT_BRIDGES line 3: restart_timeout takes at most 2 values, got "1 2 3"'],
    ['a packet size that is not a number', 'bridge_max_packet_size 1k', 'MQTT_BRIDGES line 3: bridge_max_packet_size must be an integer in 0..268435460, got "1k"'],
    ['a start type other than automatic', 'start_type lazy', 'MQTT_BRIDGES line 3: start_type "lazy" is not supported (only automatic)'],
    ['an empty client id', 'remote_clientid', 'MQTT_BRIDGES line 3: remote_clientid needs a value'],
    ['a notification topic with a wildcard', 'notification_topic state/#', 'MQTT_BRIDGES line 3: notification_topic "state/#" is not a valid topic name'],
    ['an option given twice', 'address 10.0.0.6', 'MQTT_BRIDGES line 3: address is already set for connection b1 on line 2'],
  ])('%s', (_what, line, problem) => {
    const { bridges, problems } = parse(['connection b1', 'address 10.0.0.5', line, 'topic a'].join('\n'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(typeof problem === 'string' ? new RegExp(`^${escape(problem)}$`) : problem);
    expect(bridges).toEqual([]);
  });

  it.each([
    ['a port out of range', 'address 10.0.0.5:70000', 'MQTT_BRIDGES line 2: port of address "10.0.0.5:70000" must be an integer in 1..65535, got "70000"'],
    ['a port that is not a number', 'address 10.0.0.5:abc', 'MQTT_BRIDGES line 2: port of address "10.0.0.5:abc" must be an integer in 1..65535, got "abc"'],
    ['an address without a host', 'address :1883', 'MQTT_BRIDGES line 2: address ":1883" has no host'],
  ])('%s', (_what, line, problem) => {
    expect(parse(['connection b1', line, 'topic a'].join('\n')).problems).toEqual([problem]);
  });

  it.each([
    ['no address', 'connection b1\ntopic a', 'MQTT_BRIDGES line 1: connection b1: no address given (add "address host[:port]")'],
    ['no topic', 'connection b1\naddress h', 'MQTT_BRIDGES line 1: connection b1: no topic given (add e.g. "topic # both 0")'],
    ['a password without a user', block('topic a', 'remote_password pw'), 'MQTT_BRIDGES line 1: connection b1: remote_password needs remote_username'],
    ['a local password without a user', block('topic a', 'local_password pw'), 'MQTT_BRIDGES line 1: connection b1: local_password needs local_username'],
    ['bridge_insecure without a CA file', block('topic a', 'bridge_insecure true'), 'MQTT_BRIDGES line 1: connection b1: bridge_insecure needs bridge_cafile (TLS is on only with a CA file)'],
    ['the same client id on both sides', block('topic a', 'remote_clientid same', 'local_clientid same'), 'MQTT_BRIDGES line 1: connection b1: local_clientid and remote_clientid are both "same"'],
    ['an option before any connection', 'address h\nconnection b1\naddress h\ntopic a', 'MQTT_BRIDGES line 1: address must follow a "connection <name>" line'],
    ['a connection without a name', 'connection\naddress h\ntopic a', 'MQTT_BRIDGES line 1: connection needs exactly one name, got none'],
    ['a connection with two names', 'connection b1 b2\naddress h\ntopic a', 'MQTT_BRIDGES line 1: connection needs exactly one name, got "b1 b2"'],
    ['a connection name used twice', `${block('topic a')}\n${block('topic b')}`, 'MQTT_BRIDGES line 4: connection b1 is already defined on line 1'],
  ])('%s', (_what, text, problem) => {
    expect(parse(text).problems).toContain(problem);
  });

  it('reports every problem at once, each with its line', () => {
    const { problems } = parse(['connection b1', 'address h:0', 'topic a sideways', 'round_robin true', '', 'connection b2', 'topic a'].join('\n'));
    expect(problems).toEqual([
      'MQTT_BRIDGES line 2: port of address "h:0" must be an integer in 1..65535, got "0"',
      'MQTT_BRIDGES line 3: topic direction must be in, out or both, got "sideways"',
      'MQTT_BRIDGES line 4: round_robin is a mosquitto bridge option this bridge does not support',
      'MQTT_BRIDGES line 6: connection b2: no address given (add "address host[:port]")',
    ]);
  });
});

describe('MQTT_BRIDGES and MQTT_BRIDGES_FILE in the sidecar configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bridges-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const problemsOf = (env: Record<string, string>): readonly string[] => {
    try {
      loadSidecarConfig(env);
    } catch (error) {
      if (error instanceof SidecarConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it('reads the blocks inline, counting lines as written (a leading newline included)', () => {
    expect(loadSidecarConfig({ MQTT_BRIDGES: 'connection b1\naddress h\ntopic a' }).bridges.map((bridge) => bridge.name)).toEqual(['b1']);
    expect(problemsOf({ MQTT_BRIDGES: '\nconnection b1\naddress h\ntopic a\nthreshold 10' })).toEqual(['MQTT_BRIDGES line 5: threshold is a mosquitto bridge option this bridge does not support']);
  });

  it('reads them from a file, whose path names the problems', () => {
    const path = join(dir, 'bridges.conf');
    writeFileSync(path, 'connection b1\naddress h\ntopic a in 7\n');
    expect(problemsOf({ MQTT_BRIDGES_FILE: path })).toEqual([`${path} line 3: topic QoS must be 0, 1 or 2, got "7"`]);
    writeFileSync(path, 'connection b1\naddress h\ntopic a in 1\n');
    expect(loadSidecarConfig({ MQTT_BRIDGES_FILE: path }).bridges).toHaveLength(1);
  });

  it('refuses a file it cannot read, and both variables at once', () => {
    expect(problemsOf({ MQTT_BRIDGES_FILE: join(dir, 'missing.conf') })[0]).toMatch(/^MQTT_BRIDGES_FILE=".*missing\.conf" cannot be read: ENOENT/);
    expect(problemsOf({ MQTT_BRIDGES: 'connection b1', MQTT_BRIDGES_FILE: join(dir, 'x') })).toEqual(['MQTT_BRIDGES and MQTT_BRIDGES_FILE are both set: use one']);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
