/**
 * The namespace must behave the same after workerd evicts the idle object
 * and wakes it for the next WebSocket message: connections, subscriptions
 * and even half a packet survive in attachments and SQLite, and so does
 * what a sidecar reported of its bridges.
 */
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { LinkProtocolVersion, LinkSubprotocol, encodeLinkFrames } from '../../shared/link-protocol.ts';
import type { LinkStatus } from '../../shared/link-status.ts';
import { adminClient } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, eventually, subscribe } from '../helpers/mqtt-clients.ts';
import { openRawPeer } from '../helpers/raw-ws.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';

let edge: TestEdge;
let sidecar: TestSidecar;
const Secret = 'hibernation-secret';
const Token = 'hibernation-admin';
beforeAll(async () => {
  // A short connect timeout, so its alarm has fired long before the idle period ends.
  edge = await startTestEdge({ MQTT_CONNECT_TIMEOUT_MS: '1000', MQTT_BRIDGE_SECRET: Secret, MQTT_ADMIN_TOKEN: Token });
  // Devices through the sidecar share its one link; their state must survive in SQLite.
  sidecar = await startTestSidecar(edge.mqttUrl, { MQTT_BRIDGE_SECRET: Secret, MQTT_LOG_LEVEL: 'info' });
});
afterAll(async () => {
  await sidecar?.sidecar.close();
  await edge?.dispose();
});

const startsLogged = (): number => edge.logs.filter((line) => line.includes('"namespace_started"')).length;

it('hibernates when idle and wakes with connections, subscriptions and a partial packet intact', { timeout: 60_000 }, async () => {
  const topic = `hibernate/${process.pid}`;
  const sub = await connectClient(edge.mqttUrl, { clientId: `h-sub-${process.pid}`, keepalive: 0 });
  await subscribe(sub.client, topic, { qos: 1 });
  const peer = await openRawPeer(edge.mqttUrl, 5);
  peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `h-pub-${process.pid}`, clean: true, keepalive: 0 });
  await peer.waitFor('connack');
  const publish = mqttPacket.generate(
    { cmd: 'publish', topic, payload: Buffer.from('across hibernation'), qos: 1, messageId: 7, retain: false, dup: false },
    { protocolVersion: 5 },
  );
  const half = Math.floor(publish.length / 2);
  peer.sendBytes(publish.subarray(0, half));
  // The same through the sidecar's link: a subscriber, and a publisher with half a packet sent.
  const linkSub = await connectClient(`mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`, { clientId: `h-link-sub-${process.pid}`, keepalive: 0 });
  await subscribe(linkSub.client, topic, { qos: 1 });
  const device = net.connect({ host: '127.0.0.1', port: sidecar.sidecar.tcpPort });
  await once(device, 'connect');
  const deviceParser = mqttPacket.parser({ protocolVersion: 4 });
  const devicePackets: mqttPacket.Packet[] = [];
  deviceParser.on('packet', (packet) => devicePackets.push(packet));
  device.on('data', (chunk) => deviceParser.parse(chunk));
  device.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `h-link-pub-${process.pid}`, clean: true, keepalive: 0 }, { protocolVersion: 4 }));
  await eventually(() => devicePackets.some((p) => p.cmd === 'connack'), 10_000, 'CONNACK through the link');
  const linkPublish = mqttPacket.generate(
    { cmd: 'publish', topic, payload: Buffer.from('across hibernation, through the link'), qos: 1, messageId: 8, retain: false, dup: false },
    { protocolVersion: 4 },
  );
  device.write(linkPublish.subarray(0, 9));
  // Another sidecar's link (by hand), with its report of a bridge.
  const status: LinkStatus = { bridges: [{ name: 'factory-7', remote: '10.0.0.5:1883', state: 'connected', since: 1_767_225_600_000, messagesIn: 5, messagesOut: 6 }] };
  const reporter = new WebSocket(edge.mqttUrl, LinkSubprotocol, { headers: { 'x-mqtt-bridge-secret': Secret } });
  await once(reporter, 'open');
  reporter.send(encodeLinkFrames([{ type: 'hello', version: LinkProtocolVersion, name: 'reporting-sidecar' }, { type: 'status', status }]));
  const sidecars = async (): Promise<unknown> => (await adminClient(edge.url, Token)('GET', '/admin/default/sidecars')).body;
  const reported = { sidecars: expect.arrayContaining([expect.objectContaining({ name: 'reporting-sidecar', version: LinkProtocolVersion, bridges: status.bridges })]) };
  await expect.poll(sidecars, { timeout: 10_000 }).toMatchObject(reported);
  const before = startsLogged();
  expect(before).toBeGreaterThanOrEqual(1);

  // workerd evicts an object idle for about ten seconds; its WebSockets stay open.
  await new Promise((resolve) => setTimeout(resolve, 15_000));

  peer.sendBytes(publish.subarray(half));
  const [message] = await sub.waitForMessages(1);
  expect(message?.payload).toBe('across hibernation');
  const puback = (await peer.waitFor('puback')) as { messageId?: number };
  expect(puback.messageId).toBe(7);
  expect((await linkSub.waitForMessages(1))[0]?.payload).toBe('across hibernation');
  device.write(linkPublish.subarray(9));
  expect((await sub.waitForMessages(2))[1]?.payload).toBe('across hibernation, through the link');
  expect((await linkSub.waitForMessages(2))[1]?.payload).toBe('across hibernation, through the link');
  await eventually(() => devicePackets.some((p) => p.cmd === 'puback' && p.messageId === 8), 10_000, 'PUBACK through the link');
  // The object was started again (woke from hibernation) and restored both connections.
  expect(startsLogged()).toBeGreaterThan(before);
  const wake = edge.logs.filter((line) => line.includes('"namespace_started"')).at(-1) ?? '';
  // Two WebSockets of their own, two devices of the link.
  expect(JSON.parse(wake)).toMatchObject({ connections: 4, subscriptions: 2 });
  // Read back from SQLite by the woken object.
  expect(await sidecars()).toMatchObject(reported);
  reporter.close();
  peer.ws.close();
  device.destroy();
  await Promise.all([sub.end(), linkSub.end()]);
});
