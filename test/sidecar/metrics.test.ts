/** The sidecar's own /metrics and /healthz listener, through the real edge. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadSidecarConfig } from '../../sidecar/config.ts';
import { startSidecar, type Sidecar } from '../../sidecar/server.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, sleep } from '../helpers/mqtt-clients.ts';

let edge: TestEdge;
let sidecar: Sidecar;
beforeAll(async () => {
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: 'metrics-secret' });
  sidecar = await startSidecar(
    loadSidecarConfig({
      MQTT_TCP_HOST: '127.0.0.1',
      MQTT_TCP_PORT: '0',
      MQTT_EDGE_URL: edge.mqttUrl,
      MQTT_BRIDGE_SECRET: 'metrics-secret',
      MQTT_METRICS_PORT: '0',
      MQTT_ADMIN_TOKEN: 'sidecar-token',
      MQTT_LOG_LEVEL: 'warn',
    }),
  );
});
afterAll(async () => {
  await sidecar?.close();
  await edge?.dispose();
});

const metricsUrl = (path: string): string => `http://127.0.0.1:${sidecar.metricsPort}${path}`;

it('serves Prometheus metrics with the token and health without it', async () => {
  expect((await fetch(metricsUrl('/healthz'))).status).toBe(200);
  expect((await fetch(metricsUrl('/metrics'))).status).toBe(401);
  const device = await connectClient(`mqtt://127.0.0.1:${sidecar.tcpPort}`, { clientId: `metrics-${process.pid}`, keepalive: 1 });
  // MQTT.js pings every second; the sidecar answers.
  await sleep(2200);
  await device.end();
  const read = async (): Promise<string> => (await fetch(metricsUrl('/metrics'), { headers: { Authorization: 'Bearer sidecar-token' } })).text();
  let text = '';
  for (let i = 0; i < 50 && !text.includes('cause="device-disconnected"'); i++) {
    text = await read();
    await sleep(100);
  }
  expect(text).toContain('# TYPE mqtt_sidecar_connections gauge');
  expect(text).toMatch(/mqtt_sidecar_connections_accepted_total\{listener="tcp"\} 1\b/);
  expect(text).toMatch(/mqtt_sidecar_connections_closed_total\{cause="device-disconnected"\} 1\b/);
  const pings = Number(/mqtt_sidecar_pingreq_answered_total (\d+)/.exec(text)?.[1]);
  expect(pings).toBeGreaterThanOrEqual(1);
  expect(/mqtt_sidecar_bytes_from_devices_total (\d+)/.exec(text)?.[1]).not.toBe('0');
});
