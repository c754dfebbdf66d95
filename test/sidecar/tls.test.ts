/** The optional TLS listener (MQTT_TLS_PORT / MQTT_TLS_CERT / MQTT_TLS_KEY). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectClient } from '../helpers/mqtt-clients.ts';
import { loadSidecarConfig } from '../../sidecar/config.ts';
import { silentLogger } from '../../sidecar/log.ts';
import { startSidecar } from '../../sidecar/server.ts';
import { startFakeEdge, startTestSidecar, type FakeEdge, type TestSidecar } from './harness.ts';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'sidecar-tls-'));
const certFile = join(dir, 'cert.pem');
const keyFile = join(dir, 'key.pem');

let running: TestSidecar | undefined;
let edge: FakeEdge | undefined;
beforeAll(() => {
  if (!hasOpenssl()) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1'], {
    stdio: 'ignore',
  });
});
afterEach(async () => {
  await running?.sidecar.close();
  await edge?.close();
  running = undefined;
  edge = undefined;
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasOpenssl())('TLS listener', () => {
  it('bridges an MQTT.js client over TLS as well as over TCP', async () => {
    edge = await startFakeEdge();
    running = await startTestSidecar(edge.url, { MQTT_TLS_PORT: '0', MQTT_TLS_CERT: certFile, MQTT_TLS_KEY: keyFile });
    const tlsPort = running.sidecar.tlsPort;
    expect(tlsPort).toBeGreaterThan(0);
    expect(tlsPort).not.toBe(running.sidecar.tcpPort);
    const client = await connectClient(`mqtts://127.0.0.1:${tlsPort ?? 0}`, { protocolVersion: 5, rejectUnauthorized: false, clientId: 'over-tls' });
    const connection = await edge.connection(1);
    expect(connection.packets[0]).toMatchObject({ cmd: 'connect', clientId: 'over-tls' });
    expect(connection.headers['x-mqtt-client-address']).toMatch(/^127\.0\.0\.1:\d+$/);
    await client.end();
  });
});

describe('TLS configuration errors', () => {
  it('fails to start with a clear message when the certificate file is missing', async () => {
    const config = loadSidecarConfig({
      MQTT_TCP_HOST: '127.0.0.1',
      MQTT_TCP_PORT: '0',
      MQTT_TLS_PORT: '0',
      MQTT_TLS_CERT: join(dir, 'missing.pem'),
      MQTT_TLS_KEY: keyFile,
    });
    await expect(startSidecar(config, { logger: silentLogger })).rejects.toThrow(/cannot read MQTT_TLS_CERT file ".*missing\.pem"/);
  });
});
