/**
 * A namespace over several gateway objects on workerd (docs/scale.md), the
 * parts only this shape has: how clients spread and show in the admin API
 * and /metrics, and faults: one gateway restarted mid-stream, the core
 * restarted, the whole runtime restarted. Every acknowledged QoS 1 and 2
 * message must arrive; QoS 2 exactly once. (Every other behaviour suite runs
 * over gateways too: the `gateways` project in vitest.config.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { adminClient } from '../helpers/admin-api.ts';
import { connectClient, subscribe } from '../helpers/mqtt-clients.ts';
import { newStorage, storageFiles } from '../helpers/object-storage.ts';
import { uniqueNames } from '../helpers/names.ts';

const Token = 'gateways-admin-token';
let edge: TestEdge;
let admin: ReturnType<typeof adminClient>;
const unique = uniqueNames();

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_GATEWAYS: '4', MQTT_ADMIN_TOKEN: Token });
  admin = adminClient(edge.url, Token);
});
afterAll(async () => {
  await edge?.dispose();
});

interface ObjectRow {
  role: string;
  name: string;
  connections: number;
  callsIn: number;
  callsOut: number;
}

async function objectsOf(namespace: string): Promise<ObjectRow[]> {
  const answer = await admin('GET', `/admin/${namespace}/stats`);
  expect(answer.status).toBe(200);
  return (answer.body['objects'] ?? []) as ObjectRow[];
}

/** Retries an assertion until it holds (or the time is up, then its last failure is thrown): waits for an effect, not a time. */
async function eventually(check: () => void | Promise<void>, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() - start > timeoutMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function mqttUrl(namespace: string): string {
  return new URL(`/mqtt/${namespace}`, edge.mqttUrl).toString();
}

describe('spread over gateways', () => {
  it('spreads 100 WebSocket clients over the 4 gateways and lists them with the core', async () => {
    const namespace = unique('spread');
    const clients = await Promise.all(Array.from({ length: 100 }, (_, i) => connectClient(mqttUrl(namespace), { protocolVersion: ((i % 3) + 3) as 3 | 4 | 5, ...(i % 3 === 0 ? { protocolId: 'MQIsdp' as const } : {}), clientId: `c${i}` })));
    const objects = await objectsOf(namespace);
    const gateways = objects.filter((object) => object.role === 'gateway' && object.connections > 0);
    expect(objects.filter((object) => object.role === 'core').map((object) => object.name)).toEqual([namespace]);
    expect(gateways.length).toBeGreaterThanOrEqual(3);
    expect(gateways.every((gateway) => gateway.name.startsWith(`${namespace}/gw/`))).toBe(true);
    expect(gateways.reduce((sum, gateway) => sum + gateway.connections, 0)).toBe(100);
    const metrics = await fetch(new URL(`/metrics/${namespace}`, edge.url), { headers: { Authorization: `Bearer ${Token}` } }).then((response) => response.text());
    for (const gateway of gateways) expect(metrics).toContain(`mqtt_object_connections{namespace="${namespace}",role="gateway",object="${gateway.name}"} ${gateway.connections}`);
    expect(metrics).toMatch(new RegExp(`mqtt_clients_connected\\{namespace="${namespace}"\\} 100`));
    await Promise.all(clients.map((client) => client.end()));
    await eventually(async () => expect((await objectsOf(namespace)).reduce((sum, object) => sum + object.connections, 0)).toBe(0));
  });

  it('restarts only objects of the namespace it names', async () => {
    const namespace = unique('owned');
    expect((await admin('POST', `/admin/${namespace}/objects/${encodeURIComponent('other/gw/any/0')}/restart`)).status).toBe(404);
    expect((await admin('POST', `/admin/${namespace}/objects/other/restart`)).status).toBe(404);
    expect((await admin('GET', `/admin/${namespace}/objects/${namespace}/restart`)).status).toBe(405);
  });

  it('restarts only gateways that exist: a made-up gateway name is 404, and no object is made for it', async () => {
    const namespace = unique('made-up');
    const client = await connectClient(mqttUrl(namespace), { clientId: unique('c') });
    const gateways = (await objectsOf(namespace)).filter((object) => object.role === 'gateway').map((object) => object.name);
    expect(gateways.length).toBeGreaterThan(0);
    const madeUp = [`${namespace}/gw/any/64`, `${namespace}/gw/anything`, `${namespace}/gw/weur/0`];
    const before = storageFiles(edge.persistDir);
    for (const name of madeUp) expect((await admin('POST', `/admin/${namespace}/objects/${encodeURIComponent(name)}/restart`)).status, name).toBe(404);
    // No object was started for them (the runtime makes a file for each it starts), and nothing logged doing anything with them.
    expect(newStorage(edge.persistDir, before).objects).toBe(0);
    expect(edge.logs.filter((line) => madeUp.some((name) => line.includes(JSON.stringify(name))))).toEqual([]);
    expect((await objectsOf(namespace)).map((object) => object.name).sort()).toEqual([namespace, ...gateways].sort());
    await client.end();
  });
});

/** A client that reconnects by itself and resumes its session, as a device would. */
function resilientClient(url: string, clientId: string): MqttClient & { reconnects: number } {
  const client = Object.assign(mqtt.connect(url, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 100, connectTimeout: 5000, keepalive: 30 }), { reconnects: 0 });
  client.on('error', () => undefined);
  client.on('reconnect', () => void client.reconnects++);
  return client;
}

function connected(client: MqttClient): Promise<void> {
  return client.connected ? Promise.resolve() : new Promise((resolve) => client.once('connect', () => resolve()));
}

