/**
 * The namespace must behave the same after workerd evicts the idle object
 * and wakes it for the next WebSocket message: connections, subscriptions
 * and even half a packet survive in attachments and SQLite.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, subscribe } from '../helpers/mqtt-clients.ts';
import { openRawPeer } from '../helpers/raw-ws.ts';

let edge: TestEdge;
beforeAll(async () => {
  // A short connect timeout, so its alarm has fired long before the idle period ends.
  edge = await startTestEdge({ MQTT_CONNECT_TIMEOUT_MS: '1000' });
});
afterAll(async () => {
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
  const before = startsLogged();
  expect(before).toBeGreaterThanOrEqual(1);

  // workerd evicts an object idle for about ten seconds; its WebSockets stay open.
  await new Promise((resolve) => setTimeout(resolve, 15_000));

  peer.sendBytes(publish.subarray(half));
  const [message] = await sub.waitForMessages(1);
  expect(message?.payload).toBe('across hibernation');
  const puback = (await peer.waitFor('puback')) as { messageId?: number };
  expect(puback.messageId).toBe(7);
  // The object was started again (woke from hibernation) and restored both connections.
  expect(startsLogged()).toBeGreaterThan(before);
  const wake = edge.logs.filter((line) => line.includes('"namespace_started"')).at(-1) ?? '';
  expect(JSON.parse(wake)).toMatchObject({ connections: 2, subscriptions: 1 });
  peer.ws.close();
  await sub.end();
});
