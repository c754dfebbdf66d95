/**
 * POST /admin/<ns>/drain on the real runtime: every client of the namespace
 * hears a broker stop, over WebSocket (through gateways in that shape) and
 * through the sidecar alike: wills first (a subscriber still connected gets
 * them), then 5.0 clients DISCONNECT 0x8B and 3.x clients a plain close;
 * persistent sessions stay. `npm start` drains this way on exit.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { adminClient } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, eventually } from '../helpers/mqtt-clients.ts';
import { uniqueNames } from '../helpers/names.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';

const SECRET = 'drain-bridge-secret';
const TOKEN = 'drain-admin-token';
let edge: TestEdge;
let sidecar: TestSidecar;
const unique = uniqueNames();

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: SECRET, MQTT_ADMIN_TOKEN: TOKEN });
  sidecar = await startTestSidecar(edge.mqttUrl, { MQTT_BRIDGE_SECRET: SECRET });
});
afterAll(async () => {
  await sidecar?.sidecar.close();
  await edge?.dispose();
});

function heard(client: MqttClient): { disconnect: number | undefined; closed: boolean } {
  const record = { disconnect: undefined as number | undefined, closed: false };
  client.on('disconnect', (packet) => (record.disconnect = packet.reasonCode));
  client.on('close', () => (record.closed = true));
  return record;
}

describe('drain', () => {
  it('publishes the wills, then disconnects every client as a broker stop does, keeping persistent sessions', async () => {
    const ns = unique('drain');
    const ws = `${edge.mqttUrl}/${ns}`;
    const tcp = `mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`;
    // The sidecar serves namespace "default": the namespace of this test is reached over WebSocket only...
    const watcher = await connectClient(ws, { protocolVersion: 5, clientId: 'watcher', clean: false, properties: { sessionExpiryInterval: 600 } });
    await watcher.client.subscribeAsync('wills/#', { qos: 1 });
    const v5 = await connectClient(ws, { protocolVersion: 5, clientId: 'v5', will: { topic: 'wills/v5', payload: Buffer.from('gone'), qos: 1, retain: false } });
    const v4 = await connectClient(ws, { protocolVersion: 4, clientId: 'v4', will: { topic: 'wills/v4', payload: Buffer.from('gone'), qos: 1, retain: false } });
    const heardByWatcher = heard(watcher.client);
    const heardByV5 = heard(v5.client);
    const heardByV4 = heard(v4.client);

    const answer = await adminClient(edge.url, TOKEN)('POST', `/admin/${ns}/drain`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ namespace: ns, disconnected: 3, wills: 2 });
    await eventually(() => heardByWatcher.closed && heardByV5.closed && heardByV4.closed, 10_000, 'every client closed');
    expect(heardByWatcher.disconnect).toBe(ReasonCode.ServerShuttingDown);
    expect(heardByV5.disconnect).toBe(ReasonCode.ServerShuttingDown);
    expect(heardByV4.disconnect).toBeUndefined();
    // Both wills reached the watcher before it was let go.
    expect(watcher.messages.map((m) => m.topic).sort()).toEqual(['wills/v4', 'wills/v5']);
    const clients = await adminClient(edge.url, TOKEN)('GET', `/admin/${ns}/clients`);
    expect((clients.body['clients'] as Array<{ clientId: string }>).map((c) => c.clientId)).toEqual(['watcher']);
    for (const client of [watcher, v5, v4]) await client.end(true);

    // ...and the sidecar's devices, of namespace "default", the same way.
    const device = await connectClient(tcp, { protocolVersion: 5, clientId: unique('device') });
    const heardByDevice = heard(device.client);
    const drained = await adminClient(edge.url, TOKEN)('POST', '/admin/default/drain');
    expect(drained.status).toBe(200);
    await eventually(() => heardByDevice.closed, 10_000, 'the device closed');
    expect(heardByDevice.disconnect).toBe(ReasonCode.ServerShuttingDown);
    await device.end(true);
  });

  it('answers 405 to anything but POST', async () => {
    const answer = await adminClient(edge.url, TOKEN)('GET', '/admin/default/drain');
    expect(answer.status).toBe(405);
  });
});