/**
 * Publishes `count` messages at QoS 1 and QoS 2, a few at a time, calling
 * `fault` once `faultAfter` are acknowledged; resolves with the payloads the
 * broker acknowledged (PUBACK / PUBCOMP). MQTT.js keeps unacknowledged
 * messages and sends them again when it reconnects.
 */
async function stream(publisher: MqttClient, topic: string, count: number, faultAfter: number, fault: () => Promise<void>): Promise<string[]> {
  const acknowledged: string[] = [];
  let faulted: Promise<void> | undefined;
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const qos = i % 2 === 0 ? 1 : 2;
      publisher.publish(`${topic}/q${qos}`, `m${i}`, { qos }, (error) => {
        if (error !== undefined && error !== null) return reject(error);
        acknowledged.push(`m${i}`);
        if (acknowledged.length === faultAfter) faulted = fault();
        resolve();
      });
    });
  for (let i = 0; i < count; i += 10) await Promise.all(Array.from({ length: Math.min(10, count - i) }, (_, k) => one(i + k)));
  await faulted;
  return acknowledged;
}

async function expectAllDelivered(received: Map<string, number>, acknowledged: string[]): Promise<void> {
  await eventually(() => expect(acknowledged.filter((payload) => !received.has(payload))).toEqual([]), 20_000);
  // QoS 2 (odd numbers) exactly once; QoS 1 at least once.
  const duplicatesAtQos2 = [...received].filter(([payload, times]) => Number(payload.slice(1)) % 2 === 1 && times > 1);
  expect(duplicatesAtQos2).toEqual([]);
}

function collect(client: MqttClient): Map<string, number> {
  const received = new Map<string, number>();
  client.on('message', (_topic, payload) => received.set(payload.toString(), (received.get(payload.toString()) ?? 0) + 1));
  return received;
}

/** A persistent subscriber of `<topic>/#` at QoS 2 and a publisher, both reconnecting by themselves, in a namespace of their own. */
async function streamingPair(name: string) {
  const namespace = unique(name);
  const topic = unique('stream');
  const subscriber = resilientClient(mqttUrl(namespace), unique('sub'));
  await connected(subscriber);
  await new Promise<void>((resolve, reject) => subscriber.subscribe(`${topic}/#`, { qos: 2 }, (error) => (error ? reject(error) : resolve())));
  const received = collect(subscriber);
  const publisher = resilientClient(mqttUrl(namespace), unique('pub'));
  await connected(publisher);
  return { namespace, topic, subscriber, publisher, received };
}

describe('faults', () => {
  it('loses no acknowledged message when the gateways of a publisher and a subscriber restart mid-stream', async () => {
    const { namespace, topic, subscriber, publisher, received } = await streamingPair('gwfault');
    const acknowledged = await stream(publisher, topic, 300, 100, async () => {
      // Every gateway holding a client is reset (memory gone, sockets closed), one after the other.
      for (const gateway of (await objectsOf(namespace)).filter((object) => object.role === 'gateway' && object.connections > 0)) {
        expect((await admin('POST', `/admin/${namespace}/objects/${encodeURIComponent(gateway.name)}/restart`)).status).toBe(200);
      }
    });
    expect(acknowledged).toHaveLength(300);
    await expectAllDelivered(received, acknowledged);
    // The faults happened: both lost their sockets and came back.
    expect(publisher.reconnects).toBeGreaterThanOrEqual(1);
    expect(subscriber.reconnects).toBeGreaterThanOrEqual(1);
    publisher.end(true);
    subscriber.end(true);
  }, 60_000);

  it('loses no acknowledged message when the core restarts mid-stream', async () => {
    const { namespace, topic, subscriber, publisher, received } = await streamingPair('corefault');
    const acknowledged = await stream(publisher, topic, 300, 100, async () => {
      expect((await admin('POST', `/admin/${namespace}/objects/${namespace}/restart`)).status).toBe(200);
    });
    expect(acknowledged).toHaveLength(300);
    await expectAllDelivered(received, acknowledged);
    // The publisher's calls in flight failed with the core, so its gateway closed it, and it came back.
    expect(publisher.reconnects).toBeGreaterThanOrEqual(1);
    expect(edge.logs.some((line) => line.includes('"core_unreachable"'))).toBe(true);
    publisher.end(true);
    subscriber.end(true);
  }, 60_000);

  it('keeps acknowledged messages for an offline persistent subscriber across a restart of the whole runtime', async () => {
    const namespace = unique('killed');
    const topic = unique('offline');
    const clientId = unique('sleeper');
    const sleeper = await connectClient(mqttUrl(namespace), { protocolVersion: 4, clientId, clean: false });
    await subscribe(sleeper.client, `${topic}/#`, { qos: 2 });
    await sleeper.end();
    const publisher = await connectClient(mqttUrl(namespace), { protocolVersion: 5, clientId: unique('pub') });
    const acknowledged: string[] = [];
    for (let i = 0; i < 40; i++) {
      await new Promise<void>((resolve, reject) => publisher.client.publish(`${topic}/x`, `m${i}`, { qos: i % 2 === 0 ? 1 : 2 }, (error) => (error ? reject(error) : resolve())));
      acknowledged.push(`m${i}`);
    }
    await edge.restart();
    const woken = await connectClient(mqttUrl(namespace), { protocolVersion: 4, clientId, clean: false });
    expect(woken.connack.sessionPresent).toBe(true);
    const received = new Map<string, number>();
    for (const message of woken.messages) received.set(message.payload, (received.get(message.payload) ?? 0) + 1);
    woken.client.on('message', (_topic, payload) => received.set(payload.toString(), (received.get(payload.toString()) ?? 0) + 1));
    await expectAllDelivered(received, acknowledged);
    await woken.end();
  }, 60_000);
});
