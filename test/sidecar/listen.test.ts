/**
 * A listener that cannot listen names the setting to change: a port in use
 * on any of the three listeners (TCP, TLS, metrics) is one sentence, and
 * nothing the sidecar opened before it stays open.
 */
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSidecarConfig } from '../../sidecar/config.ts';
import { ListenError } from '../../sidecar/listen.ts';
import { silentLogger } from '../../sidecar/log.ts';
import { startSidecar } from '../../sidecar/server.ts';
import { closedPort } from './harness.ts';

const held: net.Server[] = [];
afterEach(async () => {
  await Promise.all(held.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
});

/** A port of 127.0.0.1 that this test keeps busy. */
async function busyPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  held.push(server);
  return (server.address() as net.AddressInfo).port;
}

async function startFailure(env: Record<string, string>): Promise<ListenError> {
  const config = loadSidecarConfig({ MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: '0', MQTT_EDGE_URL: `ws://127.0.0.1:${await closedPort()}/mqtt`, MQTT_EDGE_LINK: 'off', ...env });
  const error = await startSidecar(config, { logger: silentLogger }).then(
    async (sidecar) => {
      await sidecar.close();
      throw new Error('the sidecar started');
    },
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ListenError);
  return error as ListenError;
}

describe('a port in use', () => {
  it('on the TCP listener names MQTT_TCP_PORT', async () => {
    const port = await busyPort();
    const error = await startFailure({ MQTT_TCP_PORT: String(port) });
    expect(error.message).toBe(`port ${port} on 127.0.0.1 is in use: set MQTT_TCP_PORT to a free port`);
    expect(error.explain((setting) => `${setting} (the flag)`)).toBe(`port ${port} on 127.0.0.1 is in use: set MQTT_TCP_PORT (the flag) to a free port`);
  });

  it('on the metrics listener names MQTT_METRICS_PORT, and the TCP listener it had opened is closed again', async () => {
    const tcpPort = await closedPort();
    const metricsPort = await busyPort();
    const error = await startFailure({ MQTT_TCP_PORT: String(tcpPort), MQTT_METRICS_PORT: String(metricsPort), MQTT_METRICS_HOST: '127.0.0.1' });
    expect(error.message).toBe(`port ${metricsPort} on 127.0.0.1 is in use: set MQTT_METRICS_PORT to a free port`);
    const probe = net.connect({ host: '127.0.0.1', port: tcpPort });
    const [refused] = (await once(probe, 'error')) as [NodeJS.ErrnoException];
    expect(refused.code).toBe('ECONNREFUSED');
  });

  it('names the host setting for an address this machine does not have', async () => {
    // TEST-NET-1 (RFC 5737): never a local address.
    const error = await startFailure({ MQTT_TCP_HOST: '192.0.2.1' });
    expect(error.message).toBe('192.0.2.1 is not an address of this machine: set MQTT_TCP_HOST to one of its addresses, or 0.0.0.0 for all');
  });
});
