/**
 * The edge broker on the real workerd runtime, driven by MQTT.js at
 * protocol levels 3 (MQIsdp), 4 and 5.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IClientOptions } from 'mqtt';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, eventually, publish, sleep, subscribe } from '../helpers/mqtt-clients.ts';
import { openRawPeer } from '../helpers/raw-ws.ts';
import { uniqueNames } from '../helpers/names.ts';

let edge: TestEdge;
beforeAll(async () => {
  edge = await startTestEdge();
});
afterAll(async () => {
  await edge?.dispose();
});

const levels: Array<{ name: string; options: IClientOptions; version: 3 | 4 | 5 }> = [
  { name: 'MQTT 3.1', version: 3, options: { protocolId: 'MQIsdp', protocolVersion: 3 } },
  { name: 'MQTT 3.1.1', version: 4, options: { protocolVersion: 4 } },
  { name: 'MQTT 5.0', version: 5, options: { protocolVersion: 5 } },
];

const unique = uniqueNames();

describe.each(levels)('$name', ({ options, version }) => {
  it('connects, subscribes with a wildcard and receives QoS 0, 1 and 2 at the granted QoS', async () => {
    const base = unique('qos');
    const sub = await connectClient(edge.mqttUrl, { ...options, clientId: unique('sub') });
    const pub = await connectClient(edge.mqttUrl, { ...options, clientId: unique('pub') });
    const granted = await subscribe(sub.client, `${base}/+/x`, { qos: 2 });
    expect(granted[0]?.qos).toBe(2);
    await publish(pub.client, `${base}/a/x`, 'zero', { qos: 0 });
    await publish(pub.client, `${base}/b/x`, 'one', { qos: 1 });
    await publish(pub.client, `${base}/c/x`, 'two', { qos: 2 });
    await publish(pub.client, `${base}/c/y`, 'not matching', { qos: 1 });
    const got = await sub.waitForMessages(3);
    expect(got.map((m) => [m.topic, m.payload, m.packet.qos])).toEqual([
      [`${base}/a/x`, 'zero', 0],
      [`${base}/b/x`, 'one', 1],
      [`${base}/c/x`, 'two', 2],
    ]);
    await sleep(200);
    expect(sub.messages).toHaveLength(3);
    await Promise.all([sub.end(), pub.end()]);
  });

  it('downgrades to the subscription QoS and unsubscribes', async () => {
    const topic = unique('down');
    const sub = await connectClient(edge.mqttUrl, { ...options, clientId: unique('sub') });
    await subscribe(sub.client, topic, { qos: 0 });
    await publish(sub.client, topic, 'a', { qos: 2 });
    const [message] = await sub.waitForMessages(1);
    expect(message?.packet.qos).toBe(0);
    await new Promise<void>((resolve, reject) => sub.client.unsubscribe(topic, (e) => (e ? reject(e) : resolve())));
    await publish(sub.client, topic, 'b', { qos: 1 });
    await sleep(300);
    expect(sub.messages).toHaveLength(1);
    await sub.end();
  });

  it('stores, replaces and deletes retained messages', async () => {
    const topic = unique('retained');
    const pub = await connectClient(edge.mqttUrl, { ...options, clientId: unique('pub') });
    await publish(pub.client, topic, 'first', { qos: 1, retain: true });
    await publish(pub.client, topic, 'second', { qos: 1, retain: true });
    const sub = await connectClient(edge.mqttUrl, { ...options, clientId: unique('sub') });
    await subscribe(sub.client, `${topic}/#`, { qos: 1 });
    const [retained] = await sub.waitForMessages(1);
    expect(retained?.payload).toBe('second');
    expect(retained?.packet.retain).toBe(true);
    // A live message on the same subscription arrives with retain cleared [MQTT-3.3.1-9].
    await publish(pub.client, topic, 'live', { qos: 1, retain: true });
    const [, live] = await sub.waitForMessages(2);
    expect(live?.payload).toBe('live');
    expect(live?.packet.retain).toBe(false);
    // An empty retained payload deletes it.
    await publish(pub.client, topic, '', { qos: 1, retain: true });
    const late = await connectClient(edge.mqttUrl, { ...options, clientId: unique('late') });
    await subscribe(late.client, topic, { qos: 1 });
    await sleep(300);
    expect(late.messages).toHaveLength(0);
    await Promise.all([pub.end(), sub.end(), late.end()]);
  });

  it('publishes the will on an abrupt close but not after DISCONNECT', async () => {
    const topic = unique('will');
    const watcher = await connectClient(edge.mqttUrl, { ...options, clientId: unique('watch') });
    await subscribe(watcher.client, `${topic}/#`, { qos: 1 });
    const clean = await connectClient(edge.mqttUrl, { ...options, clientId: unique('clean'), will: { topic: `${topic}/clean`, payload: Buffer.from('never'), qos: 1, retain: false } });
    await clean.end();
    const dying = await connectClient(edge.mqttUrl, { ...options, clientId: unique('dying'), will: { topic: `${topic}/dying`, payload: Buffer.from('gone'), qos: 1, retain: false } });
    // Kill the socket without DISCONNECT.
    (dying.client.stream as unknown as { destroy(): void }).destroy();
    const [will] = await watcher.waitForMessages(1);
    expect(will?.topic).toBe(`${topic}/dying`);
    expect(will?.payload).toBe('gone');
    await sleep(300);
    expect(watcher.messages).toHaveLength(1);
    await Promise.all([watcher.end(), dying.end(true)]);
  });

  it('keeps a persistent session: offline QoS 1/2 messages are queued and delivered on reconnect', async () => {
    const topic = unique('persist');
    const clientId = unique('persistent');
    const session = { ...options, clientId, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}) };
    const first = await connectClient(edge.mqttUrl, session);
    expect(first.client.connected).toBe(true);
    await subscribe(first.client, topic, { qos: 2 });
    await first.end();
    const pub = await connectClient(edge.mqttUrl, { ...options, clientId: unique('pub') });
    await publish(pub.client, topic, 'q1', { qos: 1 });
    await publish(pub.client, topic, 'q2', { qos: 2 });
    await publish(pub.client, topic, 'q0-dropped', { qos: 0 });
    // QoS 0 has no answer: a QoS 1 PUBLISH behind it on the same connection, once acknowledged,
    // proves the QoS 0 one was handled (offline: not queued) before the subscriber comes back.
    await publish(pub.client, `${topic}-fence`, 'fence', { qos: 1 });
    const again = await connectClient(edge.mqttUrl, session);
    const got = await again.waitForMessages(2);
    expect(got.map((m) => [m.payload, m.packet.qos])).toEqual([['q1', 1], ['q2', 2]]);
    await Promise.all([again.end(), pub.end()]);
  });

  it('reports session present correctly and discards the session on clean start', async () => {
    const clientId = unique('present');
    const persistent = { ...options, clientId, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}) };
    const sessionPresent = async (opts: IClientOptions): Promise<boolean> => {
      const c = await connectClient(edge.mqttUrl, opts);
      await c.end();
      return c.connack.sessionPresent;
    };
    expect(await sessionPresent(persistent)).toBe(false);
    // 3.1 has no Session Present flag: its CONNACK's first byte is reserved, 0, even when the session is kept.
    expect(await sessionPresent(persistent)).toBe(version !== 3);
    expect(await sessionPresent({ ...options, clientId, clean: true })).toBe(false);
    expect(await sessionPresent(persistent)).toBe(false);
  });

  it('takes over an existing connection with the same client id', async () => {
    const clientId = unique('takeover');
    const old = await connectClient(edge.mqttUrl, { ...options, clientId });
    let disconnectReason: number | undefined;
    old.client.on('disconnect', (packet) => {
      disconnectReason = packet.reasonCode;
    });
    const closed = new Promise<void>((resolve) => old.client.stream.on('close', () => resolve()));
    const fresh = await connectClient(edge.mqttUrl, { ...options, clientId });
    await closed;
    if (version === 5) expect(disconnectReason).toBe(0x8e);
    expect(fresh.client.connected).toBe(true);
    await Promise.all([fresh.end(), old.end(true)]);
  });

  it('delivers once at the highest QoS for overlapping subscriptions', async () => {
    const base = unique('overlap');
    const sub = await connectClient(edge.mqttUrl, { ...options, clientId: unique('sub') });
    await subscribe(sub.client, `${base}/#`, { qos: 0 });
    await subscribe(sub.client, `${base}/+`, { qos: 2 });
    await publish(sub.client, `${base}/t`, 'once', { qos: 2 });
    const [message] = await sub.waitForMessages(1);
    expect(message?.packet.qos).toBe(2);
    await sleep(300);
    expect(sub.messages).toHaveLength(1);
    await sub.end();
  });
});

describe('retained messages and wildcards', () => {
  it('finds retained messages for + and # filters, including the parent level of #', async () => {
    const base = unique('rw');
    const pub = await connectClient(edge.mqttUrl, { clientId: unique('pub') });
    for (const topic of [base, `${base}/1/t`, `${base}/2/t`, `${base}/2/x`, `${base}0/t`]) await publish(pub.client, topic, topic, { qos: 1, retain: true });
    const count = async (filter: string): Promise<string[]> => {
      const c = await connectClient(edge.mqttUrl, { clientId: unique('sub') });
      await subscribe(c.client, filter, { qos: 1 });
      await sleep(300);
      await c.end();
      return c.messages.map((m) => m.topic).sort();
    };
    expect(await count(`${base}/+/t`)).toEqual([`${base}/1/t`, `${base}/2/t`]);
    expect(await count(`${base}/#`)).toEqual([base, `${base}/1/t`, `${base}/2/t`, `${base}/2/x`].sort());
    expect(await count(`${base}/2/#`)).toEqual([`${base}/2/t`, `${base}/2/x`]);
    await pub.end();
  });
});

describe('durability', () => {
  it('keeps sessions, queued messages and retained messages across a full restart of the runtime', async () => {
    const topic = unique('restart');
    const clientId = unique('survivor');
    const first = await connectClient(edge.mqttUrl, { clientId, clean: false });
    await subscribe(first.client, topic, { qos: 1 });
    await first.end();
    const pub = await connectClient(edge.mqttUrl, { clientId: unique('pub') });
    await publish(pub.client, topic, 'queued before restart', { qos: 1 });
    await publish(pub.client, `${topic}/retained`, 'kept', { qos: 1, retain: true });
    await pub.end();
    await edge.restart();
    const again = await connectClient(edge.mqttUrl, { clientId, clean: false });
    const [queued] = await again.waitForMessages(1);
    expect(queued?.payload).toBe('queued before restart');
    await subscribe(again.client, `${topic}/retained`, { qos: 1 });
    const [, retained] = await again.waitForMessages(2);
    expect(retained?.payload).toBe('kept');
    await again.end();
  });

  it('publishes the will of a client that was connected when the runtime stopped', async () => {
    const topic = unique('crash-will');
    const watcherId = unique('watcher');
    const watcher = await connectClient(edge.mqttUrl, { clientId: watcherId, clean: false });
    await subscribe(watcher.client, topic, { qos: 1 });
    await watcher.end();
    const doomed = await connectClient(edge.mqttUrl, { clientId: unique('doomed'), will: { topic, payload: Buffer.from('lost'), qos: 1, retain: false } });
    doomed.client.on('error', () => undefined);
    await edge.restart();
    doomed.client.end(true);
    const back = await connectClient(edge.mqttUrl, { clientId: watcherId, clean: false });
    const [will] = await back.waitForMessages(1);
    expect(will?.payload).toBe('lost');
    await back.end();
  });
});

/** A CONNECT by hand with any protocol name and level byte (mqtt-packet writes only the levels it knows): clean, keep-alive 60. */
function connectBytes(name: 'MQTT' | 'MQIsdp', level: number, clientId: string): Buffer {
  const string = (text: string): Buffer => Buffer.concat([Buffer.from([0, Buffer.byteLength(text)]), Buffer.from(text)]);
  const body = Buffer.concat([string(name), Buffer.from([level, 0x02, 0, 60]), string(clientId)]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

describe('protocol rules', () => {
  it.each([
    ['6', 6],
    ['0x85 (the bridge bit on 5.0)', 0x85],
    ['0x44 (0x04 | 0x40)', 0x44],
  ] as const)('answers an unsupported protocol level %s with CONNACK 0x01 and closes', async (_name, level) => {
    const peer = await openRawPeer(edge.mqttUrl);
    peer.sendBytes(connectBytes('MQTT', level, 'x'));
    const closed = await peer.closed;
    expect(closed.code).toBeGreaterThanOrEqual(1000);
    const connack = peer.packets.find((p) => p.cmd === 'connack') as { returnCode?: number } | undefined;
    expect(connack?.returnCode).toBe(1);
  });

  it.each([
    ['MQTT', '0x84', 0x84],
    ['MQIsdp', '0x83', 0x83],
  ] as const)('accepts a mosquitto bridge (%s, protocol level %s, try_private): CONNACK 0, and it is not sent back what it publishes', async (name, _hex, level) => {
    const base = unique('bridge-bit');
    const peer = await openRawPeer(edge.mqttUrl, level === 0x83 ? 3 : 4);
    peer.sendBytes(connectBytes(name, level, unique('bridge')));
    expect(await peer.waitFor('connack')).toMatchObject({ returnCode: 0 });
    peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/#`, qos: 1 }] });
    await peer.waitFor('suback');
    peer.send({ cmd: 'publish', topic: `${base}/echo`, payload: Buffer.from('mine'), qos: 1, messageId: 2, retain: false, dup: false });
    await peer.waitFor('puback');
    // A fence on the same path: another client's message comes after the echo there would have been.
    const other = await connectClient(edge.mqttUrl, { clientId: unique('other') });
    await publish(other.client, `${base}/fence`, 'theirs', { qos: 1 });
    await eventually(() => peer.packets.some((p) => p.cmd === 'publish' && p.topic === `${base}/fence`), 10_000, 'the fence');
    expect(peer.packets.filter((p) => p.cmd === 'publish').map((p) => (p as { topic: string }).topic)).toEqual([`${base}/fence`]);
    await other.end();
    peer.ws.close();
  });

  it('refuses an empty client id without clean session (0x02 / 0x85)', async () => {
    // MQTT.js will not send this CONNECT, so a raw peer does.
    const cases = [
      { level: 4, field: 'returnCode', code: 2 },
      { level: 5, field: 'reasonCode', code: 0x85 },
    ] as const;
    for (const { level, field, code } of cases) {
      const peer = await openRawPeer(edge.mqttUrl, level);
      // Neither MQTT.js nor mqtt-packet will encode this CONNECT: flags 0 (no clean session), empty client id.
      const properties = level === 5 ? [0] : [];
      const body = [0, 4, 0x4d, 0x51, 0x54, 0x54, level, 0x00, 0, 0, ...properties, 0, 0];
      peer.sendBytes(Buffer.from([0x10, body.length, ...body]));
      const connack = (await peer.waitFor('connack')) as unknown as Record<string, number>;
      expect(connack[field]).toBe(code);
      await peer.closing;
    }
  });

  it('assigns a client id to an empty one with clean start (5.0 Assigned Client Identifier)', async () => {
    const c = await connectClient(edge.mqttUrl, { protocolVersion: 5, clientId: '', clean: true });
    expect(c.connack.properties?.assignedClientIdentifier).toMatch(/^auto-/);
    await c.end();
  });

  it('does not match $-topics with a leading wildcard', async () => {
    // Its own namespace, so '#' sees no retained messages of other tests.
    const sub = await connectClient(`${edge.mqttUrl}/dollar-${process.pid}`, { clientId: unique('dollar') });
    await subscribe(sub.client, '#', { qos: 0 });
    await subscribe(sub.client, `$app/${process.pid}/+`, { qos: 0 });
    await publish(sub.client, `$app/${process.pid}/x`, 'dollar', { qos: 1 });
    const [message] = await sub.waitForMessages(1);
    expect(message?.topic).toBe(`$app/${process.pid}/x`);
    await sleep(300);
    expect(sub.messages.filter((m) => m.topic.startsWith('$'))).toHaveLength(1);
    await sub.end();
  });

  it('treats a second CONNECT as a protocol error and closes', async () => {
    const peer = await openRawPeer(edge.mqttUrl, 5);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: unique('twice'), clean: true, keepalive: 0 });
    await peer.waitFor('connack');
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: unique('twice'), clean: true, keepalive: 0 });
    const disconnect = (await peer.waitFor('disconnect')) as { reasonCode?: number };
    expect(disconnect.reasonCode).toBe(0x82);
    await peer.closed;
  });

  it('closes a connection that sends no CONNECT in time', async () => {
    const quick = await startTestEdge({ MQTT_CONNECT_TIMEOUT_MS: '500' });
    try {
      const peer = await openRawPeer(quick.mqttUrl);
      const started = Date.now();
      await peer.closing;
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await quick.dispose();
    }
  });

  it('enforces keep-alive at 1.5 times the client value (5.0 DISCONNECT 0x8D)', async () => {
    const peer = await openRawPeer(edge.mqttUrl, 5);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: unique('idle'), clean: true, keepalive: 1 });
    await peer.waitFor('connack');
    const started = Date.now();
    const disconnect = (await peer.waitFor('disconnect', 6000)) as { reasonCode?: number };
    expect(disconnect.reasonCode).toBe(0x8d);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    await peer.closed;
  });

  it('answers PINGREQ and keeps a pinging client connected', async () => {
    const peer = await openRawPeer(edge.mqttUrl, 4);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: unique('pinger'), clean: true, keepalive: 1 });
    await peer.waitFor('connack');
    for (let i = 0; i < 4; i++) {
      await sleep(600);
      peer.send({ cmd: 'pingreq' });
    }
    await eventually(() => peer.packets.filter((p) => p.cmd === 'pingresp').length === 4, 3000, '4 PINGRESP');
    expect(peer.ws.readyState).toBe(peer.ws.OPEN);
    peer.ws.close();
  });

  it('closes only the client that sent a malformed packet; others keep receiving', async () => {
    const topic = unique('survivor');
    const good = await connectClient(edge.mqttUrl, { clientId: unique('good') });
    await subscribe(good.client, topic, { qos: 1 });
    const bad = await openRawPeer(edge.mqttUrl, 5);
    bad.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: unique('bad'), clean: true, keepalive: 0 });
    await bad.waitFor('connack');
    // PUBLISH with QoS bits 11 is malformed [MQTT-3.3.1-4].
    bad.sendBytes(Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]));
    const disconnect = (await bad.waitFor('disconnect')) as { reasonCode?: number };
    expect(disconnect.reasonCode).toBe(0x81);
    await bad.closed;
    await publish(good.client, topic, 'still here', { qos: 1 });
    const [message] = await good.waitForMessages(1);
    expect(message?.payload).toBe('still here');
    await good.end();
  });

  it('parses packets split over frames and several packets in one frame', async () => {
    const topic = unique('frames');
    const sub = await connectClient(edge.mqttUrl, { clientId: unique('sub') });
    await subscribe(sub.client, topic, { qos: 0 });
    const peer = await openRawPeer(edge.mqttUrl, 4);
    const mqttPacket = (await import('mqtt-packet')).default;
    const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: unique('split'), clean: true, keepalive: 0 });
    const publishes = [1, 2, 3].map((n) => mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(`m${n}`), qos: 0, retain: false, dup: false }));
    const stream = Buffer.concat([connect, ...publishes]);
    // One byte per frame for the CONNECT and first PUBLISH, the rest in one frame.
    const cut = connect.length + (publishes[0]?.length ?? 0);
    for (let i = 0; i < cut; i++) peer.sendBytes(stream.subarray(i, i + 1));
    peer.sendBytes(stream.subarray(cut));
    const got = await sub.waitForMessages(3);
    expect(got.map((m) => m.payload)).toEqual(['m1', 'm2', 'm3']);
    peer.ws.close();
    await sub.end();
  });
});

