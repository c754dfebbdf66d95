/**
 * Namespace quotas set through the admin API, on the real runtime with
 * MQTT.js: a quota of 50 connections and 100 msgs/s holds for new clients
 * and for clients already connected, without a restart; another namespace
 * (an object of the same isolate, with the same configuration) keeps the
 * defaults; a client over the rate is slowed, never disconnected, and loses
 * nothing; a quota survives the object's restart; bad input is a 400.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, connectExpectingRefusal, publish, subscribe, type TestClient } from '../helpers/mqtt-clients.ts';
import { uniqueNames } from '../helpers/names.ts';

const Token = 'admin-token-for-quotas';
const TenantToken = 'tenant-q-own-token';
const ApiToken = 'api-token-for-quotas';
let edge: TestEdge;
let admin: ReturnType<typeof adminClient>;
const unique = uniqueNames();
const open: TestClient[] = [];

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_ADMIN_TOKEN: Token, MQTT_API_TOKEN: ApiToken, MQTT_NAMESPACE_ACCESS: JSON.stringify({ 'tenant-q': { adminToken: TenantToken } }) });
  admin = adminClient(edge.url, Token);
});
afterAll(async () => {
  await Promise.all(open.splice(0).map((client) => client.end(true)));
  await edge?.dispose();
});

const wsUrl = (namespace: string): string => `${edge.mqttUrl}/${namespace}`;

async function connect(namespace: string, protocolVersion: 4 | 5 = 5): Promise<TestClient> {
  const client = await connectClient(wsUrl(namespace), { protocolVersion, clientId: unique('c') });
  open.push(client);
  return client;
}

type Quota = { name: string; value: unknown; default: unknown; set: boolean; applies: string };

function quotaOf(body: Record<string, unknown>, name: string): Quota {
  const quota = (body['quotas'] as Quota[]).find((q) => q.name === name);
  if (quota === undefined) throw new Error(`no quota ${name}`);
  return quota;
}

async function counters(namespace: string): Promise<Record<string, number>> {
  const stats = await admin('GET', `/admin/${namespace}/stats`);
  return stats.body['counters'] as Record<string, number>;
}

/** Publishes `count` QoS 1 messages at once and waits for every PUBACK; resolves with the time it took (ms). */
async function publishBurst(client: TestClient, topic: string, count: number): Promise<number> {
  const started = Date.now();
  await Promise.all(Array.from({ length: count }, (_, i) => publish(client.client, topic, String(i), { qos: 1 })));
  return Date.now() - started;
}

