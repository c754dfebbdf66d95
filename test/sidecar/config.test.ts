/** loadSidecarConfig: defaults, overrides, secrets from files, and every problem reported at once. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSidecarConfig, parseEdgeUrl, SidecarConfigError, type SidecarConfigIssue } from '../../sidecar/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'sidecar-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function issuesOf(env: Record<string, string>): SidecarConfigIssue[] {
  try {
    loadSidecarConfig(env);
  } catch (error) {
    if (error instanceof SidecarConfigError) return [...error.issues];
    throw error;
  }
  return [];
}

describe('loadSidecarConfig', () => {
  it('has defaults for a local stack', () => {
    expect(loadSidecarConfig({})).toEqual({
      tcp: { host: '0.0.0.0', port: 1883 },
      edgeUrl: 'ws://127.0.0.1:8787/mqtt',
      namespace: 'default',
      maxPacketSize: 1024 * 1024,
      maxConnections: 10_000,
      connectTimeoutMs: 10_000,
      edgeConnectTimeoutMs: 10_000,
      shutdownGraceMs: 5_000,
      highWaterBytes: 256 * 1024,
      edgeLink: true,
      linkDeviceQueueBytes: 1024 * 1024,
      log: { format: 'json', level: 'info' },
      bridges: [],
      logEvents: new Set(['connect', 'disconnect']),
    });
  });

  it('reads every variable', () => {
    const config = loadSidecarConfig({
      MQTT_TCP_HOST: '127.0.0.1',
      MQTT_TCP_PORT: '0',
      MQTT_TLS_PORT: '8884',
      MQTT_TLS_CERT: '/etc/mqtt/cert.pem',
      MQTT_TLS_KEY: '/etc/mqtt/key.pem',
      MQTT_EDGE_URL: 'wss://broker.example.com/mqtt/factory-7',
      MQTT_BRIDGE_SECRET: ' s3cret ',
      MQTT_MAX_PACKET_SIZE: '268435455',
      MQTT_MAX_CONNECTIONS: '0',
      MQTT_CONNECT_TIMEOUT_MS: '2500',
      MQTT_EDGE_CONNECT_TIMEOUT_MS: '3000',
      MQTT_SHUTDOWN_GRACE_MS: '0',
      MQTT_HIGH_WATER_BYTES: '1048576',
      MQTT_EDGE_LINK: 'off',
      MQTT_LINK_DEVICE_QUEUE_BYTES: '4096',
      MQTT_LOG_FORMAT: 'pretty',
      MQTT_LOG_LEVEL: 'DEBUG',
      MQTT_LOG_EVENTS: 'subscribe publish',
    });
    expect(config).toEqual({
      tcp: { host: '127.0.0.1', port: 0 },
      tls: { host: '127.0.0.1', port: 8884, certFile: '/etc/mqtt/cert.pem', keyFile: '/etc/mqtt/key.pem' },
      edgeUrl: 'wss://broker.example.com/mqtt/factory-7',
      namespace: 'factory-7',
      bridgeSecret: 's3cret',
      maxPacketSize: 268_435_455,
      maxConnections: 0,
      connectTimeoutMs: 2_500,
      edgeConnectTimeoutMs: 3_000,
      shutdownGraceMs: 0,
      highWaterBytes: 1024 * 1024,
      edgeLink: false,
      linkDeviceQueueBytes: 4096,
      log: { format: 'pretty', level: 'debug' },
      bridges: [],
      logEvents: new Set(['subscribe', 'publish']),
    });
  });

  it('treats empty variables as unset', () => {
    expect(loadSidecarConfig({ MQTT_TCP_PORT: '', MQTT_BRIDGE_SECRET: '' })).toMatchObject({ tcp: { port: 1883 } });
    expect(loadSidecarConfig({ MQTT_BRIDGE_SECRET: '' }).bridgeSecret).toBeUndefined();
  });

  it('reports every invalid variable at once', () => {
    let error: unknown;
    try {
      loadSidecarConfig({
        MQTT_TCP_PORT: '70000',
        MQTT_MAX_PACKET_SIZE: '268435456',
        MQTT_CONNECT_TIMEOUT_MS: '1.5',
        MQTT_LOG_FORMAT: 'xml',
        MQTT_EDGE_URL: 'http://127.0.0.1:8787/mqtt',
        MQTT_TLS_PORT: '8883',
      });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(SidecarConfigError);
    const problems = (error as SidecarConfigError).problems;
    expect(problems).toEqual([
      'MQTT_TCP_PORT="70000" must be an integer in 0..65535',
      'MQTT_MAX_PACKET_SIZE="268435456" must be an integer in 16..268435455',
      'MQTT_CONNECT_TIMEOUT_MS="1.5" must be an integer in 100..600000',
      'MQTT_LOG_FORMAT="xml" must be one of json, pretty',
      'MQTT_EDGE_URL="http://127.0.0.1:8787/mqtt" must use ws:// or wss://',
      'MQTT_TLS_CERT (a PEM certificate file) is required when TLS is configured',
      'MQTT_TLS_KEY (a PEM private key file) is required when TLS is configured',
    ]);
    expect((error as Error).message).toContain('MQTT_TCP_PORT="70000"');
  });
});

describe('secrets from files (MQTT_BRIDGE_SECRET_FILE, MQTT_ADMIN_TOKEN_FILE)', () => {
  it('reads each from its file, without the last newline', () => {
    const secretFile = join(dir, 'bridge-secret');
    const tokenFile = join(dir, 'admin-token');
    writeFileSync(secretFile, 's3cret\n');
    writeFileSync(tokenFile, 't0ken\n');
    const config = loadSidecarConfig({ MQTT_BRIDGE_SECRET_FILE: secretFile, MQTT_METRICS_PORT: '0', MQTT_ADMIN_TOKEN_FILE: tokenFile });
    expect(config.bridgeSecret).toBe('s3cret');
    expect(config.metrics).toEqual({ host: '127.0.0.1', port: 0, token: 't0ken' });
  });

  it('refuses both forms at once, a file it cannot read and an empty one, naming the variable at fault', () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    expect(issuesOf({ MQTT_BRIDGE_SECRET: 'a', MQTT_BRIDGE_SECRET_FILE: empty })).toEqual([
      { variable: 'MQTT_BRIDGE_SECRET', problem: 'MQTT_BRIDGE_SECRET and MQTT_BRIDGE_SECRET_FILE are both set: use one' },
    ]);
    expect(issuesOf({ MQTT_BRIDGE_SECRET_FILE: empty })).toEqual([{ variable: 'MQTT_BRIDGE_SECRET_FILE', problem: `MQTT_BRIDGE_SECRET_FILE="${empty}" is empty` }]);
    expect(issuesOf({ MQTT_METRICS_PORT: '0', MQTT_ADMIN_TOKEN_FILE: join(dir, 'missing') })).toEqual([
      { variable: 'MQTT_ADMIN_TOKEN_FILE', problem: expect.stringMatching(/^MQTT_ADMIN_TOKEN_FILE=".*missing" cannot be read: ENOENT/) },
    ]);
  });
});

describe('SidecarConfigError', () => {
  it('names the variable of every problem, for a caller that knows where each value came from', () => {
    expect(issuesOf({ MQTT_TCP_PORT: 'x', MQTT_EDGE_URL: 'http://h/mqtt', MQTT_TLS_PORT: '8883', MQTT_BRIDGES: 'connection b' }).map((issue) => issue.variable)).toEqual([
      'MQTT_TCP_PORT',
      'MQTT_BRIDGES',
      'MQTT_EDGE_URL',
      'MQTT_TLS_CERT',
      'MQTT_TLS_KEY',
    ]);
  });
});

describe('parseEdgeUrl', () => {
  it.each([
    ['ws://127.0.0.1:8787/mqtt', 'default'],
    ['ws://127.0.0.1:8787/mqtt/', 'default'],
    ['wss://edge.example/mqtt/site-a', 'site-a'],
    ['wss://edge.example/mqtt/a%2Eb', 'a.b'],
  ])('%s → namespace %s', (url, namespace) => {
    expect(parseEdgeUrl(url)).toMatchObject({ namespace });
  });

  it.each([
    ['not a url', /is not a URL/],
    ['ws://h/other', /must be \/mqtt or \/mqtt\/<namespace>/],
    ['ws://h/mqtt/a/b', /must be \/mqtt or \/mqtt\/<namespace>/],
    ['ws://user:pw@h/mqtt', /must not carry credentials/],
  ])('refuses %s', (url, problem) => {
    expect(parseEdgeUrl(url)).toMatch(problem);
  });
});