describe('QoS state machines', () => {
  it('routes an inbound QoS 2 message once even when the PUBLISH is resent before PUBREL', async () => {
    const topic = unique('exactly-once');
    const sub = await connectClient(edge.mqttUrl, { clientId: unique('sub') });
    await subscribe(sub.client, topic, { qos: 2 });
    const peer = await openRawPeer(edge.mqttUrl, 4);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: unique('qos2'), clean: true, keepalive: 0 });
    await peer.waitFor('connack');
    const packet = { cmd: 'publish', topic, payload: Buffer.from('once'), qos: 2, messageId: 5, retain: false, dup: false } as const;
    peer.send(packet);
    peer.send({ ...packet, dup: true });
    await eventually(() => peer.packets.filter((p) => p.cmd === 'pubrec').length === 2, 5000, 'two PUBREC');
    peer.send({ cmd: 'pubrel', messageId: 5 });
    await peer.waitFor('pubcomp');
    await sub.waitForMessages(1);
    await sleep(300);
    expect(sub.messages).toHaveLength(1);
    peer.ws.close();
    await sub.end();
  });

  it('resends an unacknowledged QoS 1 message with DUP and the same packet id on reconnect', async () => {
    const topic = unique('dup');
    const clientId = unique('slow-acker');
    const connect = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: false, keepalive: 0 } as const;
    const first = await openRawPeer(edge.mqttUrl, 4);
    first.send(connect);
    await first.waitFor('connack');
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    await first.waitFor('suback');
    const pub = await connectClient(edge.mqttUrl, { clientId: unique('pub') });
    await publish(pub.client, topic, 'needs ack', { qos: 1 });
    const original = (await first.waitFor('publish')) as { messageId?: number; dup?: boolean };
    expect(original.dup).toBe(false);
    first.ws.terminate();
    const second = await openRawPeer(edge.mqttUrl, 4);
    second.send(connect);
    const connack = (await second.waitFor('connack')) as { sessionPresent?: boolean };
    expect(connack.sessionPresent).toBe(true);
    const resent = (await second.waitFor('publish')) as { messageId?: number; dup?: boolean; payload?: Buffer };
    expect(resent.dup).toBe(true);
    expect(resent.messageId).toBe(original.messageId);
    expect(resent.payload?.toString()).toBe('needs ack');
    second.send({ cmd: 'puback', messageId: resent.messageId as number });
    second.send({ cmd: 'disconnect' });
    await pub.end();
  });

  it('5.0 DISCONNECT with reason 0x04 publishes the will', async () => {
    const topic = unique('will-04');
    const watcher = await connectClient(edge.mqttUrl, { clientId: unique('watch') });
    await subscribe(watcher.client, topic, { qos: 1 });
    const leaver = await connectClient(edge.mqttUrl, { protocolVersion: 5, clientId: unique('leaver'), will: { topic, payload: Buffer.from('bye'), qos: 1, retain: false } });
    await new Promise<void>((resolve) => leaver.client.end(false, { reasonCode: 0x04 }, () => resolve()));
    const [will] = await watcher.waitForMessages(1);
    expect(will?.payload).toBe('bye');
    await watcher.end();
  });
});