describe('namespace quotas at run time', () => {
  it('50 connections and 100 msgs/s hold for new and connected clients without a restart; another namespace keeps the defaults', async () => {
    const limited = unique('quota');
    const other = unique('free');
    // Connected before the quota: a publisher and a subscriber.
    const publisher = await connect(limited);
    const subscriber = await connect(limited);
    await subscribe(subscriber.client, 'burst/#', { qos: 1 });

    const set = await admin('PATCH', `/admin/${limited}/quotas`, { maxConnections: 50, namespacePublishRate: 100 });
    expect(set.status).toBe(200);
    expect(set.body['changed']).toEqual(expect.arrayContaining(['maxConnections', 'namespacePublishRate']));
    expect(quotaOf(set.body, 'maxConnections')).toMatchObject({ value: 50, default: 0, set: true, applies: 'now' });

    // New clients: 48 more fit (50 in all), the 51st is refused, at 3.1.1 and 5.0.
    for (let i = 0; i < 48; i++) await connect(limited, i % 2 === 0 ? 4 : 5);
    expect(await connectExpectingRefusal(wsUrl(limited), { protocolVersion: 5, clientId: unique('over') })).toBe(0x97);
    expect(await connectExpectingRefusal(wsUrl(limited), { protocolVersion: 4, clientId: unique('over') })).toBe(3);
    // The other namespace, served by the same code and configuration: 55 connect.
    for (let i = 0; i < 55; i++) await connect(other);

    // The publisher connected before the quota: 400 QoS 1 at once take at least (400 - 100 burst) / 100 s.
    const elapsed = await publishBurst(publisher, 'burst/a', 400);
    expect(elapsed).toBeGreaterThanOrEqual(2000);
    await subscriber.waitForMessages(400, 20_000);
    expect(publisher.client.connected).toBe(true);
    expect((await counters(limited))['publishDelayed']).toBeGreaterThan(0);

    // The other namespace: the same burst is not held back.
    const otherSubscriber = await connect(other);
    await subscribe(otherSubscriber.client, 'burst/#', { qos: 1 });
    await publishBurst(await connect(other), 'burst/b', 400);
    await otherSubscriber.waitForMessages(400, 20_000);
    expect((await counters(other))['publishDelayed'] ?? 0).toBe(0);
    expect(quotaOf((await admin('GET', `/admin/${other}/quotas`)).body, 'maxConnections')).toMatchObject({ value: 0, set: false });

    // Back to the default: the 51st connects.
    const cleared = await admin('PATCH', `/admin/${limited}/quotas`, { maxConnections: null });
    expect(quotaOf(cleared.body, 'maxConnections')).toMatchObject({ value: 0, set: false });
    await connect(limited);
  }, 120_000);

  it('keeps a namespace quota across a restart of its object, and announces a changed Receive Maximum from the next connection', async () => {
    const ns = unique('kept');
    await admin('PATCH', `/admin/${ns}/quotas`, { receiveMaximum: 7, maximumQos: 1, retainAvailable: false });
    const restart = await admin('POST', `/admin/${ns}/objects/${ns}/restart`);
    expect(restart.status).toBe(200);
    const client = await connect(ns);
    expect(client.connack.properties).toMatchObject({ receiveMaximum: 7, maximumQoS: 1, retainAvailable: false });
    // Granted no more than the maximum QoS.
    expect((await subscribe(client.client, 'q/#', { qos: 2 }))[0]?.qos).toBe(1);
    const quotas = (await admin('GET', `/admin/${ns}/quotas`)).body;
    expect(quotaOf(quotas, 'receiveMaximum')).toMatchObject({ value: 7, set: true, applies: 'connect' });
  });

  it("lets a namespace's own admin token read its quotas but not raise them", async () => {
    const read = await admin('GET', '/admin/tenant-q/quotas', undefined, { token: TenantToken });
    expect(read.status).toBe(200);
    const raise = await admin('PATCH', '/admin/tenant-q/quotas', { maxConnections: 1_000_000 }, { token: TenantToken });
    expect(raise.status).toBe(403);
    expect(String(raise.body['error'])).toMatch(/MQTT_ADMIN_TOKEN/);
    expect(quotaOf((await admin('GET', '/admin/tenant-q/quotas')).body, 'maxConnections')).toMatchObject({ set: false });
    // Nor another namespace's.
    expect((await admin('GET', `/admin/${unique('elsewhere')}/quotas`, undefined, { token: TenantToken })).status).toBe(401);
  });

  it('refuses a bad quota with a 400 that names it, and changes nothing', async () => {
    const ns = unique('bad');
    const before = (await admin('GET', `/admin/${ns}/quotas`)).body;
    for (const body of [{ maxConnections: -1 }, { nosuch: 1 }, { retainAvailable: 'no' }, { maximumQos: 3 }, { maxConnections: 5, maxPacketSize: 1.5 }, [1, 2]]) {
      const answer = await admin('PATCH', `/admin/${ns}/quotas`, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(String(answer.body['error'])).toMatch(/maxConnections|nosuch|retainAvailable|maximumQos|maxPacketSize|object/);
    }
    expect((await admin('GET', `/admin/${ns}/quotas`)).body).toEqual(before);
    expect((await admin('PUT', `/admin/${ns}/quotas`, {})).status).toBe(405);
    expect((await admin('PATCH', `/admin/${ns}/quotas`, undefined, { rawBody: 'x'.repeat(10_000) })).status).toBe(413);
  });
});

describe('the HTTP publish API', () => {
  it("holds a message to the namespace's quotas, as a client's PUBLISH: 400 with the reason over its topic levels, maximum QoS or retain", async () => {
    const ns = unique('api-quota');
    expect((await admin('PATCH', `/admin/${ns}/quotas`, { maxTopicLevels: 4, maximumQos: 1, retainAvailable: false })).status).toBe(200);
    const subscriber = await connect(ns);
    await subscribe(subscriber.client, '#', { qos: 1 });
    const post = async (body: Record<string, unknown>): Promise<{ status: number; error?: string }> => {
      const response = await fetch(new URL(`/publish/${ns}`, edge.url), { method: 'POST', headers: { Authorization: `Bearer ${ApiToken}` }, body: JSON.stringify(body) });
      return { status: response.status, ...((await response.json()) as { error?: string }) };
    };
    expect(await post({ topic: 'a/b/c/d/e', payload: 'x' })).toMatchObject({ status: 400, error: expect.stringMatching(/5 levels, more than 4 \(MQTT_MAX_TOPIC_LEVELS\)/) });
    expect(await post({ topic: 'a/b', payload: 'x', qos: 2 })).toMatchObject({ status: 400, error: expect.stringMatching(/maximum QoS 1/) });
    expect(await post({ topic: 'a/b', payload: 'x', retain: true })).toMatchObject({ status: 400, error: expect.stringMatching(/retained messages are not available/) });
    expect(await post({ topic: 'a/b/c/d', payload: 'within', qos: 1 })).toMatchObject({ status: 200 });
    const [message] = await subscriber.waitForMessages(1);
    expect(message?.topic).toBe('a/b/c/d');
    expect(subscriber.messages.map((m) => m.topic)).toEqual(['a/b/c/d']);
  });
});
