/**
 * One device on the sidecar's shared link stops reading while the
 * namespace floods it. It must cost the others nothing: it is dropped
 * (cause slow-device) once its bounded queue is full, the link is never
 * paused for it, a fast device on the same link gets every message, and a
 * victim on the same link keeps its latency.
 */
import net from 'node:net';
import { once } from 'node:events';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, eventually, publish, subscribe } from '../helpers/mqtt-clients.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';
import { expectUnharmed, startVictim } from './victim.ts';

const Secret = 'slow-device-secret';
let edge: TestEdge;
let sidecar: TestSidecar;

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: Secret });
  sidecar = await startTestSidecar(edge.mqttUrl, { MQTT_BRIDGE_SECRET: Secret, MQTT_LOG_LEVEL: 'info', MQTT_LINK_DEVICE_QUEUE_BYTES: String(1024 * 1024) });
});
afterAll(async () => {
  await sidecar?.sidecar.close();
  await edge?.dispose();
});

it('drops a device that stops reading, and only it: the link and its other devices go on', { timeout: 60_000 }, async () => {
  const url = `mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`;
  const victim = await startVictim(url);
  const fast = await connectClient(url, { clientId: 'fast-reader' });
  await subscribe(fast.client, 'flood/#', { qos: 0 });

  // The slow one subscribes, then never reads again.
  const slow = net.connect({ host: '127.0.0.1', port: sidecar.sidecar.tcpPort });
  await once(slow, 'connect');
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let subacked = false;
  parser.on('packet', (packet) => {
    if (packet.cmd === 'suback') subacked = true;
  });
  slow.on('data', (chunk) => parser.parse(chunk));
  slow.on('error', () => undefined);
  const slowClosed = new Promise<void>((resolve) => slow.on('close', () => resolve()));
  slow.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'slow-reader', clean: true, keepalive: 0 }, { protocolVersion: 4 }));
  slow.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 0 }] }, { protocolVersion: 4 }));
  await eventually(() => subacked, 10_000, 'the slow device subscribed');
  slow.pause();

  // Traffic at it until it is dropped: more than the socket buffers of loopback and its queue on the
  // sidecar together. Paced by a QoS 1 round trip every MiB, so the namespace is never more than a
  // MiB behind: what the victim measures is the slow device's effect, not a backlog of the flood.
  const publisher = await connectClient(`${edge.mqttUrl}`, { clientId: 'flooder', protocolVersion: 5 });
  const payload = Buffer.alloc(32 * 1024, 0x61);
  let count = 0;
  while (sidecar.events('device.too-slow').length === 0) {
    if (count >= 256 * 32) throw new Error('256 MiB sent and the slow device is still on the link');
    for (let i = 0; i < 31; i++, count++) await publish(publisher.client, `flood/${count % 8}`, payload, { qos: 0 });
    await publish(publisher.client, 'flood/fence', payload, { qos: 1 });
    count++;
  }
  await publish(publisher.client, 'flood/end', 'end', { qos: 1 });
  count++;
  slow.destroy();
  await slowClosed;
  await eventually(() => sidecar.events('connection.closed').some((line) => line['client'] === 'slow-reader' && line['reason'] === 'slow-device'), 10_000, 'connection.closed with reason slow-device');
  // The fast device on the same link got everything.
  await fast.waitForMessages(count, 30_000);
  expect(fast.messages.filter((message) => message.topic.startsWith('flood/')).length).toBe(count);
  // The edge saw it go too: the slow one's session is over, the others' are not.
  await eventually(() => edge.logs.some((line) => line.includes('"connection.closed"') && line.includes('slow-reader')), 10_000, 'the edge ended the session');

  expectUnharmed(await victim.stop(), `a device on its link that stopped reading (${(count / 32).toFixed(0)} MiB sent until it was dropped)`);
  // Memory held for the slow device is gone with it.
  expect(sidecar.sidecar.stats().bufferedToDevice).toBeLessThan(1024 * 1024);
  await Promise.all([fast.end(), publisher.end()]);
});