describe('worker routing', () => {
  it('answers /healthz and 404 for other plain requests', async () => {
    expect((await fetch(new URL('/healthz', edge.url))).status).toBe(200);
    expect((await fetch(new URL('/nope', edge.url))).status).toBe(404);
    expect((await fetch(new URL('/mqtt', edge.url))).status).toBe(404);
  });

  it('echoes the mqtt subprotocol, accepts none, refuses others', async () => {
    const withMqtt = await openRawPeer(edge.mqttUrl, 4, 'mqtt');
    expect(withMqtt.ws.protocol).toBe('mqtt');
    withMqtt.ws.close();
    const withV31 = await openRawPeer(edge.mqttUrl, 3, 'mqttv3.1');
    expect(withV31.ws.protocol).toBe('mqttv3.1');
    withV31.ws.close();
    const without = await openRawPeer(edge.mqttUrl, 4, []);
    expect(without.ws.protocol).toBe('');
    without.ws.close();
    await expect(openRawPeer(edge.mqttUrl, 4, 'chat')).rejects.toThrow(/400/);
    await expect(openRawPeer(edge.url.href.replace('http', 'ws') + 'mqtt/bad%20name', 4)).rejects.toThrow(/400/);
  });

  it('serves MQTT on / and keeps namespaces apart', async () => {
    const topic = unique('ns');
    const root = await connectClient(edge.url.href.replace('http', 'ws'), { clientId: unique('root') });
    const other = await connectClient(`${edge.mqttUrl}/other`, { clientId: unique('other') });
    await subscribe(root.client, topic, { qos: 1 });
    await subscribe(other.client, topic, { qos: 1 });
    await publish(other.client, topic, 'only other', { qos: 1 });
    await other.waitForMessages(1);
    await sleep(300);
    expect(root.messages).toHaveLength(0);
    await Promise.all([root.end(), other.end()]);
  });

  it('closes the connection on a text frame', async () => {
    const peer = await openRawPeer(edge.mqttUrl);
    peer.ws.send('hello');
    const closed = await peer.closed;
    expect(closed.code).toBe(1003);
  });
});
