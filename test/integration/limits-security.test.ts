/**
 * Bounded resources and security rules on the real runtime: publish rates (slowed, never disconnected),
 * queue limits (messages and bytes), topic, subscription and retained
 * limits, $SYS read-only, the sidecar's address header, secrets kept out of logs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, connectExpectingRefusal, eventually, publish, sleep, subscribe } from '../helpers/mqtt-clients.ts';
import { connectPacket, openPeer } from '../helpers/raw-peer.ts';
import { uniqueNames } from '../helpers/names.ts';

let edge: TestEdge;
beforeAll(async () => {
  edge = await startTestEdge({
    MQTT_MAX_PUBLISH_RATE: '20',
    MQTT_MAX_QUEUED: '3',
    MQTT_MAX_QUEUED_BYTES: '1000',
    MQTT_MAX_TOPIC_LEVELS: '4',
    MQTT_MAX_TOPIC_LENGTH: '64',
    MQTT_MAX_SUBSCRIPTIONS: '2',
    MQTT_MAX_RETAINED: '2',
  });
});
afterAll(async () => {
  await edge?.dispose();
});

const unique = uniqueNames();
const target = (): { kind: 'ws'; url: string } => ({ kind: 'ws', url: edge.mqttUrl });

describe('bounded resources', () => {
  it('slows a client that publishes faster than its rate, never disconnects it, and only that one', async () => {
    const topic = unique('rate');
    const calm = await connectClient(edge.mqttUrl, { protocolVersion: 5, clientId: unique('calm') });
    await subscribe(calm.client, topic, { qos: 1 });
    const peer = await openPeer(target(), 5);
    peer.send(connectPacket(unique('flood')));
    await peer.waitFor('connack');
    // QoS 0 over the rate: the burst allowance (twice the rate) gets through, the rest is dropped.
    for (let i = 0; i < 100; i++) peer.send({ cmd: 'publish', topic, payload: Buffer.from(`${i}`), qos: 0, retain: false, dup: false });
    // QoS 1 over the rate waits its turn: every one is delivered and acknowledged, 20 a second.
    const started = Date.now();
    for (let i = 0; i < 30; i++) peer.send({ cmd: 'publish', topic, payload: Buffer.from(`q${i}`), qos: 1, messageId: i + 1, retain: false, dup: false });
    await peer.waitFor('puback', 20_000, 30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    await eventually(() => calm.messages.filter((m) => m.payload.startsWith('q')).length === 30, 10_000, 'every QoS 1 message');
    expect(peer.all('disconnect')).toEqual([]);
    expect(peer.isOpen()).toBe(true);
    const flood = calm.messages.filter((m) => !m.payload.startsWith('q'));
    expect(flood.length).toBeGreaterThanOrEqual(30);
    expect(flood.length).toBeLessThan(100);
    // calm has a bucket of its own: the flooder's empty one does not hold it back.
    await publish(calm.client, topic, 'still fine', { qos: 1 });
    await eventually(() => calm.messages.some((m) => m.payload === 'still fine'), 5000, 'calm client unaffected');
    peer.close();
    await calm.end();
  });

  it('keeps at most MQTT_MAX_QUEUED messages for an offline session, dropping the oldest', async () => {
    const topic = unique('queue');
    const session = { protocolVersion: 5 as const, clientId: unique('offline'), clean: false, properties: { sessionExpiryInterval: 300 } };
    const sub = await connectClient(edge.mqttUrl, session);
    await subscribe(sub.client, topic, { qos: 1 });
    await sub.end();
    const pub = await connectClient(edge.mqttUrl, { clientId: unique('pub') });
    for (let i = 0; i < 5; i++) await publish(pub.client, topic, `m${i}`, { qos: 1 });
    const back = await connectClient(edge.mqttUrl, session);
    await back.waitForMessages(3);
    await sleep(300);
    expect(back.messages.map((m) => m.payload)).toEqual(['m2', 'm3', 'm4']);
    await Promise.all([back.end(), pub.end()]);
  });

  it('keeps at most MQTT_MAX_QUEUED_BYTES queued for an offline session', async () => {
    const topic = unique('bytes');
    const session = { protocolVersion: 5 as const, clientId: unique('offline'), clean: false, properties: { sessionExpiryInterval: 300 } };
    const sub = await connectClient(edge.mqttUrl, session);
    await subscribe(sub.client, topic, { qos: 1 });
    await sub.end();
    const pub = await connectClient(edge.mqttUrl, { clientId: unique('pub') });
    for (let i = 0; i < 3; i++) await publish(pub.client, topic, `${i}`.repeat(400), { qos: 1 });
    const back = await connectClient(edge.mqttUrl, session);
    await back.waitForMessages(2);
    await sleep(300);
    expect(back.messages.map((m) => m.payload[0])).toEqual(['1', '2']);
    await Promise.all([back.end(), pub.end()]);
  });

  it('refuses topics over the level or length limit (0x90) and subscriptions over the per-client limit (0x97)', async () => {
    const deep = await openPeer(target(), 5);
    deep.send(connectPacket(unique('deep')));
    await deep.waitFor('connack');
    deep.send({ cmd: 'publish', topic: 'a/b/c/d/e', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    expect(((await deep.waitFor('disconnect')) as { reasonCode?: number }).reasonCode).toBe(0x90);

    const long = await openPeer(target(), 5);
    long.send(connectPacket(unique('long')));
    await long.waitFor('connack');
    long.send({ cmd: 'publish', topic: 'x'.repeat(65), payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    expect(((await long.waitFor('disconnect')) as { reasonCode?: number }).reasonCode).toBe(0x90);

    // A will is a publish: the same limits, and its CONNECT is refused.
    const deepWill = await openPeer(target(), 5);
    deepWill.send(connectPacket(unique('deep-will'), { will: { topic: 'a/b/c/d/e', payload: Buffer.from('x'), qos: 0, retain: false } }));
    expect(((await deepWill.waitFor('connack')) as { reasonCode?: number }).reasonCode).toBe(0x90);

    const many = await openPeer(target(), 5);
    many.send(connectPacket(unique('many')));
    await many.waitFor('connack');
    many.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'one', qos: 0 }, { topic: 'two', qos: 0 }, { topic: 'three', qos: 0 }] });
    expect(((await many.waitFor('suback')) as { granted: number[] }).granted).toEqual([0, 0, 0x97]);
    many.close();
  });

  it('stores at most MQTT_MAX_RETAINED retained messages per namespace, but still replaces existing ones', async () => {
    const ns = `${edge.mqttUrl}/retained-${process.pid}`;
    const pub = await connectClient(ns, { clientId: unique('pub') });
    for (const topic of ['r/1', 'r/2', 'r/3']) await publish(pub.client, topic, topic, { qos: 1, retain: true });
    await publish(pub.client, 'r/1', 'r/1 again', { qos: 1, retain: true });
    const sub = await connectClient(ns, { clientId: unique('sub') });
    await subscribe(sub.client, ['r/#', 'fence'], { qos: 1 });
    // Retained messages go out right after the SUBACK; a fence published afterwards comes after them.
    await publish(pub.client, 'fence', 'fence', { qos: 1 });
    await eventually(() => sub.messages.some((m) => m.topic === 'fence'), 5000, 'the fence');
    expect(sub.messages.filter((m) => m.topic !== 'fence').map((m) => m.payload).sort()).toEqual(['r/1 again', 'r/2']);
    await Promise.all([pub.end(), sub.end()]);
  });
});

describe('security', () => {
  it('keeps $SYS read-only for clients', async () => {
    const peer = await openPeer(target(), 5);
    peer.send(connectPacket(unique('sys')));
    await peer.waitFor('connack');
    peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$SYS/#', qos: 0 }] });
    expect(((await peer.waitFor('suback')) as { granted: number[] }).granted).toEqual([0]);
    peer.send({ cmd: 'publish', topic: '$SYS/broker/uptime', payload: Buffer.from('forged'), qos: 1, messageId: 2, retain: true, dup: false });
    expect(((await peer.waitFor('puback')) as { reasonCode?: number }).reasonCode).toBe(0x87);
    await sleep(200);
    expect(peer.all('publish').map((p) => (p as { payload: Buffer }).payload.toString())).not.toContain('forged');
    peer.close();
  });

  it('believes the forwarded client address only with the bridge secret', async () => {
    const hooks = await startTestEdge({ MQTT_BRIDGE_SECRET: 'the-real-secret' }, { scriptPath: process.env['HOOKS_BUNDLE'] as string });
    try {
      const connectWith = async (clientId: string, secret: string | undefined): Promise<void> => {
        const headers: Record<string, string> = { 'x-mqtt-client-address': '203.0.113.9:4242' };
        if (secret !== undefined) headers['x-mqtt-bridge-secret'] = secret;
        const ws = new WebSocket(hooks.mqttUrl, 'mqtt', { headers });
        await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
        const connacked = new Promise((resolve) => ws.once('message', resolve));
        ws.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 }));
        await connacked;
        ws.close();
      };
      const addressOf = (clientId: string): unknown =>
        hooks.logs
          .filter((line) => line.startsWith('HOOK '))
          .map((line) => JSON.parse(line.slice(5)) as { hook: string; clientId: string; remoteAddress?: string })
          .find((call) => call.hook === 'authenticate' && call.clientId === clientId)?.remoteAddress;
      await connectWith('spoofer', undefined);
      await connectWith('wrong-secret', 'guess');
      await connectWith('sidecar', 'the-real-secret');
      expect(addressOf('spoofer')).not.toBe('203.0.113.9:4242');
      expect(addressOf('wrong-secret')).not.toBe('203.0.113.9:4242');
      expect(addressOf('sidecar')).toBe('203.0.113.9:4242');
    } finally {
      await hooks.dispose();
    }
  });

  it('never logs passwords or tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mqtt-secrets-'));
    const file = join(dir, 'passwd');
    execFileSync('mosquitto_passwd', ['-c', '-b', file, 'carol', 'carols-very-secret-password']);
    const secured = await startTestEdge({ MQTT_PASSWORDS: readFileSync(file, 'utf8'), MQTT_API_TOKEN: 'api-token-never-logged', MQTT_LOG_LEVEL: 'debug' });
    try {
      const ok = await connectClient(secured.mqttUrl, { username: 'carol', password: 'carols-very-secret-password', clientId: unique('carol') });
      await ok.end();
      expect(await connectExpectingRefusal(secured.mqttUrl, { username: 'carol', password: 'a-wrong-password-attempt', clientId: unique('x') })).toBe(4);
      await fetch(new URL('/publish', secured.url), { method: 'POST', headers: { Authorization: 'Bearer api-token-guess' }, body: '{}' });
      await sleep(200);
      const everything = secured.logs.join('\n');
      expect(everything).toContain('connection.accepted');
      for (const secret of ['carols-very-secret-password', 'a-wrong-password-attempt', 'api-token-never-logged', 'api-token-guess']) {
        expect(everything).not.toContain(secret);
      }
    } finally {
      await secured.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('limits the size of HTTP API bodies (413)', async () => {
    const api = await startTestEdge({ MQTT_API_TOKEN: 'size-token' });
    try {
      const response = await fetch(new URL('/publish', api.url), {
        method: 'POST',
        headers: { Authorization: 'Bearer size-token', 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'big', payload: 'x'.repeat(2 * 1024 * 1024) }),
      });
      expect(response.status).toBe(413);
    } finally {
      await api.dispose();
    }
  });
});
