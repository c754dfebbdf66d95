/**
 * The user API on the real runtime: a Worker of our own built with
 * defineBroker and hooks (test/fixtures/hooks-worker.ts), whose hooks log
 * each call as a `HOOK {json}` line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IClientOptions } from 'mqtt';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, connectExpectingRefusal, eventually, publish, sleep, subscribe } from '../helpers/mqtt-clients.ts';
import { openRawPeer } from '../helpers/raw-ws.ts';
import { connectPacket, openPeer } from '../helpers/raw-peer.ts';
import { loadSidecarConfig } from '../../sidecar/config.ts';
import { startSidecar } from '../../sidecar/server.ts';
import { uniqueNames } from '../helpers/names.ts';

let edge: TestEdge;
beforeAll(async () => {
  edge = await startTestEdge({}, { scriptPath: process.env['HOOKS_BUNDLE'] as string });
});
afterAll(async () => {
  await edge?.dispose();
});

interface HookCall {
  hook: string;
  clientId?: string;
  [field: string]: unknown;
}

function hookCalls(clientId?: string): HookCall[] {
  return edge.logs
    .filter((line) => line.startsWith('HOOK '))
    .map((line) => JSON.parse(line.slice(5)) as HookCall)
    .filter((call) => clientId === undefined || call.clientId === clientId);
}

const unique = uniqueNames();
const admin: IClientOptions = { username: 'admin', password: 'secret' };

describe('authenticate', () => {
  it('is called with client id, username, password bytes, protocol level, address and namespace', async () => {
    const clientId = unique('auth');
    const c = await connectClient(`${edge.mqttUrl}/tenant-a`, { ...admin, clientId, protocolVersion: 5 });
    await c.end();
    const [call] = hookCalls(clientId).filter((h) => h.hook === 'authenticate');
    expect(call).toMatchObject({ clientId, username: 'admin', password: 'secret', protocolLevel: 5, namespace: 'tenant-a' });
  });

  it.each([
    { version: 4 as const, username: 'admin', password: 'wrong', code: 4 },
    { version: 5 as const, username: 'admin', password: 'wrong', code: 0x86 },
    { version: 4 as const, username: 'banned', password: 'x', code: 5 },
    { version: 5 as const, username: 'banned', password: 'x', code: 0x8a },
    { version: 4 as const, username: 'throw', password: 'x', code: 3 },
    { version: 5 as const, username: 'throw', password: 'x', code: 0x80 },
    { version: 4 as const, username: 'slow', password: 'x', code: 3 },
    { version: 5 as const, username: 'slow', password: 'x', code: 0x80 },
  ])('refuses $username at level $version with CONNACK $code', async ({ version, username, password, code }) => {
    expect(await connectExpectingRefusal(edge.mqttUrl, { protocolVersion: version, username, password, clientId: unique('refused') })).toBe(code);
  });
});

describe('hooks in order', () => {
  it('runs connect, subscribe, publish, deliver, unsubscribe and disconnect hooks with their arguments', async () => {
    const clientId = unique('flow');
    const topic = `flow/${clientId}`;
    const c = await connectClient(edge.mqttUrl, { ...admin, clientId, protocolVersion: 5 });
    await subscribe(c.client, topic, { qos: 1 });
    await publish(c.client, topic, 'hello', { qos: 1, properties: { userProperties: { k: 'v' } } });
    await c.waitForMessages(1);
    await new Promise<void>((resolve) => c.client.unsubscribe(topic, () => resolve()));
    await c.end();
    await eventually(() => hookCalls(clientId).some((h) => h.hook === 'onDisconnect'), 5000, 'onDisconnect');
    const calls = hookCalls(clientId);
    expect(calls.map((h) => h.hook)).toEqual(['authenticate', 'onConnect', 'onSubscribe', 'onPublish', 'onDeliver', 'onUnsubscribe', 'onDisconnect']);
    expect(calls[2]).toMatchObject({ filter: topic, qos: 1 });
    expect(calls[3]).toMatchObject({ topic, payload: 'hello', qos: 1, retain: false, protocolLevel: 5, userProperties: { k: 'v' } });
    expect(calls[6]).toMatchObject({ cause: 'client-disconnect' });
  });

  it('reports the cause of an abrupt close as a network error', async () => {
    const clientId = unique('abrupt');
    const c = await connectClient(edge.mqttUrl, { ...admin, clientId });
    (c.client.stream as unknown as { destroy(): void }).destroy();
    await eventually(() => hookCalls(clientId).some((h) => h.hook === 'onDisconnect'), 5000, 'onDisconnect');
    expect(hookCalls(clientId).find((h) => h.hook === 'onDisconnect')).toMatchObject({ cause: 'network-error' });
    c.client.end(true);
  });

  it('keeps one client’s packets in order even when its hooks take random time', async () => {
    const clientId = unique('jitter');
    const topic = `jitter/${clientId}`;
    const c = await connectClient(edge.mqttUrl, { ...admin, clientId });
    await subscribe(c.client, topic, { qos: 1 });
    const sent = Array.from({ length: 20 }, (_, i) => `m${i}`);
    await Promise.all(sent.map((payload, i) => publish(c.client, topic, payload, { qos: (i % 2) as 0 | 1 })));
    const got = await c.waitForMessages(20);
    expect(got.map((m) => m.payload)).toEqual(sent);
    expect(hookCalls(clientId).filter((h) => h.hook === 'onPublish').map((h) => h.payload)).toEqual(sent);
    await c.end();
  });
});

describe('onSubscribe', () => {
  it.each([
    { version: 4 as const, deny: 0x80, failed: 0x80 },
    { version: 5 as const, deny: 0x87, failed: 0x80 },
  ])('denies, lowers the QoS, and refuses on a throwing or slow hook (level $version)', async ({ version, deny, failed }) => {
    const c = await openRawPeer(edge.mqttUrl, version);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: unique('subhook'), clean: true, keepalive: 0, username: 'admin', password: Buffer.from('secret') });
    await c.waitFor('connack');
    c.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'ok/a', qos: 2 },
        { topic: 'deny/a', qos: 1 },
        { topic: 'lower/a', qos: 2 },
        { topic: 'throw/a', qos: 1 },
        { topic: 'slow/a', qos: 1 },
      ],
    });
    const suback = (await c.waitFor('suback', 5000)) as { granted: number[] };
    expect(suback.granted).toEqual([2, deny, 0, failed, failed]);
    c.ws.close();
  });
});

describe('onPublish', () => {
  it('drops a refused QoS 0 message silently and answers QoS 1 with 0x87 (5.0)', async () => {
    const clientId = unique('pubhook');
    const watcher = await connectClient(edge.mqttUrl, { ...admin, clientId: unique('watch') });
    await subscribe(watcher.client, '+/pub', { qos: 1 });
    const peer = await openRawPeer(edge.mqttUrl, 5);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0, username: 'admin', password: Buffer.from('secret') });
    await peer.waitFor('connack');
    peer.send({ cmd: 'publish', topic: 'deny/pub', payload: Buffer.from('q0'), qos: 0, retain: false, dup: false });
    peer.send({ cmd: 'publish', topic: 'deny/pub', payload: Buffer.from('q1'), qos: 1, messageId: 11, retain: false, dup: false });
    peer.send({ cmd: 'publish', topic: 'throw/pub', payload: Buffer.from('t'), qos: 1, messageId: 12, retain: false, dup: false });
    peer.send({ cmd: 'publish', topic: 'slow/pub', payload: Buffer.from('s'), qos: 1, messageId: 13, retain: false, dup: false });
    peer.send({ cmd: 'publish', topic: 'fine/pub', payload: Buffer.from('ok'), qos: 1, messageId: 14, retain: false, dup: false });
    await eventually(() => peer.packets.filter((p) => p.cmd === 'puback').length === 4, 5000, '4 PUBACK');
    const codes = peer.packets.filter((p) => p.cmd === 'puback').map((p) => [p.messageId, (p as { reasonCode?: number }).reasonCode ?? 0]);
    expect(codes).toEqual([[11, 0x87], [12, 0x80], [13, 0x80], [14, 0]]);
    const [message] = await watcher.waitForMessages(1);
    expect(message?.payload).toBe('ok');
    await sleep(200);
    expect(watcher.messages).toHaveLength(1);
    // The connection survived every refusal.
    expect(peer.ws.readyState).toBe(peer.ws.OPEN);
    peer.ws.close();
    await watcher.end();
  });

  it('at 3.1.1 acknowledges a refused QoS 1 message normally and drops it', async () => {
    const watcher = await connectClient(edge.mqttUrl, { ...admin, clientId: unique('watch') });
    await subscribe(watcher.client, 'deny/#', { qos: 1 }).catch(() => undefined);
    await subscribe(watcher.client, '+/three', { qos: 1 });
    const pub = await connectClient(edge.mqttUrl, { ...admin, clientId: unique('pub3'), protocolVersion: 4 });
    await publish(pub.client, 'deny/three', 'dropped', { qos: 1 });
    await publish(pub.client, 'fine/three', 'kept', { qos: 1 });
    const [message] = await watcher.waitForMessages(1);
    expect(message?.payload).toBe('kept');
    await Promise.all([watcher.end(), pub.end()]);
  });
});

describe('onDeliver', () => {
  it('skips the subscribers it refuses and delivers to the others', async () => {
    const topic = unique('deliver');
    const refused = await connectClient(edge.mqttUrl, { ...admin, clientId: unique('nodeliver') });
    const accepted = await connectClient(edge.mqttUrl, { ...admin, clientId: unique('yes') });
    await subscribe(refused.client, topic, { qos: 1 });
    await subscribe(accepted.client, topic, { qos: 1 });
    await publish(accepted.client, topic, 'only some', { qos: 1 });
    await accepted.waitForMessages(1);
    await sleep(300);
    expect(refused.messages).toHaveLength(0);
    await Promise.all([refused.end(), accepted.end()]);
  });
});

describe('onDisconnect causes from the sidecar', () => {
  it('reports a TCP device\'s keep-alive timeout and the sidecar shutting down', async () => {
    const bridged = await startTestEdge({ MQTT_BRIDGE_SECRET: 'cause-secret' }, { scriptPath: process.env['HOOKS_BUNDLE'] as string });
    const sidecar = await startSidecar(
      loadSidecarConfig({ MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: '0', MQTT_EDGE_URL: bridged.mqttUrl, MQTT_BRIDGE_SECRET: 'cause-secret', MQTT_LOG_LEVEL: 'error' }),
    );
    try {
      const causeOf = (clientId: string): unknown =>
        bridged.logs
          .filter((line) => line.startsWith('HOOK '))
          .map((line) => JSON.parse(line.slice(5)) as HookCall)
          .find((call) => call.hook === 'onDisconnect' && call.clientId === clientId)?.['cause'];
      const silent = await openPeer({ kind: 'tcp', port: sidecar.tcpPort }, 4);
      silent.send(connectPacket('silent-device', { keepalive: 1 }, 4));
      await silent.waitFor('connack');
      await silent.closed;
      await eventually(() => causeOf('silent-device') !== undefined, 5000, 'onDisconnect of the silent device');
      expect(causeOf('silent-device')).toBe('keepalive-timeout');
      const staying = await connectClient(`mqtt://127.0.0.1:${sidecar.tcpPort}`, { clientId: 'staying-device' });
      staying.client.on('error', () => undefined);
      await sidecar.close();
      await eventually(() => causeOf('staying-device') !== undefined, 5000, 'onDisconnect of the device at shutdown');
      expect(causeOf('staying-device')).toBe('server-shutdown');
      staying.client.end(true);
    } finally {
      await sidecar.close();
      await bridged.dispose();
    }
  });
});
